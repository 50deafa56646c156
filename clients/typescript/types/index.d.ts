// The types of Jeton's Node client. The API's shapes come from schemas.d.ts, which
// scripts/generate-types.mjs writes from the OpenAPI document; the options of each method are
// the fields of its request body or query there, in camelCase. `tsc` checks this file against
// the generated one (npm run typecheck), so a route or field that changes breaks the build.
import type * as S from "./schemas.js";

export type * from "./schemas.js";

type Op = keyof S.Operations;
type Body<O extends Op> = NonNullable<S.Operations[O]["body"]>;
type Query<O extends Op> = S.Operations[O]["query"];
type Answer<O extends Op> = Promise<S.Operations[O]["answer"]>;
type Data<O extends Op> = Promise<S.Operations[O]["answer"] extends { data: infer D } ? D : never>;

/** snake_case to camelCase, as the client maps option names to the API's fields. */
export type Camel<K extends string> = K extends `${infer H}_${infer T}` ? `${H}${Capitalize<Camel<T>>}` : K;
/**
 * The fields of `B` as options: camelCase, without those passed positionally (`Left`), the
 * ones in `Needed` required and the rest optional.
 */
export type Options<B, Left extends PropertyKey = never, Needed extends keyof B = never> =
  { [K in Exclude<keyof B, Left | Needed> as Camel<K & string>]?: B[K] }
  & { [K in Needed as Camel<K & string>]-?: B[K] };

/** Writes that move credits or money take the key their retries share. */
export interface Keyed { idempotencyKey: string }
interface MaybeKeyed { idempotencyKey?: string }

/** A class or key with its days: "vip", ["vip", 30] or { name: "vip", days: 30 }. */
export type EntitlementInput = string | [string, number | null] | S.EntitlementBody;
/** A staff user of the host app, as Python's StaffUser (or just its id). */
export type StaffActor = string | { user_id: string; role: string };

export interface ClientOptions {
  /** Seconds each attempt may take (10). */
  timeout?: number;
  /** Retries of timeouts, connection errors, 5xx, 429 and 409 request_in_flight (3). */
  maxRetries?: number;
  /** The asset calls use when they name none ("CREDIT"). */
  asset?: string;
  /** Another fetch (a proxy's, a test's). */
  fetch?: typeof globalThis.fetch;
}

export const VERSION: string;

export class Client {
  constructor(baseUrl: string, apiKey: string, options?: ClientOptions);
  readonly baseUrl: string;
  asset: string;
  timeout: number;
  maxRetries: number;
  close(): void;

  // setup
  info(): Answer<"GET /v1/community">;
  createAsset(code: string, scale?: number, name?: string): Answer<"POST /v1/assets">;
  assets(): Data<"GET /v1/assets">;
  createAccount(name: string, options?: Options<Body<"POST /v1/accounts">, "name">): Answer<"POST /v1/accounts">;
  createMember(memberId: string, options?: Options<Body<"POST /v1/members">, "id">): Answer<"POST /v1/members">;
  getMember(memberId: string): Answer<"GET /v1/members/{member_id}">;
  listMembers(options?: Options<Query<"GET /v1/members">>): Answer<"GET /v1/members">;
  setCreditLine(memberId: string, floor: number, options?: { asset?: string }): Answer<"POST /v1/members/{member_id}/credit_line">;

  // credits
  grant(memberId: string, amount: number, options: Keyed & Options<Body<"POST /v1/grants">, "member" | "amount">): Answer<"POST /v1/grants">;
  spend(memberId: string, amount: number, options: Keyed & Options<Body<"POST /v1/spends">, "member" | "amount">): Answer<"POST /v1/spends">;
  spendBatch(items: Options<S.SpendItem, never, "member" | "amount" | "idempotency_key">[], options?: Options<Body<"POST /v1/spends/batch">, "items">): Data<"POST /v1/spends/batch">;
  transfer(fromMember: string, toMember: string, amount: number, options: Keyed & Options<Body<"POST /v1/transfers">, "from_member" | "to_member" | "amount">): Answer<"POST /v1/transfers">;
  hold(memberId: string, amount: number, options: Keyed & Options<Body<"POST /v1/holds">, "member" | "amount">): Answer<"POST /v1/holds">;
  capture(holdId: string, amount: number, options: Keyed & Options<Body<"POST /v1/holds/{hold_id}/capture">, "amount">): Answer<"POST /v1/holds/{hold_id}/capture">;
  void(holdId: string, options: Keyed & Options<Body<"POST /v1/holds/{hold_id}/void">>): Answer<"POST /v1/holds/{hold_id}/void">;
  getHold(holdId: string): Answer<"GET /v1/holds/{hold_id}">;
  reverse(transferId: string, options: Keyed & Options<Body<"POST /v1/transfers/{transfer_id}/reverse">>): Answer<"POST /v1/transfers/{transfer_id}/reverse">;

  // reads
  balance(memberId: string, options?: Options<Query<"GET /v1/members/{member_id}/balance">, "as_of">): Promise<S.Balance>;
  accountBalance(account: string, options?: Options<Query<"GET /v1/accounts/{name}/balance">>): Answer<"GET /v1/accounts/{name}/balance">;
  lots(memberId: string, options?: Options<Query<"GET /v1/members/{member_id}/lots">>): Data<"GET /v1/members/{member_id}/lots">;
  statement(memberId: string, options?: Options<Query<"GET /v1/members/{member_id}/statement">>): Answer<"GET /v1/members/{member_id}/statement">;
  getTransfer(transferId: string): Answer<"GET /v1/transfers/{transfer_id}">;
  balanceAt(memberId: string, asOf: string | Date, options?: { asset?: string }): Promise<S.BalanceAt>;
  balanceHistory(memberId: string, since: string | Date, until: string | Date, options?: Options<Query<"GET /v1/members/{member_id}/balance/history">, "from" | "to">): Answer<"GET /v1/members/{member_id}/balance/history">;

  // signed receipts
  receipt(transferId: string): Answer<"GET /v1/transfers/{transfer_id}/receipt">;
  purchaseReceipt(purchaseId: string): Answer<"GET /v1/purchases/{purchase_id}/receipt">;
  receiptKeys(): Answer<"GET /v1/receipt_keys">;
  rotateReceiptKey(options?: MaybeKeyed): Answer<"POST /v1/receipt_keys/rotate">;

  // test clocks
  testClock(): Answer<"GET /v1/test_clock">;
  advanceTestClock(options: Keyed & Options<Body<"POST /v1/test_clock/advance">, "to"> & { to?: string | Date | null }): Answer<"POST /v1/test_clock/advance">;

  // API keys
  createApiKey(name: string, scopes: S.Scope[], options?: MaybeKeyed): Answer<"POST /v1/api_keys">;
  listApiKeys(options?: Options<Query<"GET /v1/api_keys">>): Answer<"GET /v1/api_keys">;
  revokeApiKey(keyId: string): Answer<"POST /v1/api_keys/{key_id}/revoke">;

  // funding
  createPack(name: string, options: Options<Body<"POST /v1/packs">, "name" | "classes" | "keys", "credits" | "price_minor"> & { classes?: EntitlementInput[]; keys?: EntitlementInput[] }): Answer<"POST /v1/packs">;
  listPacks(memberId?: string | null, options?: { includeInactive?: boolean }): Data<"GET /v1/packs">;
  getPack(packId: string): Answer<"GET /v1/packs/{pack_id}">;
  setPackActive(packId: string, active: boolean): Answer<"POST /v1/packs/{pack_id}/activate">;
  buyPack(memberId: string, packId: string, options: Keyed & Options<Body<"POST /v1/purchases">, "member" | "pack_id">): Answer<"POST /v1/purchases">;
  recordOfflinePayment(purchaseId: string, options: Options<Body<"POST /v1/purchases/{purchase_id}/offline_payment">, never, "reference">): Answer<"POST /v1/purchases/{purchase_id}/offline_payment">;
  getPurchase(purchaseId: string): Answer<"GET /v1/purchases/{purchase_id}">;
  listPurchases(memberId?: string | null, options?: Options<Query<"GET /v1/purchases">, "member">): Answer<"GET /v1/purchases">;
  setPaymentMethod(memberId: string, options: Options<Body<"POST /v1/members/{member_id}/payment_method">, never, "provider" | "customer_id" | "payment_method_id">): Answer<"POST /v1/members/{member_id}/payment_method">;
  refundPurchase(purchaseId: string, options: Keyed & Options<Body<"POST /v1/purchases/{purchase_id}/refund">>): Answer<"POST /v1/purchases/{purchase_id}/refund">;
  refundAsCredits(purchaseId: string, options: Keyed & Options<Body<"POST /v1/purchases/{purchase_id}/refund_as_credits">>): Answer<"POST /v1/purchases/{purchase_id}/refund_as_credits">;
  refundCharge(transferId: string, options: Keyed & Options<Body<"POST /v1/transfers/{transfer_id}/refund">>): Answer<"POST /v1/transfers/{transfer_id}/refund">;
  createPlan(name: string, options: Options<Body<"POST /v1/plans">, "name", "cycle" | "credits" | "price_minor">): Answer<"POST /v1/plans">;
  listPlans(options?: { includeInactive?: boolean }): Data<"GET /v1/plans">;
  setPlanActive(planId: string, active: boolean): Answer<"POST /v1/plans/{plan_id}/activate">;
  subscribe(memberId: string, planId: string, options: Keyed & Options<Body<"POST /v1/subscriptions">, "member" | "plan_id">): Answer<"POST /v1/subscriptions">;
  cancelSubscription(subscriptionId: string, options?: Options<Body<"POST /v1/subscriptions/{subscription_id}/cancel">>): Answer<"POST /v1/subscriptions/{subscription_id}/cancel">;
  getSubscription(subscriptionId: string): Answer<"GET /v1/subscriptions/{subscription_id}">;
  listSubscriptions(memberId?: string | null): Data<"GET /v1/subscriptions">;
  setAutoRecharge(memberId: string, options: Options<Body<"POST /v1/members/{member_id}/auto_recharge">, never, "pack_id" | "threshold" | "monthly_cap">): Answer<"POST /v1/members/{member_id}/auto_recharge">;
  getAutoRecharge(memberId: string, options?: Options<Query<"GET /v1/members/{member_id}/auto_recharge">>): Answer<"GET /v1/members/{member_id}/auto_recharge">;
  setSignupBonus(amount: number, options?: Options<Body<"POST /v1/settings/signup_bonus">, "amount">): Answer<"POST /v1/settings/signup_bonus">;
  getSignupBonus(): Answer<"GET /v1/settings/signup_bonus">;
  staffGrant(memberId: string, amount: number, options: Keyed & Options<Body<"POST /v1/staff_grants">, "member" | "amount" | "actor", "reason"> & { actor: StaffActor }): Answer<"POST /v1/staff_grants">;
  staffCharge(memberId: string, amount: number, options: Keyed & Options<Body<"POST /v1/staff_charges">, "member" | "amount" | "actor", "reason"> & { actor: StaffActor }): Answer<"POST /v1/staff_charges">;
  setRoleLimit(role: string, amount: number, options?: Options<Body<"POST /v1/settings/role_limits">, "role" | "amount">): Answer<"POST /v1/settings/role_limits">;
  setTransferLimits(options?: Options<Body<"POST /v1/settings/transfer_limits">>): Answer<"POST /v1/settings/transfer_limits">;
  getTransferLimits(options?: Options<Query<"GET /v1/settings/transfer_limits">>): Answer<"GET /v1/settings/transfer_limits">;

  // protection
  freezeWallet(memberId: string, options: { reason: string; actor: StaffActor }): Answer<"POST /v1/members/{member_id}/freeze">;
  unfreezeWallet(memberId: string, options: { reason: string; actor: StaffActor }): Answer<"POST /v1/members/{member_id}/unfreeze">;
  getWalletFreeze(memberId: string): Answer<"GET /v1/members/{member_id}/freeze">;
  setVelocityLimit(options?: Options<Body<"POST /v1/settings/spending_limits">> & { actor?: string }): Answer<"POST /v1/settings/spending_limits">;
  setSpendingSettings(options?: Options<Body<"POST /v1/settings/spending">> & { actor?: string }): Answer<"POST /v1/settings/spending">;
  spendingLimits(): Answer<"GET /v1/settings/spending_limits">;
  createCoupon(code?: string | null, options?: Options<Body<"POST /v1/coupons">, "code" | "classes" | "keys"> & { classes?: EntitlementInput[]; keys?: EntitlementInput[] }): Answer<"POST /v1/coupons">;
  getCoupon(code: string): Answer<"GET /v1/coupons/{code}">;
  redeemCoupon(memberId: string, code: string, options: Keyed): Answer<"POST /v1/coupons/{code}/redeem">;
  setAffiliateProgram(program: Body<"POST /v1/affiliate_program">): Answer<"POST /v1/affiliate_program">;
  createAffiliateCodes(memberId: string, count: number, options: Keyed): Answer<"POST /v1/members/{member_id}/affiliate_codes">;
  grantClass(memberId: string, name: string, options?: Options<Body<"POST /v1/members/{member_id}/classes">, "name">): Answer<"POST /v1/members/{member_id}/classes">;
  grantKey(memberId: string, name: string, options?: Options<Body<"POST /v1/members/{member_id}/keys">, "name">): Answer<"POST /v1/members/{member_id}/keys">;
  memberHoldings(memberId: string, options?: Options<Query<"GET /v1/members/{member_id}/access">>): Answer<"GET /v1/members/{member_id}/access">;

  // post-pay bills
  billingSettings(options?: Options<Query<"GET /v1/settings/billing">>): Answer<"GET /v1/settings/billing">;
  setBillingSettings(options: Options<Body<"POST /v1/settings/billing">, never, "credit_price_minor">): Answer<"POST /v1/settings/billing">;
  issueBill(memberId: string, options: Keyed & Options<Body<"POST /v1/members/{member_id}/bills">>): Answer<"POST /v1/members/{member_id}/bills">;
  listBills(memberId?: string | null, options?: Options<Query<"GET /v1/bills">, "member">): Answer<"GET /v1/bills">;
  getBill(billId: string): Answer<"GET /v1/bills/{bill_id}">;
  billCsv(billId: string): Promise<string>;
  payBill(billId: string, options?: Options<Body<"POST /v1/bills/{bill_id}/pay">>): Answer<"POST /v1/bills/{bill_id}/pay">;

  // sub-leased areas
  createLease(area: string, operator: string, options: Keyed & Options<Body<"POST /v1/leases">, "area" | "operator" | "actor", "share_bp" | "price_min" | "price_max"> & { actor?: StaffActor }): Answer<"POST /v1/leases">;
  listLeases(options?: Options<Query<"GET /v1/leases">>): Answer<"GET /v1/leases">;
  getLease(leaseId: string): Answer<"GET /v1/leases/{lease_id}">;
  endLease(leaseId: string, options: { reason: string; actor?: StaffActor }): Answer<"POST /v1/leases/{lease_id}/end">;
  bindLeaseStaff(leaseId: string, options: { email: string; actor?: StaffActor }): Answer<"POST /v1/leases/{lease_id}/staff">;
  setAreaService(leaseId: string, code: string, entry: Omit<Body<"POST /v1/leases/{lease_id}/services/{service}">, "actor">, options?: { actor?: StaffActor }): Answer<"POST /v1/leases/{lease_id}/services/{service}">;
  areaReport(leaseId: string): Answer<"GET /v1/leases/{lease_id}/report">;

  // catalog and charging
  setCatalog(catalog: { [key: string]: unknown }, options?: Options<Body<"PUT /v1/catalog">, "catalog" | "format">): Answer<"PUT /v1/catalog">;
  loadCatalog(text: string, fmt?: "toml" | "yaml", options?: Options<Body<"PUT /v1/catalog">, "catalog" | "format">): Answer<"PUT /v1/catalog">;
  catalog(options?: Options<Query<"GET /v1/catalog">>): Answer<"GET /v1/catalog">;
  previewCatalog(catalog: string | { [key: string]: unknown }, fmt?: "toml" | "yaml", options?: Options<Body<"POST /v1/catalog/preview">, "catalog" | "format" | "asset">): Answer<"POST /v1/catalog/preview">;
  memberCatalog(memberId: string, options?: Options<Query<"GET /v1/members/{member_id}/catalog">>): Answer<"GET /v1/members/{member_id}/catalog">;
  check(memberId: string, service: string, quantity?: number, options?: Options<Body<"POST /v1/check">, "member" | "service" | "quantity" | "asset">): Answer<"POST /v1/check">;
  charge(memberId: string, service: string, quantity: number | undefined, options: Keyed & Options<Body<"POST /v1/charges">, "member" | "service" | "quantity" | "asset">): Answer<"POST /v1/charges">;
  startMetered(memberId: string, service: string, estimatedQuantity: number, options: Keyed & Options<Body<"POST /v1/metered">, "member" | "service" | "estimated_quantity" | "asset">): Answer<"POST /v1/metered">;
  finishMetered(holdId: string, actualQuantity: number, options: Keyed & Options<Body<"POST /v1/metered/{hold_id}/finish">, "actual_quantity">): Answer<"POST /v1/metered/{hold_id}/finish">;
  reward(memberId: string, reward: string, options: Keyed & Options<Body<"POST /v1/rewards">, "member" | "reward" | "asset">): Answer<"POST /v1/rewards">;

  // gamification
  achievements(memberId: string): Answer<"GET /v1/members/{member_id}/achievements">;
  leaderboard(metric: string, options?: Options<Query<"GET /v1/leaderboards/{metric}">>): Answer<"GET /v1/leaderboards/{metric}">;
  achievementAwards(options?: Options<Query<"GET /v1/achievements/awards">>): Answer<"GET /v1/achievements/awards">;
  achievementRules(): Answer<"GET /v1/achievements/rules">;

  // reports
  report(options?: { since?: string | Date; until?: string | Date; asset?: string }): Answer<"GET /v1/reports">;
  overview(options?: Options<Query<"GET /v1/reports/overview">>): Answer<"GET /v1/reports/overview">;
  reportCsv(key: string, options?: { since?: string | Date; until?: string | Date; asset?: string }): Promise<string>;

  // webhooks, events, low-balance alerts
  createWebhookEndpoint(url: string, options?: MaybeKeyed & Options<Body<"POST /v1/webhook_endpoints">, "url">): Answer<"POST /v1/webhook_endpoints">;
  listWebhookEndpoints(options?: Options<Query<"GET /v1/webhook_endpoints">>): Answer<"GET /v1/webhook_endpoints">;
  getWebhookEndpoint(endpointId: string): Answer<"GET /v1/webhook_endpoints/{endpoint_id}">;
  updateWebhookEndpoint(endpointId: string, options?: Options<Body<"POST /v1/webhook_endpoints/{endpoint_id}">>): Answer<"POST /v1/webhook_endpoints/{endpoint_id}">;
  deleteWebhookEndpoint(endpointId: string): Answer<"DELETE /v1/webhook_endpoints/{endpoint_id}">;
  rotateWebhookSecret(endpointId: string, options?: Options<Body<"POST /v1/webhook_endpoints/{endpoint_id}/rotate_secret">>): Answer<"POST /v1/webhook_endpoints/{endpoint_id}/rotate_secret">;
  listEvents(options?: Options<Query<"GET /v1/events">>): Answer<"GET /v1/events">;
  getEvent(eventId: string): Answer<"GET /v1/events/{event_id}">;
  listWebhookDeliveries(options?: Options<Query<"GET /v1/webhook_deliveries">>): Answer<"GET /v1/webhook_deliveries">;
  getWebhookDelivery(deliveryId: string): Answer<"GET /v1/webhook_deliveries/{delivery_id}">;
  redeliverWebhook(deliveryId: string): Answer<"POST /v1/webhook_deliveries/{delivery_id}/redeliver">;
  setLowBalanceThreshold(memberId: string, threshold: number | null, options?: { asset?: string }): Answer<"PUT /v1/members/{member_id}/low_balance_threshold">;
  lowBalanceAlert(memberId: string, options?: Options<Query<"GET /v1/members/{member_id}/low_balance_threshold">>): Answer<"GET /v1/members/{member_id}/low_balance_threshold">;
  setLowBalanceLevels(memberId: string, levels: Record<string, number | null>, options?: { asset?: string }): Answer<"PUT /v1/members/{member_id}/low_balance_levels">;
  lowBalanceLevels(memberId: string, options?: { asset?: string }): Answer<"GET /v1/members/{member_id}/low_balance_levels">;

  // spending budgets of API keys
  setKeyBudget(keyId: string, options?: { period?: "hour" | "day" | "month"; perKey?: number | null; perMember?: number | null; asset?: string }): Answer<"POST /v1/api_keys/{key_id}/budget">;
  keyBudget(keyId: string, options?: { memberId?: string; asset?: string }): Answer<"GET /v1/api_keys/{key_id}/budget">;
  ownKeyBudget(options?: { memberId?: string; asset?: string }): Answer<"GET /v1/api_key/budget">;

  // member pages
  createMemberLink(memberId: string, options?: Options<Body<"POST /v1/members/{member_id}/portal_links">>): Answer<"POST /v1/members/{member_id}/portal_links">;
}

// ---- errors: the tree of Python's jeton.core.errors ----

export interface ErrorInit {
  status?: string;
  httpStatus?: number | null;
  problem?: S.Problem | null;
  extra?: { [key: string]: unknown };
}

export class JetonError extends Error {
  constructor(detail: string, init?: ErrorInit);
  /** The Jeton status: the problem's `code` ("insufficient_credits", "not_found"...). */
  status: string;
  detail: string;
  httpStatus: number | null;
  /** The problem+json body, when the answer had one. */
  problem: S.Problem | null;
  /** The problem's fields beyond type, title, status, detail, code and instance. */
  extra: { [key: string]: unknown };
}
export class InvalidRequest extends JetonError {}
export class NotFound extends JetonError {}
export class Conflict extends JetonError {}
export class IdempotencyConflict extends Conflict {}
export class Declined extends JetonError {}
export class InsufficientCredits extends Declined {
  extra: { balance: number; required: number; member?: string; asset?: string;
    suggested_packs?: S.PackSuggestion[]; [key: string]: unknown };
}
export class VelocityLimitExceeded extends Declined {}
export class WalletFrozen extends Declined {}
/** A bill of the member is past due: `extra.bill` names it. */
export class CreditLineSuspended extends Declined {}
export class KeyBudgetExceeded extends Declined {}
export const ERROR_CLASSES: { readonly [status: string]: typeof JetonError };
export function errorFromProblem(httpStatus: number, text: string): JetonError;

// ---- Standard Webhooks ----

export type WebhookHeaders = { get(name: string): string | null } | { [name: string]: string | string[] | undefined };
/** A delivery's body: `{type, timestamp, data}`. */
export interface WebhookMessage {
  type: string;
  timestamp: string;
  data: { [key: string]: unknown };
}
export const WEBHOOK_TOLERANCE_S: number;
export class WebhookVerificationError extends Error {}
export class Webhook {
  constructor(secret: string | string[], options?: { toleranceS?: number });
  sign(msgId: string, timestamp: number | Date, body: string | Uint8Array): string;
  verify(body: string | Uint8Array, headers: WebhookHeaders, options?: { now?: Date }): WebhookMessage;
}
export function verifyWebhook(secret: string | string[], body: string | Uint8Array, headers: WebhookHeaders, options?: { toleranceS?: number; now?: Date }): WebhookMessage;
