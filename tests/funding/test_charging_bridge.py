"""What funding tells charging: a plan's discount, packs to suggest to a member short of
credits, and the classes a pack or plan gives opening locked services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import jeton
from jeton.core.clock import ManualClock
from jeton.payments.offline import DEMO_METHOD_OK

from .conftest import ok

CATALOG = """
[services."chess.game"]
name = "Rated game"
credits = 10

[services."chess.masterclass"]
name = "Masterclass"
credits = 30
access = { level = "locked", any_of = ["class:member"] }
"""


def test_a_plan_with_a_discount_halves_the_price_while_its_cycle_runs(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    clock.set(datetime(2026, 1, 31, 9, tzinfo=UTC))
    club.load_catalog(CATALOG)
    club.set_payment_method("ann", provider="demo", customer_id="cus_ann",
                            payment_method_id=DEMO_METHOD_OK)
    club.create_plan("Half price", plan_id="half", cycle="monthly", credits=100,
                     price_minor=1000, member_class="member", discount_bp=5000)
    assert club.check("ann", "chess.game").price is not None
    sub = club.subscribe("ann", "half", idempotency_key="ann-half")
    check = club.check("ann", "chess.game")
    assert check.allowed
    assert check.charge == 5
    assert club.check("ann", "chess.masterclass").allowed  # the plan's class opens it
    club.cancel_subscription(sub.id, at_period_end=True)
    clock.set(datetime(2026, 2, 28, 9, tzinfo=UTC))
    club.run_funding_jobs()
    club.run_expiry()
    assert club.check("ann", "chess.game").charge == 10  # the plan ended: full price
    assert not club.check("ann", "chess.masterclass").allowed
    ok(j.store)


def test_a_member_short_of_credits_is_shown_the_cheapest_pack_that_covers_it(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    club.load_catalog(CATALOG)
    buy("bob", "p20")
    club.spend("bob", 15, idempotency_key="earlier", service="chess.game")
    check = club.check("bob", "chess.masterclass")
    assert not check.allowed  # no class, and locked: a class is what is missing
    check = club.check("bob", "chess.game", 4)  # 40 credits, he has 5
    assert check.status == "insufficient_credits"
    suggested = [f.name for f in check.fixes if f.kind == "buy_pack"]
    assert suggested == ["50 credits", "100 credits", "20 credits"]  # cheapest covering first
    ok(j.store)
