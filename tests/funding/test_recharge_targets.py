"""Auto-recharge to a target balance: a member who falls under their threshold gets as many of
the pack as bring them back to their target (bonus credits counting), rounded up to whole packs,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import jeton
from jeton.payments.offline import DEMO_METHOD_OK

from .conftest import events, ok


def _card(club: jeton.Community, member: str) -> None:
    club.set_payment_method(member, provider="demo", customer_id=f"cus_{member}",
                            payment_method_id=DEMO_METHOD_OK)


def test_a_recharge_buys_enough_packs_to_reach_the_target(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("ann", "p20")
    _card(club, "ann")
    info = club.set_auto_recharge("ann", pack_id="p20", threshold=10, monthly_cap=3,
                                  target=75)
    assert info.target == 75
    club.spend("ann", 12, idempotency_key="g1", service="chess.game")  # 8 left
    assert club.run_funding_jobs()["recharge.run"] == 1
    # 8 -> 75 needs 67: four packs of 20 (80), the last one rounding up.
    assert club.balance("ann").available == 8 + 80
    [recharge] = [p for p in club.list_purchases("ann").data if p.kind == "recharge"]
    assert (recharge.status, recharge.credits, recharge.amount_minor) == (
        "completed", 80, 4 * 6000)
    assert recharge.description == "4 × 20 credits"
    assert [e["credits"] for e in events(j.store, "recharge.succeeded")] == [80]
    # One recharge of the monthly cap, however many packs it bought.
    assert club.get_auto_recharge("ann").recharges_this_month == 1  # type: ignore[union-attr]
    ok(j.store)


def test_bonus_credits_count_toward_the_target_and_one_pack_without_a_target(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    club.create_pack("10 + 5 bonus", pack_id="p10b", credits=10, price_minor=3000,
                     bonus_credits=5)
    buy("bob", "p20")
    _card(club, "bob")
    club.set_auto_recharge("bob", pack_id="p10b", threshold=5, monthly_cap=3, target=40)
    club.spend("bob", 20, idempotency_key="g1", service="chess.game")  # 0 left
    club.run_funding_jobs()
    assert club.balance("bob").available == 45  # three packs of 15: 45 >= 40
    # Without a target, the same setting buys one pack, as before.
    club.set_auto_recharge("bob", pack_id="p10b", threshold=50, monthly_cap=3)
    assert club.get_auto_recharge("bob").target is None  # type: ignore[union-attr]
    club.run_funding_jobs()
    assert club.balance("bob").available == 45 + 15
    ok(j.store)


def test_a_target_must_be_above_the_threshold(club: jeton.Community,
                                              buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("cy", "p20")
    _card(club, "cy")
    with pytest.raises(jeton.InvalidRequest):
        club.set_auto_recharge("cy", pack_id="p20", threshold=10, monthly_cap=1, target=10)
    assert club.get_auto_recharge("cy") is None
