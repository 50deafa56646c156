// Compiled by `npm run typecheck` (never run): code a host app writes type-checks against the
// declarations, and what it must not write does not. Each `@ts-expect-error` must be an error.
import {
  Client, InsufficientCredits, JetonError, Webhook, verifyWebhook,
  type ChargeReceipt, type TransferResult, type WebhookMessage,
} from "../types/index.js";

export async function firstCharge(client: Client): Promise<number | null> {
  await client.createMember("alice", { name: "Alice", metadata: { plan: "free" } });
  const granted: TransferResult = await client.grant("alice", 100, {
    idempotencyKey: "welcome-alice", expiresAt: "2030-01-01T00:00:00Z", paid: false,
  });
  const receipt: ChargeReceipt = await client.charge("alice", "files.download", 3000, {
    idempotencyKey: "dl-1", context: { uploader: "bob" },
  });
  const lots = await client.lots("alice", { includeEmpty: true });
  const page = await client.listMembers({ limit: 10, startingAfter: "a" });
  const names: string[] = page.data.map((m) => m.id);
  const alert = await client.getAutoRecharge("alice");
  const threshold = alert === null ? 0 : alert.threshold;
  const csv: string = await client.reportCsv("consumed", { since: new Date() });
  const items = await client.spendBatch([{ member: "alice", amount: 1, idempotencyKey: "b-1" }]);
  await client.createPack("50 credits", { credits: 50, priceMinor: 500, classes: [["vip", 30]] });
  await client.staffGrant("alice", 5, { actor: "mod-1", reason: "welcome", idempotencyKey: "s-1" });
  const then = await client.balanceAt("alice", new Date(0));
  const history = await client.balanceHistory("alice", "2026-01-01T00:00:00Z", new Date(), { interval: "hour" });
  const low = await client.lowBalanceAlert("alice");
  const floor = low === null ? 0 : low.threshold;
  await client.createLease("files.lib42.", "bea", { shareBp: 1000, priceMin: 0, priceMax: 9, idempotencyKey: "l-1", actor: { user_id: "u1", role: "owner" } });
  const bills = await client.listBills("bea", { status: "open" });

  // @ts-expect-error a write needs its idempotency key
  await client.grant("alice", 1, {});
  // @ts-expect-error options are camelCase, as the method names
  await client.spend("alice", 1, { idempotencyKey: "k", reason_code: "x" });
  // @ts-expect-error a pack needs its price
  await client.createPack("x", { credits: 1 });
  // @ts-expect-error issuing a bill moves money: it needs its idempotency key
  await client.issueBill("bea", {});
  // @ts-expect-error the range is positional
  await client.balanceHistory("alice", { from: "2026-01-01T00:00:00Z" });

  try {
    await client.spend("bob", 50, { idempotencyKey: "dl-2", service: "files.download" });
  } catch (error) {
    if (error instanceof InsufficientCredits) return error.extra.required - error.extra.balance;
    if (error instanceof JetonError) return error.httpStatus;
  }
  return granted.amount + receipt.charged + lots.length + names.length + threshold
    + csv.length + items.length + then.posted + history.points.length + floor + bills.data.length;
}

export function onDelivery(secret: string, body: string, headers: Headers): string {
  const message: WebhookMessage = new Webhook(secret).verify(body, headers);
  const again = verifyWebhook([secret, secret], body, { "webhook-id": "x" }, { now: new Date() });
  return message.type + again.type;
}
