"""Coupons and affiliate codes: limits, expiry, idempotent and race-safe redemption, royalties."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock

from .conftest import events, ok


def test_a_key_first_used_to_redeem_a_coupon_is_named_so_when_refused(
        club: jeton.Community) -> None:
    club.create_coupon("welcome-24", credits=15)
    club.redeem_coupon("ann", "WELCOME-24", idempotency_key="ann-welcome")
    with pytest.raises(jeton.IdempotencyConflict) as refused:
        club.spend("ann", 5, idempotency_key="ann-welcome")
    assert refused.value.detail == (
        "idempotency key 'ann-welcome' was already used for a different request (a coupon's "
        "redemption); a new request needs a new key")
    assert club.balance("ann").posted == 15


def test_a_welcome_code_gives_credits_and_a_key_once_per_member(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    club.create_coupon("welcome-24", credits=15, credit_expiry_days=30,
                       keys=[("openings-archive", 30)])
    got = club.redeem_coupon("ann", " Welcome-24 ", idempotency_key="ann-welcome")
    assert (got.code, got.credits, got.keys) == ("WELCOME-24", 15, ["openings-archive"])
    lot = club.lots("ann")[0]
    assert (lot.source, lot.paid, lot.expires_at) == ("coupon", False,
                                                      clock.now() + timedelta(days=30))
    replay = club.redeem_coupon("ann", "WELCOME-24", idempotency_key="ann-welcome")
    assert replay.replayed
    assert replay.id == got.id
    with pytest.raises(jeton.Declined) as again:
        club.redeem_coupon("ann", "WELCOME-24", idempotency_key="ann-welcome-2")
    assert again.value.status is jeton.Status.limit_exceeded
    assert club.balance("ann").available == 15
    assert club.get_coupon("welcome-24").redeemed_count == 1
    ok(j.store)


def test_a_code_stops_at_its_total_limit_and_at_its_expiry(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    club.create_coupon("FIRST2", credits=5, max_redemptions=2)
    club.redeem_coupon("ann", "FIRST2", idempotency_key="a")
    club.redeem_coupon("bob", "FIRST2", idempotency_key="b")
    with pytest.raises(jeton.Declined) as full:
        club.redeem_coupon("cy", "FIRST2", idempotency_key="c")
    assert full.value.status is jeton.Status.limit_exceeded
    club.create_coupon("SPRING", credits=5, expires_at=clock.now() + timedelta(days=1))
    clock.advance(days=2)
    with pytest.raises(jeton.Declined) as late:
        club.redeem_coupon("cy", "SPRING", idempotency_key="c2")
    assert "expired" in late.value.detail
    with pytest.raises(jeton.NotFound):
        club.redeem_coupon("cy", "NO-SUCH-CODE", idempotency_key="c3")
    assert club.balance("cy").posted == 0
    ok(j.store)


def test_a_code_may_give_a_class(j: jeton.Jeton, club: jeton.Community,
                                 clock: ManualClock) -> None:
    club.create_coupon("VIPWEEK", classes=[("vip", 7)])
    club.redeem_coupon("bob", "VIPWEEK", idempotency_key="bob-vip")
    assert [(h.name, h.expires_at) for h in club.member_holdings("bob").classes] == [
        ("vip", clock.now() + timedelta(days=7))]
    assert club.balance("bob").posted == 0


def test_many_members_racing_for_the_last_redemptions_never_exceed_the_limit(
        j: jeton.Jeton, club: jeton.Community) -> None:
    club.create_coupon("RUSH", credits=1, max_redemptions=5)
    members = [f"m{n}" for n in range(12)]
    for m in members:
        club.create_member(m)
    start = threading.Barrier(len(members) + 3)
    won: list[str] = []
    refused: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def redeem(member: str, key: str) -> None:
        start.wait()
        try:
            club.redeem_coupon(member, "RUSH", idempotency_key=key)
            with lock:
                won.append(member)
        except jeton.Declined:
            with lock:
                refused.append(member)
        except BaseException as exc:  # reported below
            with lock:
                errors.append(exc)

    jobs = [(m, f"rush-{m}") for m in members]
    jobs += [("m0", "rush-m0-again"), ("m0", "rush-m0-third"), ("m1", "rush-m1-again")]
    threads = [threading.Thread(target=redeem, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(won) == 5
    assert len(set(won)) == 5
    assert club.get_coupon("RUSH").redeemed_count == 5
    assert sum(club.balance(m).posted for m in members) == 5
    ok(j.store)


def test_an_affiliate_pays_for_codes_and_earns_a_royalty_on_each_redemption(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    club.set_affiliate_program(jeton.AffiliateProgram(
        classes=["coach"], fee_per_code=2, credits=10, royalty=3, codes_per_member_max=5))
    buy("ann", "p20")
    with pytest.raises(jeton.Declined) as not_coach:
        club.create_affiliate_codes("ann", 2, idempotency_key="ann-codes")
    assert not_coach.value.status is jeton.Status.forbidden
    club.grant_class("ann", "coach")
    codes = club.create_affiliate_codes("ann", 2, idempotency_key="ann-codes")
    assert len(codes.codes) == 2
    assert codes.fee == 4
    assert club.balance("ann").available == 16
    again = club.create_affiliate_codes("ann", 2, idempotency_key="ann-codes")
    assert again.replayed
    assert again.codes == codes.codes
    with pytest.raises(jeton.Declined) as too_many:
        club.create_affiliate_codes("ann", 4, idempotency_key="ann-more")
    assert too_many.value.status is jeton.Status.limit_exceeded

    club.redeem_coupon("bob", codes.codes[0], idempotency_key="bob-aff")
    club.redeem_coupon("cy", codes.codes[0], idempotency_key="cy-aff")
    assert club.balance("bob").available == 10
    assert club.balance("cy").available == 10
    assert club.balance("ann").available == 16 + 2 * 3
    with pytest.raises(jeton.Declined) as own:
        club.redeem_coupon("ann", codes.codes[1], idempotency_key="ann-own")
    assert own.value.status is jeton.Status.forbidden
    royalties = [lot for lot in club.lots("ann") if lot.source == "royalty"]
    assert [lot.remaining for lot in royalties] == [6]
    assert len(events(j.store, "coupon.redeemed")) == 2
    ok(j.store)
