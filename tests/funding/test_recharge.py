"""Auto-recharge: a member who falls under their threshold gets their pack bought once, within
a monthly cap, with failures reported."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

import jeton
from jeton.core.clock import ManualClock
from jeton.payments.offline import DEMO_METHOD_DECLINED, DEMO_METHOD_OK
from jeton.services.ledger.metrics import recharges_total
from jeton.store.tables.funding import recharge_claims
from meanwhile import write_after

from .conftest import events, ok


def _card(club: jeton.Community, member: str, method: str = DEMO_METHOD_OK) -> None:
    club.set_payment_method(member, provider="demo", customer_id=f"cus_{member}",
                            payment_method_id=method)


def _recharged(outcome: str) -> float:
    """The /metrics counter of settled recharges (per process: compare before and after)."""
    return float(recharges_total.labels(outcome=outcome)._value.get())


def _claims(j: jeton.Jeton) -> int:
    with j.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(recharge_claims))
                   .scalar_one())


def test_falling_under_the_threshold_buys_the_pack_once(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("ann", "p20")
    _card(club, "ann")
    club.set_auto_recharge("ann", pack_id="p50", threshold=10, monthly_cap=2)
    club.spend("ann", 5, idempotency_key="g1", service="chess.game")  # 15 left: fine
    assert _claims(j) == 0
    club.spend("ann", 6, idempotency_key="g2", service="chess.game")  # 9 left: under 10
    assert _claims(j) == 1
    assert club.balance("ann").available == 9  # nothing bought inside the charge
    club.spend("ann", 1, idempotency_key="g3", service="chess.game")
    assert _claims(j) == 1  # still one intent

    before = _recharged("succeeded")
    assert club.run_funding_jobs()["recharge.run"] == 1
    assert _recharged("succeeded") == before + 1
    assert club.balance("ann").available == 8 + 50
    assert _claims(j) == 0
    recharges = [p for p in club.list_purchases("ann").data if p.kind == "recharge"]
    assert [(p.status, p.credits, p.amount_minor) for p in recharges] == [
        ("completed", 50, 15000)]
    assert [e["purchase_id"] for e in events(j.store, "recharge.succeeded")] == [
        recharges[0].id]
    assert club.run_funding_jobs()["recharge.run"] == 0
    ok(j.store)


def test_twenty_charges_crossing_the_threshold_at_once_start_one_recharge(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("bob", "p50")
    _card(club, "bob")
    club.set_auto_recharge("bob", pack_id="p20", threshold=40, monthly_cap=5)
    start = threading.Barrier(20)
    errors: list[BaseException] = []

    def charge(n: int) -> None:
        start.wait()
        try:
            club.spend("bob", 1, idempotency_key=f"move-{n}", service="chess.move")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=charge, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert club.balance("bob").available == 30
    assert _claims(j) == 1
    club.run_funding_jobs()
    club.run_funding_jobs()
    recharges = [p for p in club.list_purchases("bob").data if p.kind == "recharge"]
    assert len(recharges) == 1
    assert recharges[0].status == "completed"
    assert club.balance("bob").available == 50
    ok(j.store)


def test_the_monthly_cap_counts_recharges_per_calendar_month(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    clock.set(datetime(2026, 1, 20, tzinfo=UTC))
    buy("cy", "p20")
    _card(club, "cy")
    club.set_auto_recharge("cy", pack_id="p20", threshold=5, monthly_cap=2)
    for n in range(3):
        balance = club.balance("cy").available
        club.spend("cy", balance - 1, idempotency_key=f"drain-{n}", service="chess.game")
        club.run_funding_jobs()
    info = club.get_auto_recharge("cy")
    assert info is not None
    assert info.recharges_this_month == 2
    assert info.status == "cap_reached"
    assert club.balance("cy").available == 1
    assert len(events(j.store, "recharge.cap_reached", "cy")) == 1
    # February: the cap starts again.
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    club.spend("cy", 1, idempotency_key="feb-1", service="chess.game")
    club.run_funding_jobs()
    assert club.balance("cy").available == 20
    info = club.get_auto_recharge("cy")
    assert info is not None
    assert info.recharges_this_month == 1
    assert info.status == "ok"
    ok(j.store)


def test_a_recharge_settling_while_the_settings_are_read_is_in_flight_or_counted(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    """The settings, this month's count and whether a recharge is in flight are one read: a
    recharge that settles meanwhile is in flight or counted, never neither."""
    buy("ann", "p20")
    _card(club, "ann")
    club.set_auto_recharge("ann", pack_id="p20", threshold=10, monthly_cap=3)
    club.spend("ann", 15, idempotency_key="g1", service="chess.game")  # under: a claim
    with write_after(j.store, "FROM auto_recharge", club.run_funding_jobs) as settled:
        seen = club.get_auto_recharge("ann")
    assert [ran["recharge.run"] for ran in settled] == [1]  # it settled inside the read
    assert seen is not None
    assert (seen.recharges_this_month, seen.in_flight) == (0, True)
    after = club.get_auto_recharge("ann")
    assert after is not None
    assert (after.recharges_this_month, after.in_flight) == (1, False)


def test_a_declined_recharge_is_reported_and_pauses_auto_recharge(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("ann", "p20")
    _card(club, "ann", DEMO_METHOD_DECLINED)
    club.set_auto_recharge("ann", pack_id="p20", threshold=10, monthly_cap=3)
    club.spend("ann", 15, idempotency_key="g1", service="chess.game")
    failed_before = _recharged("failed")
    club.run_funding_jobs()
    assert _recharged("failed") == failed_before + 1
    info = club.get_auto_recharge("ann")
    assert info is not None
    assert info.status == "failed"
    assert info.last_error == "card_declined"
    assert [e["reason"] for e in events(j.store, "recharge.failed", "ann")] == ["card_declined"]
    # More charges do not hammer a declined card.
    club.spend("ann", 1, idempotency_key="g2", service="chess.game")
    assert _claims(j) == 0
    # A working card and the setting again: it recharges.
    _card(club, "ann")
    club.set_auto_recharge("ann", pack_id="p20", threshold=10, monthly_cap=3)
    assert _claims(j) == 1  # already under the threshold
    club.run_funding_jobs()
    assert club.balance("ann").available == 4 + 20
    ok(j.store)


def test_auto_recharge_needs_a_saved_payment_method(club: jeton.Community) -> None:
    with pytest.raises(jeton.InvalidRequest):
        club.set_auto_recharge("bob", pack_id="p20", threshold=10, monthly_cap=1)


def test_a_transfer_that_takes_the_sender_under_the_threshold_recharges_too(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("ann", "p20")
    _card(club, "ann")
    club.set_auto_recharge("ann", pack_id="p20", threshold=10, monthly_cap=1)
    club.transfer("ann", "bob", 15, idempotency_key="gift")
    assert _claims(j) == 1
    club.run_funding_jobs()
    assert club.balance("ann").available == 25
    ok(j.store)


def test_the_worker_runs_the_funding_jobs(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    from jeton.services.ledger.jobs import REGISTRY
    from jeton.services.ops.worker import run_due

    assert {"plans.renew", "recharge.run", "purchases.expire"} <= set(REGISTRY)
    buy("ann", "p20")
    _card(club, "ann")
    club.set_auto_recharge("ann", pack_id="p20", threshold=10, monthly_cap=1)
    club.spend("ann", 15, idempotency_key="g1", service="chess.game")
    assert run_due(j, force=True, only={"recharge.run"}) == {"recharge.run": 1}
    assert run_due(j, force=True, only={"recharge.run"}) == {}  # idempotent: nothing left
    assert club.balance("ann").available == 25
    ok(j.store)
