// The errors the client throws: the same tree as Jeton's Python exceptions (jeton.core.errors),
// chosen by the problem+json `code` of the answer.
//
//   JetonError                      every error Jeton answers on purpose
//   ├── InvalidRequest              the request is malformed; nothing was written (400/422)
//   ├── NotFound                    something named does not exist (404)
//   ├── Conflict                    the request conflicts with stored state (409)
//   │   └── IdempotencyConflict     a key was reused with a different request (422)
//   └── Declined                    the ledger refuses: not enough credits, a limit (402/403)
//       ├── InsufficientCredits     available balance is below the amount required (402)
//       ├── VelocityLimitExceeded   the member spent their hour's or day's limit (403)
//       ├── WalletFrozen            staff froze the wallet (403)
//       ├── CreditLineSuspended     a bill is past due: the credit line lends nothing (402)
//       └── KeyBudgetExceeded       the API key spent its budget for the period (403)
//
// `status` is the Jeton status (the problem's `code`, e.g. "insufficient_credits"), `detail`
// says what went wrong, `extra` holds the problem's other fields (`balance`, `required`,
// `suggested_packs`, `errors`...), `problem` the whole body and `httpStatus` the HTTP status.

export class JetonError extends Error {
  constructor(detail, { status = "declined", httpStatus = null, problem = null, extra = {} } = {}) {
    super(detail);
    this.name = new.target.name;
    this.status = status;
    this.detail = detail;
    this.httpStatus = httpStatus;
    this.problem = problem;
    this.extra = extra;
  }
}

export class InvalidRequest extends JetonError {}
export class NotFound extends JetonError {}
export class Conflict extends JetonError {}
export class IdempotencyConflict extends Conflict {}
export class Declined extends JetonError {}
export class InsufficientCredits extends Declined {}
export class VelocityLimitExceeded extends Declined {}
export class WalletFrozen extends Declined {}
export class CreditLineSuspended extends Declined {}
export class KeyBudgetExceeded extends Declined {}

// The class of each status, as in Python; a status not listed (unauthenticated, scope_missing,
// rate_limited, internal_error...) is a plain JetonError. A test compares it with Python's.
export const ERROR_CLASSES = Object.freeze({
  amount_invalid: InvalidRequest,
  amount_too_large: InvalidRequest,
  id_invalid: InvalidRequest,
  metadata_too_large: InvalidRequest,
  expiry_invalid: InvalidRequest,
  split_invalid: InvalidRequest,
  catalog_invalid: InvalidRequest,
  batch_too_large: InvalidRequest,
  value_invalid: InvalidRequest,
  community_not_found: NotFound,
  asset_not_found: NotFound,
  service_not_found: NotFound,
  member_not_found: NotFound,
  account_not_found: NotFound,
  hold_not_found: NotFound,
  transfer_not_found: NotFound,
  not_found: NotFound,
  idempotency_conflict: IdempotencyConflict,
  already_exists: Conflict,
  asset_mismatch: InvalidRequest,
  same_account: InvalidRequest,
  hold_not_active: Conflict,
  hold_expired: Conflict,
  capture_exceeds_hold: InvalidRequest,
  already_reversed: Conflict,
  not_reversible: Conflict,
  conflict: Conflict,
  insufficient_credits: InsufficientCredits,
  limit_exceeded: Declined,
  velocity_limit_exceeded: VelocityLimitExceeded,
  wallet_frozen: WalletFrozen,
  credit_line_suspended: CreditLineSuspended,
  key_budget_exceeded: KeyBudgetExceeded,
  reversal_insufficient: Declined,
  forbidden: Declined,
  declined: Declined,
  request_in_flight: Conflict,
  test_mode_required: Conflict,
  clock_backwards: Conflict,
  clock_advancing: Conflict,
  request_too_large: InvalidRequest,
  method_not_allowed: InvalidRequest,
});

const PROBLEM_FIELDS = new Set(["type", "title", "status", "detail", "code", "instance"]);

/** The error a failed answer stands for, from its status and body text. */
export function errorFromProblem(httpStatus, text) {
  let problem = null;
  try {
    problem = JSON.parse(text);
  } catch {
    // not JSON: a proxy's page, say
  }
  if (problem === null || typeof problem !== "object" || typeof problem.code !== "string") {
    const status = httpStatus >= 500 ? "internal_error" : "value_invalid";
    return new JetonError(`HTTP ${httpStatus}: ${String(text).slice(0, 200)}`, { status, httpStatus });
  }
  const extra = Object.fromEntries(Object.entries(problem).filter(([k]) => !PROBLEM_FIELDS.has(k)));
  const Class = Object.hasOwn(ERROR_CLASSES, problem.code) ? ERROR_CLASSES[problem.code] : JetonError;
  return new Class(String(problem.detail ?? ""), { status: problem.code, httpStatus, problem, extra });
}
