// `Client`: a Jeton community over its HTTP API, with the methods of Python's `jeton.Client`
// (snake_case names in camelCase: `create_member` is `createMember`). Positional parameters
// stay positional; Python's keyword-only parameters are one options object, in camelCase
// (`idempotency_key=` is `{ idempotencyKey }`). Answers are the API's JSON, typed by
// types/schemas.d.ts (generated from the OpenAPI document), so their fields stay snake_case.
import { randomUUID } from "node:crypto";

import { errorFromProblem } from "./errors.js";

export const VERSION = "0.1.0";
// As Python's client (jeton.core.limits): client_timeout_s_default, client_retries_max,
// client_backoff_s_max; the first backoff is up to 0.1 s, doubling each attempt.
export const TIMEOUT_S_DEFAULT = 10;
export const RETRIES_MAX_DEFAULT = 3;
const BACKOFF_S_BASE = 0.1;
const BACKOFF_S_MAX = 8;
const KEY_HEADER = "Idempotency-Key";
const REPLAYED_HEADER = "Idempotent-Replayed";

const snake = (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The options object as the API's fields: camelCase keys to snake_case, unset ones left out. */
function wire(options, leaveOut = []) {
  const out = {};
  for (const [k, v] of Object.entries(options ?? {})) {
    if (v !== undefined && !leaveOut.includes(k)) out[snake(k)] = v;
  }
  return out;
}

function keyOf(options, method) {
  const key = options?.idempotencyKey;
  if (typeof key !== "string" || key.length === 0) {
    throw new TypeError(`${method} needs an idempotencyKey: the same one on every retry`);
  }
  return key;
}

const seg = (value) => encodeURIComponent(String(value));

function day(value) {
  if (value === undefined || value === null) return undefined;
  return value instanceof Date ? value.toISOString().slice(0, 10) : String(value);
}

/** An instant as RFC 3339: a Date in UTC, a string as it is (the server refuses one without
 * its offset, as Python's client leaves a naive datetime for the server to refuse). */
function instant(value) {
  if (value === undefined || value === null) return undefined;
  return value instanceof Date ? value.toISOString() : String(value);
}

/** Classes or keys as the API takes them: "vip", ["vip", 30] or { name, days }. */
function entitlements(values) {
  if (values === undefined || values === null) return [];
  if (!Array.isArray(values)) return values; // the server refuses it, as Python's would
  return values.map((v) => {
    if (typeof v === "string") return { name: v };
    if (Array.isArray(v) && v.length === 2) return { name: v[0], days: v[1] };
    return v;
  });
}

function staff(actor, role) {
  if (actor !== null && typeof actor === "object") return { actor: actor.user_id, role: actor.role };
  return { actor, role };
}

const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));

function retryable(status, text) {
  if (status >= 500 || status === 429) return true;
  if (status !== 409) return false;
  try {
    return JSON.parse(text)?.code === "request_in_flight";
  } catch {
    return false;
  }
}

export class Client {
  /**
   * One community over HTTP, through one of its API keys.
   * @param baseUrl where Jeton serves, e.g. "http://127.0.0.1:8000"
   * @param apiKey the community's API key ("jtk_live_...")
   * @param options timeout: seconds per attempt (10); maxRetries (3); asset: the asset calls use
   *   when they name none ("CREDIT"); fetch: another fetch function (tests, proxies)
   */
  constructor(baseUrl, apiKey, { timeout = TIMEOUT_S_DEFAULT, maxRetries = RETRIES_MAX_DEFAULT,
    asset = "CREDIT", fetch = globalThis.fetch } = {}) {
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw new RangeError("maxRetries must be a whole number, not negative");
    }
    if (typeof apiKey !== "string" || apiKey.length === 0) {
      throw new TypeError("an API key is needed (`jeton keys create`)");
    }
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.asset = asset;
    this.timeout = timeout;
    this.maxRetries = maxRetries;
    this._fetch = fetch;
    this._headers = { Authorization: `Bearer ${apiKey}`, "User-Agent": `jeton-node/${VERSION}` };
    this._closed = false;
  }

  /** No further calls (fetch keeps no pool of the client's own to close). */
  close() {
    this._closed = true;
  }

  // ---- setup ----

  async info() { return this._get("/v1/community"); }

  async createAsset(code, scale = 0, name = "") {
    return this._post("/v1/assets", { code, scale, name });
  }

  async assets() { return (await this._get("/v1/assets")).data; }

  async createAccount(name, options = {}) {
    return this._post("/v1/accounts", { name, asset: options.asset ?? this.asset });
  }

  async createMember(memberId, options = {}) {
    return this._post("/v1/members", { id: memberId, ...wire(options) });
  }

  async getMember(memberId) { return this._get(`/v1/members/${seg(memberId)}`); }

  async listMembers(options = {}) { return this._get("/v1/members", wire(options)); }

  async setCreditLine(memberId, floor, options = {}) {
    return this._post(`/v1/members/${seg(memberId)}/credit_line`,
      { floor, asset: options.asset ?? this.asset });
  }

  // ---- credits ----

  async grant(memberId, amount, options) {
    return this._post("/v1/grants", this._body({ member: memberId, amount }, options),
      keyOf(options, "grant"));
  }

  async spend(memberId, amount, options) {
    return this._post("/v1/spends", this._body({ member: memberId, amount }, options),
      keyOf(options, "spend"));
  }

  /** Each item carries its own idempotencyKey; the batch gets one too, kept across retries. */
  async spendBatch(items, options = {}) {
    const body = {
      items: items.map((item) => ({ asset: this.asset, ...wire(item) })),
      ...wire(options),
    };
    return (await this._post("/v1/spends/batch", body)).data;
  }

  async transfer(fromMember, toMember, amount, options) {
    return this._post("/v1/transfers",
      this._body({ from_member: fromMember, to_member: toMember, amount }, options),
      keyOf(options, "transfer"));
  }

  async hold(memberId, amount, options) {
    return this._post("/v1/holds", this._body({ member: memberId, amount }, options),
      keyOf(options, "hold"));
  }

  async capture(holdId, amount, options) {
    return this._post(`/v1/holds/${seg(holdId)}/capture`,
      { amount, ...wire(options, ["idempotencyKey"]) }, keyOf(options, "capture"));
  }

  async void(holdId, options) {
    return this._post(`/v1/holds/${seg(holdId)}/void`, wire(options, ["idempotencyKey"]),
      keyOf(options, "void"));
  }

  async getHold(holdId) { return this._get(`/v1/holds/${seg(holdId)}`); }

  async reverse(transferId, options) {
    return this._post(`/v1/transfers/${seg(transferId)}/reverse`,
      wire(options, ["idempotencyKey"]), keyOf(options, "reverse"));
  }

  // ---- reads ----

  async balance(memberId, options = {}) {
    return this._get(`/v1/members/${seg(memberId)}/balance`, this._query(options));
  }

  /** A system or named account: `revenue`, `breakage`, `appstore`... */
  async accountBalance(account, options = {}) {
    return this._get(`/v1/accounts/${seg(account)}/balance`, this._query(options));
  }

  async lots(memberId, options = {}) {
    return (await this._get(`/v1/members/${seg(memberId)}/lots`,
      this._query({ includeEmpty: false, ...options }))).data;
  }

  async statement(memberId, options = {}) {
    return this._get(`/v1/members/${seg(memberId)}/statement`, this._query(options));
  }

  async getTransfer(transferId) { return this._get(`/v1/transfers/${seg(transferId)}`); }

  /** The member's posted balance at the instant `asOf` (a Date or RFC 3339 text). */
  async balanceAt(memberId, asOf, options = {}) {
    return this._get(`/v1/members/${seg(memberId)}/balance`,
      { ...this._query(options), as_of: instant(asOf) });
  }

  /** The posted balance at `since` and at the end of each hour or day up to `until`. */
  async balanceHistory(memberId, since, until, options = {}) {
    return this._get(`/v1/members/${seg(memberId)}/balance/history`,
      { ...this._query(options), from: instant(since), to: instant(until) });
  }

  // ---- signed receipts ----

  async receipt(transferId) { return this._get(`/v1/transfers/${seg(transferId)}/receipt`); }

  async purchaseReceipt(purchaseId) {
    return this._get(`/v1/purchases/${seg(purchaseId)}/receipt`);
  }

  async receiptKeys() { return this._get("/v1/receipt_keys"); }

  async rotateReceiptKey(options = {}) {
    return this._post("/v1/receipt_keys/rotate", {}, options.idempotencyKey);
  }

  // ---- test clocks ----

  /** A live community has none: Conflict, status `test_mode_required`. */
  async testClock() { return this._get("/v1/test_clock"); }

  /** `to` (a Date or RFC 3339 text) or `seconds`; answers when every job on the way ran. */
  async advanceTestClock(options) {
    return this._post("/v1/test_clock/advance",
      { ...wire(options, ["idempotencyKey", "to"]), to: instant(options?.to) },
      keyOf(options, "advanceTestClock"));
  }

  // ---- API keys ----

  async createApiKey(name, scopes, options = {}) {
    return this._post("/v1/api_keys", { name, scopes: [...scopes] }, options.idempotencyKey);
  }

  async listApiKeys(options = {}) { return this._get("/v1/api_keys", wire(options)); }

  async revokeApiKey(keyId) { return this._post(`/v1/api_keys/${seg(keyId)}/revoke`, {}); }

  // ---- funding: packs, purchases, refunds, plans, auto-recharge, coupons, settings ----

  async createPack(name, options) {
    return this._post("/v1/packs", {
      name, ...wire(options), asset: options.asset ?? this.asset,
      classes: entitlements(options.classes), keys: entitlements(options.keys),
      visible_to: options.visibleTo ?? [],
    });
  }

  async listPacks(memberId = null, options = {}) {
    return (await this._get("/v1/packs",
      { member: memberId, include_inactive: options.includeInactive ?? false })).data;
  }

  async getPack(packId) { return this._get(`/v1/packs/${seg(packId)}`); }

  async setPackActive(packId, active) {
    return this._post(`/v1/packs/${seg(packId)}/${active ? "activate" : "retire"}`, {});
  }

  async buyPack(memberId, packId, options) {
    return this._post("/v1/purchases",
      { member: memberId, pack_id: packId, ...wire(options, ["idempotencyKey"]) },
      keyOf(options, "buyPack"));
  }

  async recordOfflinePayment(purchaseId, options) {
    return this._post(`/v1/purchases/${seg(purchaseId)}/offline_payment`, wire(options));
  }

  async getPurchase(purchaseId) { return this._get(`/v1/purchases/${seg(purchaseId)}`); }

  async listPurchases(memberId = null, options = {}) {
    return this._get("/v1/purchases", { member: memberId, ...wire(options) });
  }

  async setPaymentMethod(memberId, options) {
    return this._post(`/v1/members/${seg(memberId)}/payment_method`, wire(options));
  }

  async refundPurchase(purchaseId, options) {
    return this._post(`/v1/purchases/${seg(purchaseId)}/refund`,
      wire(options, ["idempotencyKey"]), keyOf(options, "refundPurchase"));
  }

  async refundAsCredits(purchaseId, options) {
    return this._post(`/v1/purchases/${seg(purchaseId)}/refund_as_credits`,
      wire(options, ["idempotencyKey"]), keyOf(options, "refundAsCredits"));
  }

  async refundCharge(transferId, options) {
    return this._post(`/v1/transfers/${seg(transferId)}/refund`,
      wire(options, ["idempotencyKey"]), keyOf(options, "refundCharge"));
  }

  async createPlan(name, options) {
    return this._post("/v1/plans", { name, ...wire(options), asset: options.asset ?? this.asset });
  }

  async listPlans(options = {}) {
    return (await this._get("/v1/plans",
      { include_inactive: options.includeInactive ?? false })).data;
  }

  async setPlanActive(planId, active) {
    return this._post(`/v1/plans/${seg(planId)}/${active ? "activate" : "retire"}`, {});
  }

  async subscribe(memberId, planId, options) {
    return this._post("/v1/subscriptions",
      { member: memberId, plan_id: planId, ...wire(options, ["idempotencyKey"]) },
      keyOf(options, "subscribe"));
  }

  async cancelSubscription(subscriptionId, options = {}) {
    return this._post(`/v1/subscriptions/${seg(subscriptionId)}/cancel`, wire(options));
  }

  async getSubscription(subscriptionId) {
    return this._get(`/v1/subscriptions/${seg(subscriptionId)}`);
  }

  async listSubscriptions(memberId = null) {
    return (await this._get("/v1/subscriptions", { member: memberId })).data;
  }

  async setAutoRecharge(memberId, options) {
    return this._post(`/v1/members/${seg(memberId)}/auto_recharge`, wire(options));
  }

  /** `null` when the member never set auto-recharge. */
  async getAutoRecharge(memberId, options = {}) {
    return this._get(`/v1/members/${seg(memberId)}/auto_recharge`, this._query(options));
  }

  async setSignupBonus(amount, options = {}) {
    return this._post("/v1/settings/signup_bonus",
      { amount, ...wire(options), asset: options.asset ?? this.asset });
  }

  async getSignupBonus() { return this._get("/v1/settings/signup_bonus"); }

  /** A staff user of the host app posts credits, within their role's limit. */
  async staffGrant(memberId, amount, options) {
    const { actor, role, ...rest } = options;
    return this._post("/v1/staff_grants", {
      member: memberId, amount, ...wire(rest, ["idempotencyKey"]),
      asset: rest.asset ?? this.asset, ...staff(actor, role),
    }, keyOf(options, "staffGrant"));
  }

  async staffCharge(memberId, amount, options) {
    const { actor, role, ...rest } = options;
    return this._post("/v1/staff_charges", {
      member: memberId, amount, ...wire(rest, ["idempotencyKey"]),
      asset: rest.asset ?? this.asset, ...staff(actor, role),
    }, keyOf(options, "staffCharge"));
  }

  async setRoleLimit(role, amount, options = {}) {
    return this._post("/v1/settings/role_limits",
      { role, amount, ...wire(options), asset: options.asset ?? this.asset });
  }

  async setTransferLimits(options = {}) {
    return this._post("/v1/settings/transfer_limits",
      { ...wire(options), asset: options.asset ?? this.asset });
  }

  async getTransferLimits(options = {}) {
    return this._get("/v1/settings/transfer_limits", this._query(options));
  }

  // ---- protection: frozen wallets, velocity limits ----

  /** Stop the member's wallet (no spend, charge, transfer out or purchase), audited. */
  async freezeWallet(memberId, options) {
    return this._post(`/v1/members/${seg(memberId)}/freeze`,
      { reason: options.reason, actor: staff(options.actor).actor });
  }

  async unfreezeWallet(memberId, options) {
    return this._post(`/v1/members/${seg(memberId)}/unfreeze`,
      { reason: options.reason, actor: staff(options.actor).actor });
  }

  async getWalletFreeze(memberId) { return this._get(`/v1/members/${seg(memberId)}/freeze`); }

  /** The server records the API key as the actor; `actor` is accepted for parity. */
  async setVelocityLimit(options = {}) {
    return this._post("/v1/settings/spending_limits",
      { ...wire(options, ["actor"]), asset: options.asset ?? this.asset });
  }

  async setSpendingSettings(options = {}) {
    return this._post("/v1/settings/spending", wire(options, ["actor"]));
  }

  async spendingLimits() { return this._get("/v1/settings/spending_limits"); }

  async createCoupon(code = null, options = {}) {
    return this._post("/v1/coupons", {
      code, ...wire(options), asset: options.asset ?? this.asset,
      classes: entitlements(options.classes), keys: entitlements(options.keys),
    });
  }

  async getCoupon(code) { return this._get(`/v1/coupons/${seg(code.trim())}`); }

  async redeemCoupon(memberId, code, options) {
    return this._post(`/v1/coupons/${seg(code.trim())}/redeem`, { member: memberId },
      keyOf(options, "redeemCoupon"));
  }

  /** `program` as the API writes it (snake_case fields: `fee_per_code`, `credits`...). */
  async setAffiliateProgram(program) { return this._post("/v1/affiliate_program", program); }

  async createAffiliateCodes(memberId, count, options) {
    return this._post(`/v1/members/${seg(memberId)}/affiliate_codes`, { count },
      keyOf(options, "createAffiliateCodes"));
  }

  async grantClass(memberId, name, options = {}) {
    return this._post(`/v1/members/${seg(memberId)}/classes`, { name, ...wire(options) });
  }

  async grantKey(memberId, name, options = {}) {
    return this._post(`/v1/members/${seg(memberId)}/keys`, { name, ...wire(options) });
  }

  async memberHoldings(memberId, options = {}) {
    return this._get(`/v1/members/${seg(memberId)}/access`,
      { live_only: options.liveOnly ?? true });
  }

  // ---- post-pay bills ----

  async billingSettings(options = {}) {
    return this._get("/v1/settings/billing", this._query(options));
  }

  async setBillingSettings(options) {
    return this._post("/v1/settings/billing",
      { ...wire(options), asset: options.asset ?? this.asset });
  }

  async issueBill(memberId, options) {
    return this._post(`/v1/members/${seg(memberId)}/bills`,
      { asset: options?.asset ?? this.asset }, keyOf(options, "issueBill"));
  }

  async listBills(memberId = null, options = {}) {
    return this._get("/v1/bills", { member: memberId, ...wire(options) });
  }

  async getBill(billId) { return this._get(`/v1/bills/${seg(billId)}`); }

  /** The bill as CSV text. Not retried. */
  async billCsv(billId) {
    return this._call("GET", `/v1/bills/${seg(billId)}.csv`, { text: true, retries: 0 });
  }

  /** A checkout, or the saved card charged off-session. */
  async payBill(billId, options = {}) {
    return this._post(`/v1/bills/${seg(billId)}/pay`, wire(options));
  }

  // ---- sub-leased areas ----

  async createLease(area, operator, options) {
    return this._post("/v1/leases", {
      area, operator, ...wire(options, ["idempotencyKey", "actor"]),
      actor: staff(options?.actor ?? "owner").actor,
    }, keyOf(options, "createLease"));
  }

  async listLeases(options = {}) { return this._get("/v1/leases", wire(options)); }

  async getLease(leaseId) { return this._get(`/v1/leases/${seg(leaseId)}`); }

  async endLease(leaseId, options) {
    return this._post(`/v1/leases/${seg(leaseId)}/end`,
      { reason: options.reason, actor: staff(options.actor ?? "owner").actor });
  }

  /** Make the support account `email` the operator's dashboard account. */
  async bindLeaseStaff(leaseId, options) {
    return this._post(`/v1/leases/${seg(leaseId)}/staff`,
      { email: options.email, actor: staff(options.actor ?? "owner").actor });
  }

  /** `entry` as the API writes it (snake_case fields: `credits`, `class_credits`...). */
  async setAreaService(leaseId, code, entry, options = {}) {
    return this._post(`/v1/leases/${seg(leaseId)}/services/${seg(code)}`,
      { ...entry, actor: staff(options.actor ?? "operator").actor });
  }

  async areaReport(leaseId) { return this._get(`/v1/leases/${seg(leaseId)}/report`); }

  // ---- catalog and charging ----

  /** The catalog as data (what a catalog file holds: `{services: {...}, rewards: {...}}`). */
  async setCatalog(catalog, options = {}) {
    return this.loadCatalog(JSON.stringify(catalog, null, 1), "yaml", options);
  }

  async loadCatalog(text, fmt = "toml", options = {}) {
    return this._call("PUT", "/v1/catalog",
      { body: { catalog: text, format: fmt, dry_run: false, ...wire(options) } });
  }

  async catalog(options = {}) {
    return this._get("/v1/catalog", { include_retired: options.includeRetired ?? false });
  }

  /** Writes nothing, so it is sent without an idempotency key. `catalog` is a file's text, or
   * the catalog as data (sent as JSON text, which YAML reads). */
  async previewCatalog(catalog, fmt = "toml", options = {}) {
    const [text, format] = typeof catalog === "string"
      ? [catalog, fmt] : [JSON.stringify(catalog, null, 1), "yaml"];
    return this._call("POST", "/v1/catalog/preview", {
      body: { catalog: text, format, asset: this.asset, ...wire(options) },
    });
  }

  async memberCatalog(memberId, options = {}) {
    return this._get(`/v1/members/${seg(memberId)}/catalog`, wire(options));
  }

  /** Writes nothing, so it is sent without an idempotency key. */
  async check(memberId, service, quantity = 1, options = {}) {
    return this._call("POST", "/v1/check", {
      body: { member: memberId, service, quantity, asset: this.asset, ...wire(options) },
    });
  }

  async charge(memberId, service, quantity = 1, options) {
    return this._post("/v1/charges", {
      member: memberId, service, quantity, asset: this.asset,
      ...wire(options, ["idempotencyKey"]),
    }, keyOf(options, "charge"));
  }

  async startMetered(memberId, service, estimatedQuantity, options) {
    return this._post("/v1/metered", {
      member: memberId, service, estimated_quantity: estimatedQuantity, asset: this.asset,
      ...wire(options, ["idempotencyKey"]),
    }, keyOf(options, "startMetered"));
  }

  async finishMetered(holdId, actualQuantity, options) {
    return this._post(`/v1/metered/${seg(holdId)}/finish`,
      { actual_quantity: actualQuantity, ...wire(options, ["idempotencyKey"]) },
      keyOf(options, "finishMetered"));
  }

  async reward(memberId, reward, options) {
    return this._post("/v1/rewards", {
      member: memberId, reward, asset: this.asset, ...wire(options, ["idempotencyKey"]),
    }, keyOf(options, "reward"));
  }

  // ---- gamification ----

  async achievements(memberId) {
    return this._get(`/v1/members/${seg(memberId)}/achievements`);
  }

  /** `points`, `credits_spent` or `royalties`, over `period` (week, month or all). */
  async leaderboard(metric, options = {}) {
    return this._get(`/v1/leaderboards/${seg(metric)}`, wire(options));
  }

  async achievementAwards(options = {}) {
    return this._get("/v1/achievements/awards", wire(options));
  }

  async achievementRules() { return this._get("/v1/achievements/rules"); }

  // ---- reports ----

  async report(options = {}) {
    return this._get("/v1/reports", {
      since: day(options.since), until: day(options.until), asset: options.asset ?? this.asset,
    });
  }

  /** The business at a glance, as the dashboard's home. */
  async overview(options = {}) { return this._get("/v1/reports/overview", this._query(options)); }

  /** One table of the report as CSV text. Not retried. */
  async reportCsv(key, options = {}) {
    const query = { since: day(options.since), until: day(options.until),
      asset: options.asset ?? this.asset };
    return this._call("GET", `/v1/reports/${seg(key)}.csv`, { query, text: true, retries: 0 });
  }

  // ---- webhooks, events, low-balance alerts ----

  /** A replay of the request (same idempotencyKey) answers `secret: ""`. */
  async createWebhookEndpoint(url, options = {}) {
    return this._post("/v1/webhook_endpoints",
      { url, ...wire(options, ["idempotencyKey"]) }, options.idempotencyKey);
  }

  async listWebhookEndpoints(options = {}) {
    return this._get("/v1/webhook_endpoints",
      { ...wire(options), include_deleted: options.includeDeleted ?? false });
  }

  async getWebhookEndpoint(endpointId) {
    return this._get(`/v1/webhook_endpoints/${seg(endpointId)}`);
  }

  async updateWebhookEndpoint(endpointId, options = {}) {
    const changes = Object.fromEntries(
      Object.entries(wire(options)).filter(([, v]) => v !== null));
    return this._post(`/v1/webhook_endpoints/${seg(endpointId)}`, changes);
  }

  async deleteWebhookEndpoint(endpointId) {
    return this._call("DELETE", `/v1/webhook_endpoints/${seg(endpointId)}`);
  }

  async rotateWebhookSecret(endpointId, options = {}) {
    return this._post(`/v1/webhook_endpoints/${seg(endpointId)}/rotate_secret`, wire(options));
  }

  async listEvents(options = {}) { return this._get("/v1/events", wire(options)); }

  async getEvent(eventId) { return this._get(`/v1/events/${seg(eventId)}`); }

  async listWebhookDeliveries(options = {}) {
    return this._get("/v1/webhook_deliveries", wire(options));
  }

  async getWebhookDelivery(deliveryId) {
    return this._get(`/v1/webhook_deliveries/${seg(deliveryId)}`);
  }

  async redeliverWebhook(deliveryId) {
    return this._post(`/v1/webhook_deliveries/${seg(deliveryId)}/redeliver`, {});
  }

  /** `threshold: null` removes the alert (and answers `null`). */
  async setLowBalanceThreshold(memberId, threshold, options = {}) {
    return this._call("PUT", `/v1/members/${seg(memberId)}/low_balance_threshold`,
      { body: { threshold, asset: options.asset ?? this.asset } });
  }

  /** `null` when the member has no alert. */
  async lowBalanceAlert(memberId, options = {}) {
    return this._get(`/v1/members/${seg(memberId)}/low_balance_threshold`,
      this._query(options));
  }

  /** Levels such as `{ info: 500, warning: 100, critical: 20 }`; a level left out is removed. */
  async setLowBalanceLevels(memberId, levels, options = {}) {
    return this._call("PUT", `/v1/members/${seg(memberId)}/low_balance_levels`,
      { body: { levels, asset: options.asset ?? this.asset } });
  }

  async lowBalanceLevels(memberId, options = {}) {
    return this._get(`/v1/members/${seg(memberId)}/low_balance_levels`, this._query(options));
  }

  // ---- spending budgets of API keys ----

  /** Needs an admin key: a key cannot raise its own budget. */
  async setKeyBudget(keyId, options = {}) {
    return this._post(`/v1/api_keys/${seg(keyId)}/budget`, {
      period: options.period ?? "day", per_key: options.perKey ?? null,
      per_member: options.perMember ?? null, asset: options.asset ?? this.asset,
    });
  }

  async keyBudget(keyId, options = {}) {
    return this._get(`/v1/api_keys/${seg(keyId)}/budget`,
      { member: options.memberId, asset: options.asset ?? this.asset });
  }

  /** The budget of the key this client calls with, and what it used. */
  async ownKeyBudget(options = {}) {
    return this._get("/v1/api_key/budget",
      { member: options.memberId, asset: options.asset ?? this.asset });
  }

  // ---- member pages ----

  /** A replay answers `url: ""`: each call makes its own key, so ask for a new link. */
  async createMemberLink(memberId, options = {}) {
    return this._post(`/v1/members/${seg(memberId)}/portal_links`, wire(options));
  }

  // ---- the wire ----

  _body(fields, options) {
    return { ...fields, ...wire(options, ["idempotencyKey"]), asset: options?.asset ?? this.asset };
  }

  _query(options) { return { ...wire(options), asset: options?.asset ?? this.asset }; }

  _get(path, query = {}) { return this._call("GET", path, { query }); }

  /** A POST with its idempotency key: the caller's, or one made here, sent on every retry. */
  _post(path, body, idempotencyKey) {
    const key = idempotencyKey ?? `js-${randomUUID()}`;
    return this._call("POST", path, { body, headers: { [KEY_HEADER]: key } });
  }

  async _call(method, path, { query = {}, body, headers = {}, text = false,
    retries = this.maxRetries } = {}) {
    if (this._closed) throw new Error("this Client was closed");
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const init = { method, headers: { ...this._headers, ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    for (let attempt = 0; ; attempt += 1) {
      let response;
      let answer;
      try {
        response = await this._fetch(url, { ...init, signal: AbortSignal.timeout(this.timeout * 1000) });
        answer = await response.text();
      } catch (error) { // timeouts, refused or broken connections
        if (attempt >= retries) throw error;
        await sleep(this._delay(attempt, null));
        continue;
      }
      if (response.ok) return text ? answer : parse(answer, response);
      if (attempt < retries && retryable(response.status, answer)) {
        await sleep(this._delay(attempt, response.headers.get("retry-after")));
        continue;
      }
      throw errorFromProblem(response.status, answer);
    }
  }

  _delay(attempt, retryAfter) {
    let delay = Math.random() * BACKOFF_S_BASE * 2 ** attempt; // full jitter
    if (retryAfter !== null && /^\d+$/.test(retryAfter)) delay = Math.max(delay, Number(retryAfter));
    return Math.min(delay, BACKOFF_S_MAX);
  }
}

function parse(answer, response) {
  const result = JSON.parse(answer);
  if (response.headers.get(REPLAYED_HEADER) === "true" && result !== null
      && typeof result === "object" && "replayed" in result) {
    result.replayed = true;
  }
  return result;
}
