// The Standard Webhooks verifier: on messages signed by Jeton's own signing code (Python, in
// the fixture the pytest writes) and on a real delivery from the server.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { test } from "node:test";

import { Webhook, WebhookVerificationError, verifyWebhook } from "../src/index.js";
import { client, fresh } from "./live.js";

// Written by tests/clients/test_typescript.py with jeton.services.events.signing.sign_headers.
if (!process.env.JETON_TEST_WEBHOOKS) throw new Error("JETON_TEST_WEBHOOKS names the signed messages");
const FIXTURE = JSON.parse(readFileSync(process.env.JETON_TEST_WEBHOOKS, "utf8"));

test("a message Jeton signed verifies, and the message is returned", () => {
  const { secret, body, headers, at } = FIXTURE.signed;
  const message = verifyWebhook(secret, body, headers, { now: new Date(at * 1000) });
  assert.deepEqual(message, JSON.parse(body));
  assert.equal(message.type, "charge.declined");
  // Bytes as received verify as well as text; so do fetch's Headers.
  const bytes = new TextEncoder().encode(body);
  assert.equal(new Webhook(secret).verify(bytes, new Headers(headers), { now: new Date(at * 1000) }).type,
    "charge.declined");
});

test("a tampered message is refused", () => {
  const { secret, body, headers, at } = FIXTURE.signed;
  const now = new Date(at * 1000);
  const hook = new Webhook(secret);
  const refused = (b, h, options = { now }) => assert.throws(() => hook.verify(b, h, options),
    WebhookVerificationError);
  refused(body.replace('"required":30', '"required":3'), headers);
  refused(body, { ...headers, "webhook-id": `${headers["webhook-id"]}x` });
  refused(body, { ...headers, "webhook-timestamp": String(at + 1) });
  refused(body, { ...headers, "webhook-signature": `v1,${Buffer.alloc(32).toString("base64")}` });
  refused(body, { ...headers, "webhook-signature": headers["webhook-signature"].replace("v1,", "v2,") });
  refused(body, { "webhook-id": headers["webhook-id"], "webhook-timestamp": String(at) });
  assert.throws(() => new Webhook(FIXTURE.otherSecret).verify(body, headers, { now }),
    WebhookVerificationError);
  // Replayed later than the tolerance (five minutes), or from too far ahead: refused.
  refused(body, headers, { now: new Date((at + 301) * 1000) });
  refused(body, headers, { now: new Date((at - 301) * 1000) });
  assert.equal(hook.verify(body, headers, { now: new Date((at + 299) * 1000) }).type, "charge.declined");
});

test("while a secret rotates, either secret verifies the doubly signed message", () => {
  const { secrets, body, headers, at } = FIXTURE.rotating;
  const now = new Date(at * 1000);
  assert.equal(headers["webhook-signature"].split(" ").length, 2);
  for (const secret of secrets) assert.equal(verifyWebhook(secret, body, headers, { now }).type, "charge.declined");
  // And a signature made here is the one Jeton makes.
  assert.equal(new Webhook(secrets).sign(headers["webhook-id"], at, body), headers["webhook-signature"]);
});

test("a real delivery from Jeton verifies with the endpoint's secret", async () => {
  const received = [];
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (c) => chunks.push(c));
    request.on("end", () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(204).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const demo = client();
  const member = fresh("hal");
  const endpoint = await demo.createWebhookEndpoint(
    `http://127.0.0.1:${server.address().port}/jeton`, { eventTypes: ["charge.declined"] });
  try {
    await demo.createMember(member);
    await demo.charge(member, "mall.sticker_pack", 1, { idempotencyKey: `st-${member}` })
      .catch(() => undefined); // declined: no credits, so `charge.declined` is sent
    const deadline = Date.now() + 20_000;
    let delivery;
    while (!(delivery = received.find((r) => r.body.includes(member))) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(delivery, "no delivery within 20 s");

    const message = new Webhook(endpoint.secret).verify(delivery.body, delivery.headers);
    assert.equal(message.type, "charge.declined");
    assert.equal(message.data.member_id, member);
    const forged = Buffer.from(delivery.body.toString().replace(member, fresh("mallory")));
    assert.throws(() => new Webhook(endpoint.secret).verify(forged, delivery.headers),
      WebhookVerificationError);
  } finally {
    await demo.deleteWebhookEndpoint(endpoint.id);
    server.close();
  }
});
