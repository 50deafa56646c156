"""Delivering webhooks to a real receiver that verifies them as a host app would."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.events import endpoints as webhooks
from jeton.services.events.endpoints import EndpointWithSecret, Webhooks, sign_headers
from jeton.services.ops import worker
from meanwhile import write_after

from .conftest import Receiver, event_types, open_jeton


def send(wh: Webhooks, community_id: str = "chat") -> int:
    """What the two jobs do on one tick: fan out new events, then send what is due."""
    wh.fan_out(community_id)
    return wh.deliver_due(community_id)


def fail_once_on_depletion(chat: jeton.Community, wh: Webhooks,
                           receiver: Receiver) -> EndpointWithSecret:
    """An endpoint for balance.depleted whose receiver answers 500 once; alice's balance is
    depleted and the first attempt sent (and failed)."""
    ep = wh.create_endpoint("chat", receiver.url, event_types=["balance.depleted"])
    receiver.secret = ep.secret
    receiver.script = [500]
    chat.grant("alice", 1, idempotency_key="g1")
    chat.spend("alice", 1, idempotency_key="s1")
    send(wh)
    return ep


def test_a_charge_reaches_the_receiver_signed_and_verified(
        chat: jeton.Community, wh: Webhooks, receiver: Receiver) -> None:
    ep = wh.create_endpoint("chat", receiver.url, event_types=["charge.succeeded"])
    receiver.secret = ep.secret
    chat.grant("alice", 50, idempotency_key="g1")
    receipt = chat.spend("alice", 3, service="files.download", idempotency_key="dl-1")

    assert send(wh) == 1

    [got] = receiver.received
    assert got.verified, got.error
    assert got.data["type"] == "charge.succeeded"
    assert got.data["timestamp"] == "2026-01-15T12:00:00Z"
    assert got.data["data"] == {
        "transfer_id": receipt.id, "member_id": "alice", "asset": "CREDIT", "amount": 3,
        "service": "files.download", "hold_id": None, "balance_after": 47, "metadata": {}}
    assert got.headers["content-type"] == "application/json"
    [event] = wh.events.list_events("chat", type="charge.succeeded").data
    assert got.headers["webhook-id"] == event.id
    [delivery] = wh.list_deliveries("chat").data
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 204)
    assert delivery.delivered_at == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def test_the_receiver_rejects_a_tampered_body_and_a_stale_timestamp(
        chat: jeton.Community, wh: Webhooks, receiver: Receiver) -> None:
    ep = wh.create_endpoint("chat", receiver.url, event_types=["charge.succeeded"])
    receiver.secret = ep.secret
    chat.grant("alice", 5, idempotency_key="g1")
    chat.spend("alice", 5, idempotency_key="s1")
    send(wh)
    genuine = receiver.received[0]
    assert genuine.verified

    with httpx.Client(timeout=5, trust_env=False) as client:
        tampered = genuine.body.replace(b'"amount":5', b'"amount":500')
        assert tampered != genuine.body
        signed = {k: v for k, v in genuine.headers.items() if k.startswith("webhook-")}
        r = client.post(receiver.url, content=tampered, headers=signed)
        assert r.status_code == 400
        stale_at = datetime.now(UTC) - timedelta(minutes=10)
        stale = sign_headers(genuine.headers["webhook-id"], genuine.body.decode(), [ep.secret],
                             stale_at)
        r = client.post(receiver.url, content=genuine.body,
                        headers={**stale, "content-type": "application/json"})
        assert r.status_code == 400
        forged = sign_headers(genuine.headers["webhook-id"], genuine.body.decode(),
                              [webhooks.new_secret()], datetime.now(UTC))
        r = client.post(receiver.url, content=genuine.body, headers=forged)
        assert r.status_code == 400
    errors = [r.error for r in receiver.received[1:]]
    assert errors == ["No matching signature found", "Message timestamp too old",
                      "No matching signature found"]


def test_a_failing_receiver_is_retried_on_the_schedule_with_every_attempt_recorded(
        chat: jeton.Community, wh: Webhooks, receiver: Receiver, clock: ManualClock) -> None:
    ep = wh.create_endpoint("chat", receiver.url, event_types=["refund.created"])
    receiver.secret = ep.secret
    receiver.script = [500, 503]
    grant = chat.grant("alice", 5, idempotency_key="g1")
    chat.reverse(grant.id, idempotency_key="r1")

    assert send(wh) == 1  # 500
    [delivery] = wh.list_deliveries("chat").data
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.next_attempt_at == clock.now() + timedelta(seconds=5)
    assert send(wh) == 0  # not due yet
    clock.advance(seconds=5)
    assert send(wh) == 1  # 503
    clock.advance(seconds=29)
    assert send(wh) == 0
    clock.advance(seconds=1)
    assert send(wh) == 1  # 204

    done = wh.get_delivery("chat", delivery.id)
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == (
        "succeeded", 3, 204, None)
    start = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert [(a.attempt, a.status_code, a.attempted_at) for a in done.attempt_log] == [
        (1, 500, start), (2, 503, start + timedelta(seconds=5)),
        (3, 204, start + timedelta(seconds=35))]
    assert done.attempt_log[0].error == "HTTP 500"
    assert done.attempt_log[0].response_excerpt == "receiver says no"
    # One message, three tries: the same webhook-id every time, each verified.
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert all(r.verified for r in receiver.received)


def test_a_delivery_fails_after_the_last_retry_and_can_be_redelivered(
        j: jeton.Jeton, receiver: Receiver, clock: ManualClock) -> None:
    wh = webhooks.install(j, retry_schedule_s=(1, 2), jitter_ratio=0.0)
    chat = j.create_community("Chat", community_id="chat")
    chat.create_member("alice")
    ep = wh.create_endpoint("chat", receiver.url, event_types=["balance.depleted"])
    receiver.secret = ep.secret
    receiver.script = [500, 500, 500]
    chat.grant("alice", 1, idempotency_key="g1")
    chat.spend("alice", 1, idempotency_key="s1")  # balance.depleted
    failures_before = webhooks.delivery_failures_total()

    send(wh)
    clock.advance(seconds=1)
    send(wh)
    clock.advance(seconds=2)
    send(wh)
    clock.advance(hours=1)
    assert send(wh) == 0

    [delivery] = wh.list_deliveries("chat", status="failed").data
    assert delivery.attempts == 3
    assert delivery.next_attempt_at is None
    assert webhooks.delivery_failures_total() - failures_before == 3

    again = wh.redeliver("chat", delivery.id)
    assert again.status == "pending"
    assert send(wh) == 1
    done = wh.get_delivery("chat", delivery.id)
    assert (done.status, done.attempts) == ("succeeded", 4)
    assert [a.status_code for a in done.attempt_log] == [500, 500, 500, 204]


def test_an_unreachable_receiver_is_an_attempt_with_an_error(
        chat: jeton.Community, wh: Webhooks, receiver: Receiver) -> None:
    # A port nobody listens on: the receiver's, once it has stopped.
    url = receiver.url
    assert receiver._server is not None
    receiver._server.shutdown()
    receiver._server.server_close()
    wh.create_endpoint("chat", url, event_types=["balance.depleted"])
    chat.grant("alice", 1, idempotency_key="g1")
    chat.spend("alice", 1, idempotency_key="s1")
    send(wh)
    [delivery] = wh.list_deliveries("chat").data
    detail = wh.get_delivery("chat", delivery.id)
    assert detail.status == "pending"
    assert detail.last_status_code is None
    assert detail.attempt_log[0].error is not None
    assert "ConnectError" in detail.attempt_log[0].error


def test_a_deliverys_attempts_agree_with_its_count_while_an_attempt_is_recorded(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks, receiver: Receiver,
        clock: ManualClock) -> None:
    """The delivery and its attempts are one read: an attempt recorded while it is read is in
    the count and the log, or in neither."""
    fail_once_on_depletion(chat, wh, receiver)
    [delivery] = wh.list_deliveries("chat").data
    clock.advance(seconds=5)  # the retry is due
    with write_after(j.store, "FROM webhook_deliveries JOIN events", lambda: send(wh)) as sent:
        seen = wh.get_delivery("chat", delivery.id)
    assert sent == [1]  # the second attempt was recorded after the delivery's row was read
    assert seen.attempts == len(seen.attempt_log) == 1
    assert seen.last_status_code == seen.attempt_log[-1].status_code == 500
    after = wh.get_delivery("chat", delivery.id)
    assert after.attempts == len(after.attempt_log) == 2
    assert (after.status, after.last_status_code) == ("succeeded", 204)


def test_a_rotated_secret_signs_beside_the_old_one_until_the_grace_period_ends(
        chat: jeton.Community, wh: Webhooks, receiver: Receiver, clock: ManualClock) -> None:
    old = wh.create_endpoint("chat", receiver.url, event_types=["refund.created"])
    new = wh.rotate_secret("chat", old.id, grace_s=3600)
    assert new.secret != old.secret
    assert wh.endpoint_secret("chat", old.id) == new.secret

    def refund(key: str) -> None:
        chat.reverse(chat.grant("alice", 1, idempotency_key=key).id, idempotency_key=f"r-{key}")
        send(wh)

    receiver.secret = old.secret  # a host app that has not switched yet
    refund("a")
    receiver.secret = new.secret  # one that has
    refund("b")
    clock.advance(hours=2)
    receiver.secret = old.secret  # too late now
    refund("c")
    assert [r.verified for r in receiver.received] == [True, True, False]
    assert len(receiver.received[0].headers["webhook-signature"].split(" ")) == 2
    assert len(receiver.received[2].headers["webhook-signature"].split(" ")) == 1


def test_disabling_an_endpoint_abandons_what_it_had_pending(
        chat: jeton.Community, wh: Webhooks, receiver: Receiver) -> None:
    ep = fail_once_on_depletion(chat, wh, receiver)
    wh.update_endpoint("chat", ep.id, enabled=False)
    [delivery] = wh.list_deliveries("chat").data
    assert (delivery.status, delivery.last_error) == ("abandoned", "endpoint disabled")
    with pytest.raises(jeton.Conflict):
        wh.redeliver("chat", delivery.id)
    wh.update_endpoint("chat", ep.id, enabled=True)
    wh.redeliver("chat", delivery.id)
    assert send(wh) == 1
    assert wh.get_delivery("chat", delivery.id).status == "succeeded"


def test_a_name_that_now_resolves_to_a_private_address_is_not_contacted(
        tmp_path: Path, clock: ManualClock, receiver: Receiver) -> None:
    """DNS rebinding: public when registered, loopback when sent. Nothing is sent."""
    answers = {"hooks.example.test": ["93.184.216.34"]}
    j = open_jeton(tmp_path, clock, allow_private=False)
    try:
        wh = webhooks.install(j, jitter_ratio=0.0, resolver=lambda host, port: answers[host])
        chat = j.create_community("Chat", community_id="chat")
        chat.create_member("alice")
        port = httpx.URL(receiver.url).port
        wh.create_endpoint("chat", f"http://hooks.example.test:{port}/hooks",
                           event_types=["balance.depleted"])
        answers["hooks.example.test"] = ["127.0.0.1"]
        chat.grant("alice", 1, idempotency_key="g1")
        chat.spend("alice", 1, idempotency_key="s1")
        send(wh)
    finally:
        j.close()
    assert receiver.received == []
    [delivery] = wh.list_deliveries("chat").data
    assert delivery.status == "pending"
    assert delivery.last_error == ("refused: host 'hooks.example.test' resolves to 127.0.0.1, "
                                   "a loopback address")


def test_the_request_goes_to_the_address_checked_with_the_name_kept_for_the_server(
        tmp_path: Path, clock: ManualClock) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    j = open_jeton(tmp_path, clock, allow_private=False)
    try:
        wh = webhooks.install(j, resolver=lambda host, port: ["93.184.216.34"],
                              transport=httpx.MockTransport(answer))
        chat = j.create_community("Chat", community_id="chat")
        chat.create_member("alice")
        wh.create_endpoint("chat", "https://hooks.example.test:8443/in?x=1",
                           event_types=["balance.depleted"])
        chat.grant("alice", 1, idempotency_key="g1")
        chat.spend("alice", 1, idempotency_key="s1")
        assert send(wh) == 1
    finally:
        j.close()
    [request] = seen
    assert str(request.url) == "https://93.184.216.34:8443/in?x=1"
    assert request.headers["host"] == "hooks.example.test:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.test"
    assert json.loads(request.content)["type"] == "balance.depleted"


def test_the_worker_jobs_deliver_on_their_own(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks, receiver: Receiver) -> None:
    ep = wh.create_endpoint("chat", receiver.url)
    receiver.secret = ep.secret
    chat.grant("alice", 1, idempotency_key="g1")
    chat.spend("alice", 1, idempotency_key="s1")
    worker.run_due(j, force=True, only={"webhooks.fan_out"})
    worker.run_due(j, force=True, only={"webhooks.deliver"})
    assert sorted(r.data["type"] for r in receiver.verified) == [
        "balance.depleted", "charge.succeeded"]


def test_two_workers_never_send_one_delivery_twice(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks, receiver: Receiver) -> None:
    ep = wh.create_endpoint("chat", receiver.url, event_types=["member.created"])
    receiver.secret = ep.secret
    for i in range(40):
        wh.events.record("chat", "member.created", f"m{i}", {"member_id": f"m{i}"})
    assert wh.fan_out("chat") == 40
    # A second worker process: its own service object on the same store.
    other = Webhooks(j.store, j.clock, j.settings)
    done: list[int] = []
    workers = [threading.Thread(target=lambda w=w: done.append(w.deliver_due("chat")))
               for w in (wh, other)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=30)
    assert sum(done) == 40
    ids = [r.headers["webhook-id"] for r in receiver.verified]
    assert len(ids) == len(set(ids)) == 40
    assert {d.attempts for d in wh.list_deliveries("chat", limit=100).data} == {1}


def test_failed_attempts_are_counted_for_the_metrics_endpoint(
        chat: jeton.Community, wh: Webhooks, receiver: Receiver) -> None:
    metrics = pytest.importorskip("jeton.api.metrics")
    counter = metrics.webhook_delivery_failures_total
    before = (counter._value.get(), webhooks.delivery_failures_total(),
              webhooks.delivery_attempts_total())
    fail_once_on_depletion(chat, wh, receiver)
    after = (counter._value.get(), webhooks.delivery_failures_total(),
             webhooks.delivery_attempts_total())
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


def _rows(j: jeton.Jeton, table: str) -> int:
    with j.store.read() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def test_events_past_retention_go_with_their_deliveries_unless_one_is_pending(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks, receiver: Receiver,
        clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks.limits, "webhook_fanout_lag_ms", 0)  # sweeps reach "now"
    ep = wh.create_endpoint("chat", receiver.url, event_types=["charge.succeeded"])
    receiver.secret = ep.secret
    chat.grant("alice", 50, idempotency_key="g1")
    chat.spend("alice", 1, idempotency_key="delivered")
    assert send(wh) == 1  # succeeded on the first attempt
    receiver.script.append(500)
    chat.spend("alice", 1, idempotency_key="retrying")
    assert send(wh) == 1  # failed once: pending, retried later
    before = event_types(wh)
    assert before.count("charge.succeeded") == 2
    assert wh.deliveries.prune_events("chat") == 0  # nothing is old yet

    clock.advance(timedelta(days=webhooks.limits.event_retention_days, seconds=1))
    chat.spend("alice", 1, idempotency_key="recent")
    wh.fan_out("chat")
    pruned = wh.deliveries.prune_events("chat")

    assert pruned == len(before) - 1  # all but the event whose delivery is still pending
    kept = wh.events.list_events("chat", limit=500).data
    assert [e.type for e in kept] == ["charge.succeeded", "charge.succeeded"]
    statuses = sorted(d.status for d in wh.list_deliveries("chat").data)
    assert statuses == ["pending", "pending"]  # the retrying one, and the recent one
    assert _rows(j, "webhook_attempts") == 1  # the retrying delivery's failed attempt
    assert chat.balance("alice").posted == 47  # the journal keeps everything
    assert wh.deliveries.prune_events("chat") == 0


def test_events_fan_out_has_not_swept_past_are_kept(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks, clock: ManualClock) -> None:
    wh.create_endpoint("chat", "http://127.0.0.1:9/a", event_types=["member.created"])
    wh.events.record("chat", "member.created", "m1", {"member_id": "m1"})
    wh.fan_out("chat")  # the sweep stays a minute behind: nothing swept past yet
    clock.advance(timedelta(days=webhooks.limits.event_retention_days + 1))
    assert wh.deliveries.prune_events("chat") == 0
    assert _rows(j, "events") == len(event_types(wh)) > 0


def test_without_endpoints_old_events_are_pruned_a_batch_at_a_time(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks.limits, "job_batch_size", 3)
    for i in range(7):
        wh.events.record("chat", "member.created", f"m{i}", {"member_id": f"m{i}"})
    total = _rows(j, "events")
    clock.advance(timedelta(days=webhooks.limits.event_retention_days, seconds=1))
    wh.events.record("chat", "member.created", "young", {"member_id": "young"})
    assert wh.deliveries.prune_events("chat") == total
    assert [e.member_id for e in wh.events.list_events("chat").data] == ["young"]
    clock.advance(timedelta(days=webhooks.limits.event_retention_days, seconds=1))
    assert worker.run_due(j, force=True, only={"events.prune"}) == {"events.prune": 1}
    assert _rows(j, "events") == 0
