"""Events from the ledger: written in the write's own transaction, once per thing that happened."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import jeton
from jeton.core.clock import ManualClock
from jeton.core.errors import InvariantViolation
from jeton.core.ids import id_floor
from jeton.services.events import endpoints as webhooks
from jeton.services.events.endpoints import Webhooks
from jeton.services.events.outbox import EVENT_TYPES, emit_event
from jeton.services.ledger.workset import WorkSet
from jeton.store.tables.ledger import events
from jeton.store.tables.webhooks import expiring_lot_notices, webhook_cursors

from .conftest import event_types


def low_events(wh: Webhooks) -> list[dict[str, object]]:
    page = wh.events.list_events("chat", type="balance.low")
    return [e.data for e in reversed(page.data)]


def test_balance_low_is_sent_once_per_crossing(chat: jeton.Community, wh: Webhooks) -> None:
    chat.grant("alice", 20, idempotency_key="g1")
    alert = wh.events.set_low_balance_threshold("chat", "alice", 10)
    assert alert is not None
    assert alert.armed

    chat.spend("alice", 12, idempotency_key="s1")  # 8: below, first crossing
    chat.spend("alice", 1, idempotency_key="s2")  # 7: still below, nothing new
    assert [(e["available"], e["threshold"]) for e in low_events(wh)] == [(8, 10)]
    assert wh.events.low_balance_alert("chat", "alice") == alert.model_copy(
        update={"armed": False})

    chat.grant("alice", 3, idempotency_key="g2")  # 10: at the threshold again, re-armed
    chat.spend("alice", 4, idempotency_key="s3")  # 6: second crossing
    chat.spend("alice", 6, idempotency_key="s4")  # 0
    assert [e["available"] for e in low_events(wh)] == [8, 6]


def test_a_threshold_set_under_the_balance_waits_for_the_balance_to_come_back(
        chat: jeton.Community, wh: Webhooks) -> None:
    chat.grant("alice", 5, idempotency_key="g1")
    alert = wh.events.set_low_balance_threshold("chat", "alice", 10)
    assert alert is not None
    assert not alert.armed
    chat.spend("alice", 1, idempotency_key="s1")
    assert low_events(wh) == []
    chat.grant("alice", 20, idempotency_key="g2")
    chat.spend("alice", 20, idempotency_key="s2")
    assert [e["available"] for e in low_events(wh)] == [4]
    assert wh.events.set_low_balance_threshold("chat", "alice", None) is None
    chat.grant("alice", 20, idempotency_key="g3")
    chat.spend("alice", 20, idempotency_key="s3")
    assert len(low_events(wh)) == 1


def test_balance_low_in_a_batch_is_one_event_per_member(
        chat: jeton.Community, wh: Webhooks) -> None:
    for member in ("alice", "bob"):
        chat.grant(member, 10, idempotency_key=f"g-{member}")
        wh.events.set_low_balance_threshold("chat", member, 5)
    items = [{"member": m, "amount": 3, "idempotency_key": f"{m}-{i}"}
             for m in ("alice", "bob") for i in range(3)]
    assert all(r.status == "ok" for r in chat.spend_batch(items))
    assert sorted((e["member_id"], e["available"]) for e in low_events(wh)) == [
        ("alice", 1), ("bob", 1)]


def test_balance_depleted_when_the_last_credit_goes(chat: jeton.Community, wh: Webhooks) -> None:
    chat.grant("alice", 5, idempotency_key="g1")
    chat.spend("alice", 2, idempotency_key="s1")
    assert "balance.depleted" not in event_types(wh)
    last = chat.spend("alice", 3, idempotency_key="s2")
    [depleted] = wh.events.list_events("chat", type="balance.depleted").data
    assert depleted.member_id == "alice"
    assert depleted.data == {"member_id": "alice", "asset": "CREDIT", "available": 0,
                             "transfer_id": last.id}


def test_expiry_that_empties_a_wallet_depletes_it(
        chat: jeton.Community, wh: Webhooks, clock: ManualClock) -> None:
    chat.grant("alice", 5, idempotency_key="g1", expires_at=clock.now() + timedelta(days=1))
    clock.advance(days=2)
    assert chat.run_expiry() == 1
    assert event_types(wh) == ["credits.expired", "balance.depleted"]


def test_charges_are_recorded_only_while_an_endpoint_wants_them(
        chat: jeton.Community, wh: Webhooks) -> None:
    chat.grant("alice", 10, idempotency_key="g1")
    chat.spend("alice", 1, idempotency_key="s1")
    assert event_types(wh) == []
    ep = wh.create_endpoint("chat", "http://127.0.0.1:9/hooks", event_types=["charge.succeeded"])
    chat.spend("alice", 2, idempotency_key="s2")
    hold = chat.hold("alice", 3, idempotency_key="h1")
    chat.capture(hold.id, 2, idempotency_key="c1")
    assert event_types(wh) == ["charge.succeeded", "charge.succeeded"]
    assert [e.data["hold_id"] for e in wh.events.list_events("chat").data] == [hold.id, None]
    wh.delete_endpoint("chat", ep.id)
    chat.spend("alice", 1, idempotency_key="s3")
    assert len(event_types(wh)) == 2


def test_transfers_are_recorded_only_while_an_endpoint_wants_them(
        chat: jeton.Community, wh: Webhooks) -> None:
    chat.grant("alice", 10, idempotency_key="g1")
    chat.transfer("alice", "bob", 1, idempotency_key="t1")
    assert event_types(wh) == []
    ep = wh.create_endpoint("chat", "http://127.0.0.1:9/hooks", event_types=["transfer.completed"])
    sent = chat.transfer("alice", "bob", 2, idempotency_key="t2")
    assert [e.data["transfer_id"] for e in wh.events.list_events("chat").data] == [sent.id]
    wh.delete_endpoint("chat", ep.id)
    chat.transfer("alice", "bob", 1, idempotency_key="t3")
    assert event_types(wh) == ["transfer.completed"]


def test_transfers_and_refunds_are_events(chat: jeton.Community, wh: Webhooks) -> None:
    chat.grant("alice", 10, idempotency_key="g1")
    wh.create_endpoint("chat", "http://127.0.0.1:9/hooks", event_types=["transfer.completed"])
    sent = chat.transfer("alice", "bob", 4, fee=1, idempotency_key="t1")
    refund = chat.reverse(sent.id, idempotency_key="r1")
    by_type = {e.type: e.data for e in wh.events.list_events("chat").data}
    assert by_type["transfer.completed"] == {
        "transfer_id": sent.id, "from_member": "alice", "to_member": "bob", "asset": "CREDIT",
        "amount": 4, "fee": 1}
    assert by_type["refund.created"] == {
        "transfer_id": refund.id, "reverses_id": sent.id, "member_id": "alice",
        "asset": "CREDIT", "amount": 5, "reason_code": "reversal", "memo": ""}


def test_a_declined_charge_writes_no_event(chat: jeton.Community, wh: Webhooks) -> None:
    wh.create_endpoint("chat", "http://127.0.0.1:9/hooks")
    chat.grant("alice", 2, idempotency_key="g1")
    wh.events.set_low_balance_threshold("chat", "alice", 1)
    with pytest.raises(jeton.InsufficientCredits):
        chat.spend("alice", 5, idempotency_key="s1")
    assert event_types(wh) == []


def test_an_event_exists_only_if_its_write_commits(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks) -> None:
    wh.create_endpoint("chat", "http://127.0.0.1:9/hooks")
    chat.grant("alice", 5, idempotency_key="g1")

    def fail_after_events(ws: WorkSet, results: list[jeton.TransferResult]) -> None:
        assert [row["type"] for row in ws.event_rows] == ["charge.succeeded",
                                                          "balance.depleted"]
        raise InvariantViolation("a later hook fails: the whole write rolls back")

    j.ledger.hooks.append(fail_after_events)
    with pytest.raises(InvariantViolation):
        chat.spend("alice", 5, idempotency_key="s1")
    j.ledger.hooks.remove(fail_after_events)
    assert event_types(wh) == []
    assert chat.balance("alice").available == 5


def test_a_service_records_events_in_its_transaction_or_alone(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks, clock: ManualClock) -> None:
    # A decline writes nothing else: its event is recorded alone, listened to or not.
    event_id = wh.events.record("chat", "charge.declined", "alice", {"required": 3})
    assert wh.events.get_event("chat", event_id or "").data == {"required": 3}
    # charge.succeeded repeats the journal: recorded only while someone listens.
    assert wh.events.record("chat", "charge.succeeded", "alice", {}) is None

    def failing_write() -> None:
        with j.store.write() as conn:
            emit_event(conn, "chat", "member.created", "carol", {"member_id": "carol"},
                       now_us=wh.now_us())
            raise RuntimeError("the service's write fails")

    with pytest.raises(RuntimeError):
        failing_write()
    with j.store.write() as conn:
        emit_event(conn, "chat", "member.created", "dave", {"member_id": "dave"},
                   now_us=wh.now_us())
    assert event_types(wh) == ["charge.declined", "member.created"]
    with pytest.raises(InvariantViolation), j.store.write() as conn:
        emit_event(conn, "chat", "member.deleted", None, {}, now_us=wh.now_us())


def test_events_page_newest_first(chat: jeton.Community, wh: Webhooks) -> None:
    for i in range(5):
        wh.events.record("chat", "member.created", f"m{i}", {"member_id": f"m{i}"})
    first = wh.events.list_events("chat", limit=2)
    assert [e.member_id for e in first.data] == ["m4", "m3"]
    assert first.has_more
    rest = wh.events.list_events("chat", limit=10, starting_after=first.next_cursor)
    assert [e.member_id for e in rest.data] == ["m2", "m1", "m0"]
    assert not rest.has_more
    assert [e.member_id for e in wh.events.list_events("chat", member_id="m1").data] == ["m1"]


def test_credits_expiring_is_announced_once_per_lot(
        chat: jeton.Community, wh: Webhooks, clock: ManualClock) -> None:
    now = clock.now()
    soon = chat.grant("alice", 5, idempotency_key="g1", expires_at=now + timedelta(days=2))
    later = chat.grant("alice", 7, idempotency_key="g2", expires_at=now + timedelta(days=5))
    chat.grant("alice", 9, idempotency_key="g3")  # never expires

    assert wh.events.announce_expiring("chat") == 1
    assert wh.events.announce_expiring("chat") == 0
    clock.advance(days=2)
    assert wh.events.announce_expiring("chat") == 1  # `later` is 3 days away now
    assert wh.events.announce_expiring("chat") == 0
    announced = [e.data for e in reversed(
        wh.events.list_events("chat", type="credits.expiring").data)]
    assert [(e["lot_id"], e["amount"]) for e in announced] == [
        (soon.lots[0].lot_id, 5), (later.lots[0].lot_id, 7)]
    assert announced[0]["expires_at"] == (now + timedelta(days=2)).isoformat()


def test_notices_of_expired_lots_are_dropped(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks, clock: ManualClock) -> None:
    chat.grant("alice", 5, idempotency_key="g1", expires_at=clock.now() + timedelta(days=1))
    assert wh.events.announce_expiring("chat") == 1
    clock.advance(days=5)
    fresh = chat.grant("alice", 5, idempotency_key="g2", expires_at=clock.now() + timedelta(days=1))
    assert wh.events.announce_expiring("chat") == 1
    with j.store.read() as conn:
        kept = conn.execute(sa.select(expiring_lot_notices.c.lot_id)).scalars().all()
    assert kept == [fresh.lots[0].lot_id]


def test_the_notice_period_is_a_community_setting(
        chat: jeton.Community, wh: Webhooks, clock: ManualClock) -> None:
    chat.grant("alice", 5, idempotency_key="g1", expires_at=clock.now() + timedelta(days=10))
    assert wh.events.announce_expiring("chat") == 0
    assert wh.events.set_expiring_notice_days("chat", 14) == 14
    assert wh.events.announce_expiring("chat") == 1
    assert wh.events.set_expiring_notice_days("chat", None) == 3
    with pytest.raises(jeton.InvalidRequest):
        wh.events.set_expiring_notice_days("chat", 0)


def test_fan_out_makes_one_delivery_per_event_and_endpoint_however_often_it_runs(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks) -> None:
    every = wh.create_endpoint("chat", "http://127.0.0.1:9/a")
    charges = wh.create_endpoint("chat", "http://127.0.0.1:9/b", event_types=["charge.succeeded"])
    chat.grant("alice", 5, idempotency_key="g1")
    chat.spend("alice", 5, idempotency_key="s1")  # charge.succeeded, balance.depleted
    assert wh.fan_out("chat") == 3
    assert wh.fan_out("chat") == 0
    # As after a crash between making deliveries and moving the cursor: read everything again.
    with j.store.write() as conn:
        conn.execute(webhook_cursors.update().values(head_event_id=None))
    assert wh.fan_out("chat") == 0
    per_endpoint = {ep.id: sorted(d.event_type for d in wh.list_deliveries(
        "chat", endpoint_id=ep.id).data) for ep in (every, charges)}
    assert per_endpoint == {every.id: ["balance.depleted", "charge.succeeded"],
                            charges.id: ["charge.succeeded"]}


def test_an_event_committed_after_a_newer_one_is_still_fanned_out(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks,
        monkeypatch: pytest.MonkeyPatch) -> None:
    wh.create_endpoint("chat", "http://127.0.0.1:9/a", event_types=["member.created"])
    wh.events.record("chat", "member.created", "m1", {"member_id": "m1"})
    assert wh.fan_out("chat") == 1
    # A transaction that made its event id a second ago commits only now, behind the cursor.
    [newest] = wh.events.list_events("chat").data
    late_id = id_floor(int(newest.id[:8] + newest.id[9:13], 16) - 1000)
    assert late_id < newest.id
    with j.store.write() as conn:
        conn.execute(events.insert().values(
            community_id="chat", event_id=late_id, type="member.created", member_id="m0",
            payload_json='{"member_id": "m0"}', created_at_us=wh.now_us()))
    assert wh.fan_out("chat") == 0  # the fast path is past it; the sweep waits for the horizon
    monkeypatch.setattr(webhooks.limits, "webhook_fanout_lag_ms", 0)  # the horizon passes
    assert wh.fan_out("chat") == 1
    assert wh.fan_out("chat") == 0
    assert sorted(d.event_id for d in wh.list_deliveries("chat").data) == [late_id, newest.id]


def test_an_endpoint_gets_only_events_from_when_it_was_enabled(
        j: jeton.Jeton, chat: jeton.Community, wh: Webhooks, clock: ManualClock) -> None:
    wh.events.record("chat", "member.created", "early", {})
    clock.advance(seconds=1)
    ep = wh.create_endpoint("chat", "http://127.0.0.1:9/a", event_types=["member.created"])
    wh.events.record("chat", "member.created", "m1", {})
    wh.fan_out("chat")
    wh.update_endpoint("chat", ep.id, enabled=False)
    clock.advance(seconds=1)
    wh.events.record("chat", "member.created", "while-off", {})
    clock.advance(seconds=1)
    wh.update_endpoint("chat", ep.id, enabled=True)
    wh.events.record("chat", "member.created", "m2", {})
    wh.fan_out("chat")
    with j.store.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    assert count == 4
    got = [(wh.events.get_event("chat", d.event_id).member_id, d.status)
           for d in wh.list_deliveries("chat").data]
    assert got == [("m2", "pending"), ("m1", "abandoned")]


def test_every_event_type_a_service_emits_can_be_subscribed_to() -> None:
    """Endpoint filters accept only EVENT_TYPES: a type emitted but not listed would be one
    nobody could ask for."""
    src = Path(jeton.__file__).parent
    emitted = {m.group(1) for path in src.rglob("*.py")
               for m in re.finditer(r"""\.emit\(\s*["']([a-z_.]+)["']""", path.read_text())}
    assert emitted
    assert emitted - set(EVENT_TYPES) == set()
