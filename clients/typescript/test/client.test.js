// The client against a real Jeton server, as a host app uses it: a first charge, retries that
// never double a write, declines as typed errors.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  Client, Conflict, Declined, IdempotencyConflict, InsufficientCredits, JetonError, NotFound,
} from "../src/index.js";
import { BASE_URL, client, fresh } from "./live.js";

test("a first charge takes the catalog's price from the member's wallet", async () => {
  const demo = client();
  const member = fresh("ann");
  const created = await demo.createMember(member, { name: "Ann", metadata: { from: "node" } });
  assert.equal(created.id, member);
  await demo.grant(member, 100, { idempotencyKey: `welcome-${member}`, source: "welcome" });

  const receipt = await demo.charge(member, "mall.sticker_pack", 1, { idempotencyKey: `st-${member}` });

  assert.equal(receipt.charged, 30);
  assert.equal(receipt.balance_after, 70);
  assert.equal(receipt.replayed, false);
  const balance = await demo.balance(member);
  assert.deepEqual([balance.posted, balance.pending, balance.available], [70, 0, 70]);
  const [lot] = await demo.lots(member);
  assert.deepEqual([lot.amount, lot.remaining, lot.source], [100, 70, "welcome"]);
});

test("the same idempotency key answers the first charge again and charges once", async () => {
  const demo = client();
  const member = fresh("ben");
  await demo.createMember(member);
  await demo.grant(member, 100, { idempotencyKey: `welcome-${member}` });

  const first = await demo.charge(member, "classifieds.ad", 1, { idempotencyKey: `ad-${member}` });
  const again = await demo.charge(member, "classifieds.ad", 1, { idempotencyKey: `ad-${member}` });

  assert.equal(again.id, first.id);
  assert.equal(again.charged, 10);
  assert.equal(again.replayed, true);
  assert.equal((await demo.balance(member)).available, 90);
});

test("a lost answer is retried with the same key, and the write happens once", async () => {
  const member = fresh("cy");
  await client().createMember(member);
  await client().grant(member, 100, { idempotencyKey: `welcome-${member}` });
  const keysSent = [];
  let dropped = false;
  // The first request reaches Jeton, which charges; its answer is lost on the way back.
  const flaky = async (url, init) => {
    keysSent.push(init.headers["Idempotency-Key"]);
    const response = await fetch(url, init);
    if (!dropped) {
      dropped = true;
      await response.text();
      throw new TypeError("fetch failed (the connection dropped)");
    }
    return response;
  };

  const receipt = await client({ fetch: flaky }).charge(member, "mall.sticker_pack", 1,
    { idempotencyKey: `st-${member}` });

  assert.deepEqual(keysSent, [`st-${member}`, `st-${member}`]);
  assert.equal(receipt.replayed, true);
  assert.equal((await client().balance(member)).available, 70);
});

test("a write without a key of its own keeps the one made for it across retries", async () => {
  const keysSent = [];
  let answered = 0;
  // A 503 first (Jeton restarting behind a proxy), then the real server.
  const unavailable = async (url, init) => {
    keysSent.push(init.headers["Idempotency-Key"]);
    if (answered++ === 0) {
      return new Response(JSON.stringify({ type: "/problems/unavailable", title: "Unavailable",
        status: 503, detail: "restarting", code: "unavailable" }),
      { status: 503, headers: { "Content-Type": "application/problem+json", "Retry-After": "0" } });
    }
    return fetch(url, init);
  };
  const member = fresh("dee");

  const created = await client({ fetch: unavailable }).createMember(member);

  assert.equal(created.id, member);
  assert.equal(keysSent.length, 2);
  assert.equal(keysSent[0], keysSent[1]);
  assert.match(keysSent[0], /^js-/);
});

test("a charge the member cannot afford throws InsufficientCredits and writes nothing", async () => {
  const demo = client();
  const member = fresh("eve");
  await demo.createMember(member);
  await demo.grant(member, 20, { idempotencyKey: `welcome-${member}` });

  const declined = await demo.charge(member, "mall.sticker_pack", 1, { idempotencyKey: `st-${member}` })
    .then(() => assert.fail("the charge went through"), (error) => error);

  assert.ok(declined instanceof InsufficientCredits);
  assert.ok(declined instanceof Declined);
  assert.ok(declined instanceof JetonError);
  assert.equal(declined.status, "insufficient_credits");
  assert.equal(declined.problem.code, "insufficient_credits");
  assert.equal(declined.problem.type, "/problems/insufficient-credits");
  assert.equal(declined.httpStatus, 402);
  assert.equal(declined.extra.balance, 20);
  assert.equal(declined.extra.required, 30);
  assert.ok(Array.isArray(declined.extra.suggested_packs) && declined.extra.suggested_packs.length > 0);
  assert.equal((await demo.balance(member)).available, 20);

  // A decline keeps no key: once topped up, the same key charges.
  await demo.grant(member, 10, { idempotencyKey: `top-up-${member}` });
  const receipt = await demo.charge(member, "mall.sticker_pack", 1, { idempotencyKey: `st-${member}` });
  assert.equal(receipt.balance_after, 0);
});

test("errors come as the classes of Python's tree, by their code", async () => {
  const demo = client();
  const missing = await demo.getMember(fresh("nobody")).catch((e) => e);
  assert.ok(missing instanceof NotFound);
  assert.equal(missing.status, "member_not_found");
  assert.equal(missing.httpStatus, 404);

  const member = fresh("fay");
  await demo.createMember(member);
  const gift = await demo.grant(member, 7, { idempotencyKey: `gift-${member}` });
  await demo.reverse(gift.id, { idempotencyKey: `undo-${member}`, memo: "sent by mistake" });
  const twice = await demo.reverse(gift.id, { idempotencyKey: `undo-again-${member}` })
    .catch((e) => e);
  assert.ok(twice instanceof Conflict);
  assert.equal(twice.status, "already_reversed");
  assert.equal(twice.httpStatus, 409);

  await demo.grant(member, 5, { idempotencyKey: `g-${member}` });
  const reused = await demo.grant(member, 6, { idempotencyKey: `g-${member}` }).catch((e) => e);
  assert.ok(reused instanceof IdempotencyConflict);
  assert.equal(reused.status, "idempotency_conflict");
  assert.equal(reused.httpStatus, 422);
  assert.equal((await demo.balance(member)).available, 5);

  const badKey = await new Client(BASE_URL, "jtk_live_not-a-key").info().catch((e) => e);
  assert.ok(badKey instanceof JetonError);
  assert.equal(badKey.status, "unauthenticated");
});

test("a write without an idempotency key is refused before anything is sent", async () => {
  let sent = 0;
  const counting = (url, init) => { sent += 1; return fetch(url, init); };
  await assert.rejects(client({ fetch: counting }).spend("alice", 1, {}), TypeError);
  assert.equal(sent, 0);
});

test("holds, captures and reads go through the same methods as in Python", async () => {
  const demo = client();
  const member = fresh("gus");
  await demo.createMember(member);
  await demo.grant(member, 100, { idempotencyKey: `g-${member}` });
  const hold = await demo.hold(member, 40, { idempotencyKey: `h-${member}`, service: "video.minute" });
  assert.equal((await demo.balance(member)).available, 60);
  const captured = await demo.capture(hold.id, 25, { idempotencyKey: `c-${member}` });
  assert.deepEqual([captured.captured, captured.voided, captured.status], [25, 15, "captured"]);
  const balance = await demo.balance(member);
  assert.deepEqual([balance.posted, balance.available], [75, 75]);
  const statement = await demo.statement(member, { limit: 10 });
  assert.ok(statement.data.length >= 2);
  const report = await demo.report();
  const table = report.tables[0];
  const csv = await demo.reportCsv(table.key);
  assert.equal(csv.split(/\r?\n/)[0], table.columns.join(","));
});
