// Standard Webhooks, as Jeton signs its deliveries (docs/api/webhooks.md): the signature is
// `v1,` and base64 of HMAC-SHA256, keyed with the base64-decoded part of the endpoint's secret
// after `whsec_`, over `<webhook-id>.<webhook-timestamp>.<body>`. Several signatures, separated
// by spaces, come while a rotated secret's grace period lasts: one that matches is enough.
import { createHmac, timingSafeEqual } from "node:crypto";

const PREFIX = "whsec_";
/** How far the `webhook-timestamp` may be from now, either way: replays of old messages fail. */
export const WEBHOOK_TOLERANCE_S = 5 * 60;

export class WebhookVerificationError extends Error {
  constructor(message) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

function keyOf(secret) {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new TypeError("a webhook secret is the endpoint's `whsec_...` string");
  }
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, "base64");
}

function header(headers, name) {
  if (typeof headers?.get === "function") return headers.get(name) ?? undefined; // fetch Headers
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(" ") : v;
  }
  return undefined;
}

const text = (body) => (typeof body === "string" ? body : Buffer.from(body).toString("utf8"));

export class Webhook {
  /**
   * @param secret the endpoint's secret (`whsec_...`), or several (the old and the new one,
   *   while a rotation's grace period lasts)
   */
  constructor(secret, { toleranceS = WEBHOOK_TOLERANCE_S } = {}) {
    this.keys = (Array.isArray(secret) ? secret : [secret]).map(keyOf);
    this.toleranceS = toleranceS;
  }

  /** The `webhook-signature` value of a message: for a host app's own tests. */
  sign(msgId, timestamp, body) {
    const seconds = timestamp instanceof Date ? Math.floor(timestamp.getTime() / 1000) : timestamp;
    const signed = `${msgId}.${seconds}.${text(body)}`;
    return this.keys.map((k) => `v1,${createHmac("sha256", k).update(signed).digest("base64")}`)
      .join(" ");
  }

  /**
   * The message (`{type, timestamp, data}`) if the headers prove Jeton sent this very body;
   * otherwise throws WebhookVerificationError. Pass the body as received (string or bytes),
   * before any JSON parsing: a re-serialized body does not verify.
   */
  verify(body, headers, { now = new Date() } = {}) {
    const msgId = header(headers, "webhook-id");
    const timestamp = header(headers, "webhook-timestamp");
    const signatures = header(headers, "webhook-signature");
    if (!msgId || !timestamp || !signatures) {
      throw new WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature");
    }
    if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError("invalid webhook-timestamp");
    const ageS = Math.floor(now.getTime() / 1000) - Number(timestamp);
    if (ageS > this.toleranceS) throw new WebhookVerificationError("message too old");
    if (ageS < -this.toleranceS) throw new WebhookVerificationError("message timestamp too new");
    const payload = text(body);
    const signed = `${msgId}.${timestamp}.${payload}`;
    const expected = this.keys.map((k) => createHmac("sha256", k).update(signed).digest());
    for (const candidate of signatures.split(" ")) {
      const [version, value] = candidate.split(",", 2);
      if (version !== "v1" || !value) continue;
      const given = Buffer.from(value, "base64");
      if (expected.some((e) => e.length === given.length && timingSafeEqual(e, given))) {
        return JSON.parse(payload);
      }
    }
    throw new WebhookVerificationError("no matching signature");
  }
}

/** `new Webhook(secret, options).verify(body, headers, options)` in one call. */
export function verifyWebhook(secret, body, headers, options = {}) {
  return new Webhook(secret, options).verify(body, headers, options);
}
