// A sweep over the rest of the methods, each against the real server, as a host app would call
// them: funding, access, charging, protection, webhooks, reads, receipts, test clocks, post-pay
// bills, sub-leased areas and gamification.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Conflict, IdempotencyConflict, NotFound, WalletFrozen } from "../src/index.js";
import { client, fresh } from "./live.js";

test("setup and reads: the community, assets, accounts, members, keys", async () => {
  const demo = client();
  assert.equal((await demo.info()).id, "demo");
  assert.ok((await demo.assets()).some((a) => a.code === "CREDIT"));
  const account = fresh("acct");
  assert.equal((await demo.createAccount(account)).name, account);
  assert.equal((await demo.accountBalance(account)).posted, 0);
  const member = fresh("ida");
  await demo.createMember(member, { email: `${member}@example.org` });
  assert.equal((await demo.getMember(member)).email, `${member}@example.org`);
  const found = await demo.listMembers({ search: member, limit: 5 });
  assert.deepEqual(found.data.map((m) => m.id), [member]);
  assert.equal((await demo.setCreditLine(member, -20)).available, 20);
  const key = await demo.createApiKey(fresh("reader"), ["members:read"]);
  assert.match(key.token, /^jtk_/);
  assert.ok((await demo.listApiKeys({ limit: 500 })).data.some((k) => k.id === key.id));
  assert.ok((await demo.revokeApiKey(key.id)).revoked_at);
});

test("credits: spend, transfer, batch, hold and void, metered use, reward", async () => {
  const demo = client();
  const [ann, bob] = [fresh("ann"), fresh("bob")];
  for (const m of [ann, bob]) await demo.createMember(m);
  await demo.grant(ann, 200, { idempotencyKey: `g-${ann}` });
  const spent = await demo.spend(ann, 5, { idempotencyKey: `s-${ann}`, memo: "a sweep" });
  assert.equal(spent.balance_after, 195);
  assert.equal((await demo.getTransfer(spent.id)).amount, 5);
  await demo.transfer(ann, bob, 10, { idempotencyKey: `t-${ann}` });
  assert.equal((await demo.balance(bob)).available, 10);
  const batch = await demo.spendBatch([
    { member: ann, amount: 1, idempotencyKey: `b1-${ann}` },
    { member: bob, amount: 1000, idempotencyKey: `b2-${ann}` },
  ]);
  assert.deepEqual(batch.map((i) => i.status), ["ok", "insufficient_credits"]);
  const hold = await demo.hold(ann, 30, { idempotencyKey: `h-${ann}` });
  assert.equal((await demo.getHold(hold.id)).status, "active");
  assert.equal((await demo.void(hold.id, { idempotencyKey: `v-${ann}` })).voided, 30);
  const session = await demo.startMetered(ann, "video.minute", 3, { idempotencyKey: `m-${ann}` });
  assert.equal(session.held, 60);
  const used = await demo.finishMetered(session.hold_id, 2, { idempotencyKey: `mf-${ann}` });
  assert.deepEqual([used.captured, used.released], [40, 20]);
  const rewarded = await demo.reward(ann, "poll.completed", { idempotencyKey: `r-${ann}` });
  assert.equal(rewarded.status, "ok");
  assert.equal(rewarded.balance_after, 184 - 40 + rewarded.credits);
});

test("catalog and checks", async () => {
  const demo = client();
  const member = fresh("cat");
  await demo.createMember(member);
  const catalog = await demo.catalog();
  const sticker = catalog.services.find((s) => s.code === "mall.sticker_pack");
  assert.equal(sticker.credits, 30);
  const mine = await demo.memberCatalog(member);
  assert.equal(mine.balance, 0);
  const checked = await demo.check(member, "mall.sticker_pack");
  assert.deepEqual([checked.allowed, checked.status], [false, "insufficient_credits"]);
  await demo.loadCatalog('[services."x.y"]\nname = "X"\ncredits = 1\n', "toml", { dryRun: true });
  assert.equal((await demo.catalog()).version, catalog.version); // a dry run changes nothing
});

test("funding: packs, purchases paid offline, refunds, plans, coupons, settings", async () => {
  const demo = client();
  const member = fresh("fin");
  await demo.createMember(member);
  const packId = fresh("pack");
  const pack = await demo.createPack("Ten", { packId, credits: 10, priceMinor: 100, classes: [["gold", 7]] });
  assert.equal(pack.id, packId);
  assert.ok((await demo.listPacks(member)).some((p) => p.id === packId));
  assert.equal((await demo.setPackActive(packId, false)).active, false);
  await demo.setPackActive(packId, true);
  const checkout = await demo.buyPack(member, packId, { idempotencyKey: `buy-${member}`, provider: "offline" });
  const paid = await demo.recordOfflinePayment(checkout.purchase_id, { reference: "cheque 12" });
  assert.equal(paid.status, "completed");
  assert.equal((await demo.balance(member)).available, 10);
  assert.equal((await demo.listPurchases(member)).data.length, 1);
  const signed = await demo.purchaseReceipt(paid.id);
  assert.ok((await demo.receiptKeys()).keys.some((k) => k.id === signed.key_id));
  const refund = await demo.refundPurchase(paid.id, { idempotencyKey: `rf-${member}`, reason: "sweep" });
  assert.equal(refund.credits_taken, 10);
  assert.equal((await demo.balance(member)).available, 0);
  const plan = await demo.createPlan("Weekly", { cycle: "weekly", credits: 5, priceMinor: 100, planId: fresh("plan") });
  assert.ok((await demo.listPlans()).some((p) => p.id === plan.id));
  const code = fresh("CODE").toUpperCase();
  await demo.createCoupon(code, { credits: 3 });
  assert.equal((await demo.getCoupon(code)).code, code);
  await demo.redeemCoupon(member, code, { idempotencyKey: `c-${member}` });
  assert.equal((await demo.balance(member)).available, 3);
  const bonus = await demo.setSignupBonus(0);
  assert.deepEqual(await demo.getSignupBonus(), bonus);
  const limits = await demo.setTransferLimits({ perDay: 500, feeFixed: 0 });
  assert.deepEqual([limits.per_day, limits.fee_fixed], [500, 0]);
  assert.deepEqual(await demo.getTransferLimits(), limits);
  assert.equal(await demo.getAutoRecharge(member), null);
  await demo.grantClass(member, "gold");
  await demo.grantKey(member, "collectors");
  const holdings = await demo.memberHoldings(member);
  assert.deepEqual(holdings.classes.map((c) => c.name).sort(), ["gold"]);
  assert.deepEqual(holdings.keys.map((k) => k.name), ["collectors"]);
});

test("protection: a frozen wallet declines with WalletFrozen", async () => {
  const demo = client();
  const member = fresh("ice");
  await demo.createMember(member);
  await demo.grant(member, 50, { idempotencyKey: `g-${member}` });
  await demo.freezeWallet(member, { reason: "chargeback", actor: "support-1" });
  assert.ok((await demo.getWalletFreeze(member)).frozen);
  const refused = await demo.spend(member, 1, { idempotencyKey: `s-${member}` }).catch((e) => e);
  assert.ok(refused instanceof WalletFrozen);
  await demo.unfreezeWallet(member, { reason: "resolved", actor: "support-1" });
  assert.equal((await demo.spend(member, 1, { idempotencyKey: `s-${member}` })).balance_after, 49);
  await demo.setSpendingSettings({ newMemberDays: 3 });
  assert.equal((await demo.spendingLimits()).new_member_days, 3);
});

test("webhooks, events and alerts", async () => {
  const demo = client();
  const member = fresh("evt");
  await demo.createMember(member);
  assert.equal(await demo.lowBalanceAlert(member), null);
  const alert = await demo.setLowBalanceThreshold(member, 10);
  assert.equal(alert.threshold, 10);
  assert.deepEqual(await demo.lowBalanceAlert(member), alert);
  assert.equal(await demo.setLowBalanceThreshold(member, null), null);
  assert.equal(await demo.lowBalanceAlert(member), null);
  const endpoint = await demo.createWebhookEndpoint("http://127.0.0.1:9/jeton", { description: "sweep" });
  assert.equal((await demo.getWebhookEndpoint(endpoint.id)).description, "sweep");
  assert.equal((await demo.updateWebhookEndpoint(endpoint.id, { enabled: false })).enabled, false);
  assert.match((await demo.rotateWebhookSecret(endpoint.id, { graceS: 0 })).secret, /^whsec_/);
  assert.ok((await demo.listWebhookEndpoints()).data.some((e) => e.id === endpoint.id));
  assert.ok((await demo.deleteWebhookEndpoint(endpoint.id)).deleted_at);
  const events = await demo.listEvents({ limit: 5 });
  assert.ok(events.data.length > 0);
  assert.equal((await demo.getEvent(events.data[0].id)).id, events.data[0].id);
  const deliveries = await demo.listWebhookDeliveries({ limit: 5 });
  assert.ok(Array.isArray(deliveries.data));
  const link = await demo.createMemberLink(member, { ttlS: 60 });
  assert.match(link.url, /\/m\//);
  assert.equal((await demo.overview()).community_id, "demo");
  const missing = await demo.getEvent("00000000-0000-7000-8000-000000000000").catch((e) => e);
  assert.ok(missing instanceof NotFound);
});

test("balances in time, signed receipts and their keys, and a live community's clock", async () => {
  const demo = client();
  const member = fresh("eve");
  await demo.createMember(member);
  const before = new Date();
  await demo.grant(member, 40, { idempotencyKey: `g-${member}` });
  const spent = await demo.spend(member, 15, { idempotencyKey: `s-${member}` });
  const now = new Date(Date.now() + 1000);
  assert.equal((await demo.balanceAt(member, before)).posted, 0);
  const at = await demo.balanceAt(member, now);
  assert.deepEqual([at.posted, at.transfer_id], [25, spent.id]);
  const history = await demo.balanceHistory(member, before, now, { interval: "hour" });
  assert.equal(history.opening, 0);
  assert.equal(history.points.at(-1).posted, 25);
  const receipt = await demo.receipt(spent.id);
  const keys = await demo.receiptKeys();
  assert.equal(keys.keys[0].id, receipt.key_id);
  const rotated = await demo.rotateReceiptKey({ idempotencyKey: `rot-${member}` });
  assert.deepEqual(await demo.rotateReceiptKey({ idempotencyKey: `rot-${member}` }), rotated);
  assert.equal(rotated.keys[1].id, receipt.key_id);
  assert.ok(rotated.keys[1].retired_at);
  assert.equal((await demo.receipt(spent.id)).key_id, rotated.keys[0].id);
  const reused = await demo.grant(member, 1, { idempotencyKey: `rot-${member}` }).catch((e) => e);
  assert.ok(reused instanceof IdempotencyConflict);
  // The demo community is live: it has no test clock to read or move.
  const live = await demo.testClock().catch((e) => e);
  assert.ok(live instanceof Conflict);
  assert.equal(live.status, "test_mode_required");
  const moved = await demo.advanceTestClock({ seconds: 60, idempotencyKey: `adv-${member}` })
    .catch((e) => e);
  assert.equal(moved.status, "test_mode_required");
});

test("post-pay bills: the credit price, a bill of what a credit line lent, its CSV and payment", async () => {
  const demo = client();
  const member = fresh("bil");
  await demo.createMember(member);
  await demo.setCreditLine(member, -50);
  const settings = await demo.setBillingSettings({ creditPriceMinor: 10 });
  assert.equal(settings.credit_price_minor, 10);
  assert.deepEqual(await demo.billingSettings(), settings);
  await demo.spend(member, 4, { idempotencyKey: `s-${member}`, service: "chat.message" });
  const bill = await demo.issueBill(member, { idempotencyKey: `b-${member}` });
  assert.deepEqual([bill.credits_due, bill.amount_minor, bill.status], [4, 40, "open"]);
  assert.deepEqual(await demo.issueBill(member, { idempotencyKey: `b-${member}` }), bill);
  assert.deepEqual((await demo.listBills(member, { status: "open" })).data, [bill]);
  assert.deepEqual(await demo.getBill(bill.id), bill);
  assert.match(await demo.billCsv(bill.id), /^chat\.message,1,1,4\r?$/m);
  const checkout = await demo.payBill(bill.id);
  assert.equal(checkout.amount_minor, 40);
  assert.equal((await demo.getBill(bill.id)).status, "open"); // until the checkout is paid
});

test("sub-leased areas: a lease, its operator's prices within bounds, its report, its end", async () => {
  const demo = client();
  const [olga, ann] = [fresh("olga"), fresh("ann")];
  for (const m of [olga, ann]) await demo.createMember(m);
  await demo.grant(ann, 50, { idempotencyKey: `g-${ann}` });
  const area = `${fresh("lib")}.`;
  const lease = await demo.createLease(area, olga, {
    shareBp: 2500, priceMin: 1, priceMax: 20, idempotencyKey: `l-${olga}`,
  });
  assert.deepEqual([lease.area, lease.operator_id, lease.active], [area, olga, true]);
  assert.deepEqual(await demo.getLease(lease.id), lease);
  assert.ok((await demo.listLeases({ activeOnly: true })).some((l) => l.id === lease.id));
  const service = await demo.setAreaService(lease.id, `${area}download`,
    { name: "Download", credits: 8 }, { actor: olga });
  assert.equal(service.credits, 8);
  const tooDear = await demo.setAreaService(lease.id, `${area}download`, { credits: 50 })
    .catch((e) => e);
  assert.equal(tooDear.httpStatus, 422);
  await demo.charge(ann, `${area}download`, 1, { idempotencyKey: `c-${ann}` });
  assert.equal((await demo.balance(olga)).posted, 2);
  const report = await demo.areaReport(lease.id);
  assert.deepEqual([report.uses, report.credits_charged, report.credits_earned], [1, 8, 2]);
  const staffed = await demo.bindLeaseStaff(lease.id, { email: "nobody@example.org" })
    .catch((e) => e);
  assert.ok(staffed instanceof NotFound); // no support account has that email
  const ended = await demo.endLease(lease.id, { reason: "closing the library" });
  assert.equal(ended.active, false);
});

test("gamification: achievements, leaderboards, awards and the rules", async () => {
  const demo = client();
  const member = fresh("gam");
  await demo.createMember(member);
  const mine = await demo.achievements(member);
  assert.deepEqual([mine.member_id, mine.points], [member, 0]);
  const board = await demo.leaderboard("points", { period: "all", limit: 5 });
  assert.deepEqual([board.metric, board.period], ["points", "all"]);
  assert.ok(board.entries.length <= 5);
  assert.ok(Array.isArray(await demo.achievementAwards({ memberId: member, limit: 5 })));
  assert.ok(Array.isArray((await demo.achievementRules()).badges));
  const unknown = await demo.leaderboard("nothing").catch((e) => e);
  assert.ok(unknown instanceof NotFound);
});
