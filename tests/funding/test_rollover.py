"""Capped rollover: a plan whose catalog terms roll half of the unused cycle credits, at most
60, for two cycles; what does not roll expires to breakage as before. On SQLite and
PostgreSQL, checking every ledger invariant as the months go by."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.payments.offline import DEMO_METHOD_OK

from .conftest import events, ok

JAN_1 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
APR_1 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
CATALOG = """
[services."chess.game"]
name = "A game"
credits = 1

[plans.monthly.rollover]
share_percent = 50
cap = 60
cycles = 2
"""


def _tick(club: jeton.Community) -> None:
    club.run_funding_jobs()
    club.run_expiry()


def _subscribed(club: jeton.Community, clock: ManualClock, *, price_minor: int = 1000,
                plan_id: str = "monthly") -> jeton.SubscriptionInfo:
    clock.set(JAN_1)
    club.set_payment_method("ann", provider="demo", customer_id="cus_ann",
                            payment_method_id=DEMO_METHOD_OK)
    club.create_plan("Club monthly", plan_id=plan_id, cycle="monthly", credits=100,
                     price_minor=price_minor)
    club.load_catalog(CATALOG, "toml")
    return club.subscribe("ann", plan_id, idempotency_key=f"ann-{plan_id}")


def _lots(club: jeton.Community) -> list[tuple[str, int, bool, int, datetime | None]]:
    return sorted((lot.source, lot.remaining, lot.paid, lot.cost_minor, lot.expires_at)
                  for lot in club.lots("ann"))


def test_half_of_the_unused_credits_roll_up_to_the_cap_for_two_cycles(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    _subscribed(club, clock)
    club.spend("ann", 20, idempotency_key="jan", service="chess.game")  # 80 unused in January

    clock.set(FEB_1)
    _tick(club)
    # Half of 80 is 40 (under the cap of 60): a new lot, paid like the plan's credits, with
    # the cost of 40 of the 100 credits that cost $10.00, expiring at the end of February.
    assert _lots(club) == [("plan", 100, True, 1000, MAR_1),
                           ("rollover", 40, True, 400, MAR_1)]
    assert club.account_balance("breakage").posted == 40
    [rolled] = events(j.store, "credits.rolled_over")
    assert (rolled["amount"], rolled["unused"]) == (40, 80)
    assert [(lot["amount"], lot["rolls"]) for lot in rolled["lots"]] == [(40, 1)]
    [forfeited] = events(j.store, "credits.rollover_forfeited")
    assert (forfeited["amount"], forfeited["share_percent"]) == (40, 50)
    assert events(j.store, "credits.expired") == []
    ok(j.store)

    # February: nothing spent. 140 unused: half is 70, capped at 60, taken from February's own
    # credits (they have rolled the fewest times); January's 40 go to breakage.
    clock.set(MAR_1)
    _tick(club)
    assert _lots(club) == [("plan", 100, True, 1000, APR_1),
                           ("rollover", 60, True, 600, APR_1)]
    assert club.account_balance("breakage").posted == 40 + 80
    ok(j.store)


def test_credits_that_rolled_their_cycles_expire_as_before(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    _subscribed(club, clock)
    club.load_catalog(CATALOG.replace("cycles = 2", "cycles = 1").replace(
        "cap = 60", "cap = 500"), "toml")
    clock.set(FEB_1)
    _tick(club)  # January's 100: 50 roll (once), 50 to breakage
    clock.set(MAR_1)
    _tick(club)  # February's 100: 50 roll; January's rolled 50 may not roll again
    assert _lots(club) == [("plan", 100, True, 1000, APR_1),
                           ("rollover", 50, True, 500, APR_1)]
    assert club.account_balance("breakage").posted == 50 + 50 + 50
    assert [e["amount"] for e in events(j.store, "credits.expired")] == [50]
    assert [e["amount"] for e in events(j.store, "credits.rolled_over")] == [50, 50]
    ok(j.store)


def test_nothing_rolls_when_the_subscription_stops_or_the_plan_has_no_terms(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    sub = _subscribed(club, clock)
    club.cancel_subscription(sub.id)  # at the period's end: no next cycle
    clock.set(FEB_1)
    _tick(club)
    assert club.account_balance("breakage").posted == 100
    assert events(j.store, "credits.rolled_over") == []
    assert [e["amount"] for e in events(j.store, "credits.expired")] == [100]
    ok(j.store)


def test_a_free_plan_rolls_free_credits_and_the_whole_share_may_roll(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    _subscribed(club, clock, price_minor=0, plan_id="free")
    club.load_catalog(CATALOG + "\n[plans.free.rollover]\ncap = 500\n", "toml")
    clock.set(FEB_1)
    _tick(club)
    assert _lots(club) == [("plan", 100, False, 0, MAR_1), ("rollover", 100, False, 0, MAR_1)]
    assert club.account_balance("breakage").posted == 0
    assert events(j.store, "credits.rollover_forfeited") == []
    ok(j.store)


def test_rollover_terms_are_checked_with_their_line(club: jeton.Community) -> None:
    bad = CATALOG.replace("share_percent = 50", "share_percent = 0").replace(
        "cycles = 2", "cycles = 13")
    with pytest.raises(jeton.InvalidRequest) as refused:
        club.load_catalog(bad + '\n[plans."no good"]\nrollover = {}\n', "toml")
    errors = [(e["line"], e["where"]) for e in refused.value.extra["errors"]]
    assert errors == [(7, "plans.monthly.rollover.share_percent"),
                      (9, "plans.monthly.rollover.cycles"),
                      (11, 'plans."no good"'),
                      (12, 'plans."no good".rollover')]
    assert "cycles must be an integer 1-12, got 13" in refused.value.extra["errors"][1]["reason"]
    assert club.catalog().version == 0  # nothing was loaded


