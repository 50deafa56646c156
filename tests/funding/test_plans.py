"""Plans: credits granted at each cycle start, expiring at its end, renewals charged to the
saved card, failures reported and retried, cancellation at period end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.payments.offline import DEMO_METHOD_DECLINED, DEMO_METHOD_OK

from .conftest import CANCEL, SUCCESS, events, ok, pay

JAN_31 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def _card(club: jeton.Community, member: str, method: str = DEMO_METHOD_OK) -> None:
    club.set_payment_method(member, provider="demo", customer_id=f"cus_{member}",
                            payment_method_id=method)


def _tick(club: jeton.Community) -> None:
    """What `jeton worker` does as time passes: renewals, recharges, then expiry."""
    club.run_funding_jobs()
    club.run_expiry()


def test_a_monthly_plan_over_three_cycles(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    clock.set(JAN_31)
    buy("ann", "p20")  # 20 permanent credits she bought
    _card(club, "ann")
    club.create_plan("Club monthly", plan_id="monthly", cycle="monthly", credits=100,
                     price_minor=1000, member_class="member")

    # Cycle 0, Jan 31 - Feb 28: 100 credits that expire at the cycle's end, and the class.
    sub = club.subscribe("ann", "monthly", idempotency_key="ann-monthly")
    assert sub.status == "active"
    assert sub.current_cycle == 0
    assert sub.current_period_end == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert club.balance("ann").available == 120
    holdings = club.member_holdings("ann")
    assert [(h.name, h.expires_at) for h in holdings.classes] == [
        ("member", datetime(2026, 2, 28, 9, 0, tzinfo=UTC))]
    ok(j.store)

    # She plays: the expiring plan credits go first, her bought credits stay.
    club.spend("ann", 30, idempotency_key="games-jan", service="chess.game")
    left = {lot.source: lot.remaining for lot in club.lots("ann")}
    assert left == {"plan": 70, "purchase": 20}
    # Next cycle's credits cannot be used early.
    clock.set(datetime(2026, 2, 28, 8, 59, tzinfo=UTC))
    _tick(club)
    with pytest.raises(jeton.InsufficientCredits):
        club.spend("ann", 91, idempotency_key="too-much", service="chess.game")
    ok(j.store)

    # Cycle 1, Feb 28 - Mar 31 (the anchor day comes back after February).
    clock.set(datetime(2026, 2, 28, 9, 0, tzinfo=UTC))
    _tick(club)
    assert club.account_balance("breakage").posted == 70  # the unused 70 expired
    assert club.get_subscription(sub.id).current_period_end == datetime(
        2026, 3, 31, 9, 0, tzinfo=UTC)
    assert club.balance("ann").available == 120
    club.spend("ann", 110, idempotency_key="games-feb", service="chess.game")
    assert {lot.source: lot.remaining for lot in club.lots("ann")} == {"purchase": 10}
    ok(j.store)

    # Cycle 2, Mar 31 - Apr 30: nothing of cycle 1 was left to expire.
    clock.set(datetime(2026, 3, 31, 9, 0, tzinfo=UTC))
    _tick(club)
    assert club.account_balance("breakage").posted == 70
    club.spend("ann", 10, idempotency_key="games-mar", service="chess.game")
    club.cancel_subscription(sub.id)  # at period end
    assert club.get_subscription(sub.id).cancel_at_period_end
    ok(j.store)

    clock.set(datetime(2026, 4, 30, 9, 0, tzinfo=UTC))
    _tick(club)
    ended = club.get_subscription(sub.id)
    assert ended.status == "canceled"
    assert ended.end_reason == "canceled"
    assert club.account_balance("breakage").posted == 70 + 90
    assert club.balance("ann").available == 10  # her bought credits, never expiring
    assert club.member_holdings("ann").classes == []
    assert club.account_balance("revenue").posted == 30 + 110 + 10
    # Three cycles paid, one pack bought: the money is all recorded.
    assert club.account_balance("deferred", asset="USD").posted == 3 * 1000 + 6000
    assert [e["cycle"] for e in events(j.store, "subscription.cycle_started")] == [0, 1, 2]
    # Nothing more happens once it ended.
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    _tick(club)
    assert club.balance("ann").available == 10
    ok(j.store)


def test_a_plan_bought_to_start_later_grants_nothing_until_it_starts(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    clock.set(JAN_31)
    _card(club, "bob")
    club.create_plan("Weekly", plan_id="weekly", cycle="weekly", credits=10, price_minor=300)
    sub = club.subscribe("bob", "weekly", idempotency_key="bob-weekly",
                         start_at=datetime(2026, 2, 10, tzinfo=UTC))
    assert sub.status == "scheduled"
    _tick(club)
    assert club.balance("bob").posted == 0
    clock.set(datetime(2026, 2, 9, 23, 59, tzinfo=UTC))
    _tick(club)
    assert club.balance("bob").posted == 0
    assert club.list_purchases("bob").data == []  # not charged either
    clock.set(datetime(2026, 2, 10, tzinfo=UTC))
    _tick(club)
    info = club.get_subscription(sub.id)
    assert info.status == "active"
    assert info.current_period_end == datetime(
        2026, 2, 17, tzinfo=UTC)
    assert club.balance("bob").available == 10
    ok(j.store)


def test_a_failed_renewal_is_reported_retried_and_then_succeeds(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    clock.set(JAN_31)
    _card(club, "cy")
    club.create_plan("Club monthly", plan_id="monthly", cycle="monthly", credits=100,
                     price_minor=1000)
    sub = club.subscribe("cy", "monthly", idempotency_key="cy-monthly")
    assert club.balance("cy").available == 100

    _card(club, "cy", DEMO_METHOD_DECLINED)  # the card stops working
    clock.set(datetime(2026, 2, 28, 9, 0, tzinfo=UTC))
    _tick(club)
    info = club.get_subscription(sub.id)
    assert info.status == "past_due"
    assert info.failed_attempts == 1
    failed = events(j.store, "subscription.renewal_failed", "cy")
    assert [(e["reason"], e["attempt"]) for e in failed] == [("card_declined", 1)]
    assert club.balance("cy").available == 0  # cycle 0 expired, cycle 1 not paid: nothing
    ok(j.store)

    # Retried a day later with a card that works: the cycle is granted until its end.
    _card(club, "cy")
    clock.advance(hours=23)
    _tick(club)
    assert club.get_subscription(sub.id).status == "past_due"  # not yet
    clock.advance(hours=1)
    _tick(club)
    info = club.get_subscription(sub.id)
    assert info.status == "active"
    assert info.failed_attempts == 0
    assert info.current_period_end == datetime(2026, 3, 31, 9, 0, tzinfo=UTC)
    assert club.balance("cy").available == 100
    ok(j.store)


def test_renewals_that_keep_failing_end_the_subscription(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    clock.set(JAN_31)
    _card(club, "cy", DEMO_METHOD_DECLINED)
    club.create_plan("Club monthly", plan_id="monthly", cycle="monthly", credits=100,
                     price_minor=1000)
    sub = club.subscribe("cy", "monthly", idempotency_key="cy-monthly")
    assert club.get_subscription(sub.id).status == "past_due"
    for _ in range(12):
        clock.advance(days=1)
        _tick(club)
    info = club.get_subscription(sub.id)
    assert info.status == "canceled"
    assert info.end_reason == "renewal_failed"
    attempts = [e["attempt"] for e in events(j.store, "subscription.renewal_failed", "cy")]
    assert attempts == [1, 2, 3]  # and the fourth failure ended it
    assert [e["reason"] for e in events(j.store, "subscription.canceled", "cy")] == [
        "renewal_failed"]
    assert club.balance("cy").posted == 0
    failed = [p for p in club.list_purchases("cy").data if p.status == "failed"]
    assert len(failed) == 4
    ok(j.store)


def test_without_a_saved_card_the_first_cycle_is_paid_on_a_checkout_page(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    clock.set(JAN_31)
    club.create_plan("Club monthly", plan_id="monthly", cycle="monthly", credits=100,
                     price_minor=1000)
    with pytest.raises(jeton.InvalidRequest):
        club.subscribe("bob", "monthly", idempotency_key="bob-no-url")
    sub = club.subscribe("bob", "monthly", idempotency_key="bob-monthly",
                         success_url=SUCCESS, cancel_url=CANCEL)
    assert sub.status == "incomplete"
    assert sub.checkout is not None
    assert club.balance("bob").posted == 0
    pay(j, sub.checkout)
    info = club.get_subscription(sub.id)
    assert info.status == "active"
    assert info.current_cycle == 0
    assert club.balance("bob").available == 100
    # The card saved on the checkout pays the renewal.
    clock.set(datetime(2026, 2, 28, 9, 0, tzinfo=UTC))
    _tick(club)
    assert club.get_subscription(sub.id).current_cycle == 1
    assert club.balance("bob").available == 100
    ok(j.store)


def test_an_abandoned_first_checkout_never_starts_the_subscription(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    club.create_plan("Club monthly", plan_id="monthly", cycle="monthly", credits=100,
                     price_minor=1000)
    sub = club.subscribe("cy", "monthly", idempotency_key="cy-monthly",
                         success_url=SUCCESS, cancel_url=CANCEL)
    clock.advance(timedelta(hours=26))
    _tick(club)
    info = club.get_subscription(sub.id)
    assert info.status == "canceled"
    assert info.end_reason == "checkout_expired"
    ok(j.store)


def test_canceling_now_ends_at_once_and_keeps_what_was_granted(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    clock.set(JAN_31)
    _card(club, "ann")
    club.create_plan("Club monthly", plan_id="monthly", cycle="monthly", credits=100,
                     price_minor=1000)
    sub = club.subscribe("ann", "monthly", idempotency_key="ann-monthly")
    ended = club.cancel_subscription(sub.id, at_period_end=False)
    assert ended.status == "canceled"
    assert club.balance("ann").available == 100  # until Feb 28
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    _tick(club)
    assert club.balance("ann").available == 0
    assert len(club.list_purchases("ann").data) == 1
    ok(j.store)


def test_a_list_of_subscriptions_reads_their_cycles_in_one_statement(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    """Each subscription in the list names its current cycle; the cycles of all of them are
    one read, not one read each (the owner's plan page lists up to a hundred)."""
    import sqlalchemy as sa

    clock.set(JAN_31)
    club.create_plan("Club monthly", plan_id="monthly", cycle="monthly", credits=100,
                     price_minor=1000)
    for member in ("ann", "bob", "cy"):
        _card(club, member)
        club.subscribe(member, "monthly", idempotency_key=f"{member}-monthly")
    clock.set(datetime(2026, 2, 28, 9, 1, tzinfo=UTC))
    _tick(club)  # ann, bob and cy renew: cycle 1 is current
    club.cancel_subscription(club.list_subscriptions("cy")[0].id, at_period_end=False)
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(j.store.engine, "before_cursor_execute", seen)
    try:
        subs = club.list_subscriptions()
    finally:
        sa.event.remove(j.store.engine, "before_cursor_execute", seen)
    assert sorted((s.member_id, s.status, s.current_cycle) for s in subs) == [
        ("ann", "active", 1), ("bob", "active", 1), ("cy", "canceled", 1)]
    assert subs[0].current_period_end == datetime(2026, 3, 31, 9, 0, tzinfo=UTC)
    assert sum("subscription_cycles" in s for s in statements) == 1, statements
    assert club.get_subscription(subs[0].id) == subs[0]
