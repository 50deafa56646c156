// Jeton's client for Node: the community's HTTP API with the methods of Python's jeton.Client,
// its errors as classes, and the Standard Webhooks verifier for Jeton's deliveries.
export { Client, VERSION } from "./client.js";
export {
  Conflict, CreditLineSuspended, Declined, ERROR_CLASSES, IdempotencyConflict, InsufficientCredits,
  InvalidRequest, JetonError, KeyBudgetExceeded, NotFound, VelocityLimitExceeded, WalletFrozen,
  errorFromProblem,
} from "./errors.js";
export { WEBHOOK_TOLERANCE_S, Webhook, WebhookVerificationError, verifyWebhook } from "./webhooks.js";
