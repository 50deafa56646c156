"""Metered use: a video call holds credits for its estimate and captures what it used."""

from __future__ import annotations

from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.charging import metered as metered_module
from jeton.services.charging.metered import Metering
from jeton.store.engine import Store

from .conftest import Check, counts


def test_video_call_holds_ten_minutes_and_captures_seven(shop: jeton.Community,
                                                         store: Store, invariants: Check) -> None:
    shop.grant("dave", 300, idempotency_key="g")
    call = shop.start_metered("dave", "video.minute", 10, idempotency_key="call-1")
    invariants(store)
    assert (call.held, call.price.credits, call.hold_id) == (200, 200, call.id)
    balance = shop.balance("dave")
    assert (balance.posted, balance.pending, balance.available) == (300, 200, 100)
    receipt = shop.finish_metered(call.id, 7, idempotency_key="call-1-end")
    invariants(store)
    assert (receipt.captured, receipt.released, receipt.uncharged) == (140, 60, 0)
    assert receipt.price.units == 7
    assert [(s.target, s.amount) for s in receipt.splits] == [("account:revenue", 140)]
    assert receipt.balance_after == 160
    balance = shop.balance("dave")
    assert (balance.posted, balance.pending, balance.available) == (160, 0, 160)
    assert shop.get_hold(call.id).status == "captured"
    assert shop.account_balance("revenue").posted == 140


def test_consultation_captures_with_the_experts_share(shop: jeton.Community,
                                                      store: Store, invariants: Check) -> None:
    shop.grant("alice", 100, idempotency_key="g")
    call = shop.start_metered("alice", "consult.minute", 5, context={"expert": "carol"},
                              idempotency_key="c-1")
    receipt = shop.finish_metered(call.id, 4, idempotency_key="c-1-end")
    invariants(store)
    assert [(s.target, s.member or s.account, s.amount) for s in receipt.splits] == [
        ("party:expert", "carol", 20), ("account:appstore", "appstore", 1),
        ("account:revenue", "revenue", 19)]
    assert shop.balance("carol").available == 20
    assert shop.balance("alice").available == 60


def test_a_call_longer_than_its_hold_is_captured_up_to_the_hold(shop: jeton.Community,
                                                                store: Store,
                                                                invariants: Check) -> None:
    shop.grant("dave", 300, idempotency_key="g")
    call = shop.start_metered("dave", "video.minute", 5, idempotency_key="call")
    receipt = shop.finish_metered(call.id, 8, idempotency_key="end")
    invariants(store)
    assert (receipt.captured, receipt.released, receipt.uncharged) == (100, 0, 60)
    assert shop.balance("dave").available == 200


def test_finishing_again_with_the_same_key_replays_and_another_key_is_refused(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.grant("dave", 300, idempotency_key="g")
    call = shop.start_metered("dave", "video.minute", 10, idempotency_key="call")
    assert shop.start_metered("dave", "video.minute", 10, idempotency_key="call").replayed
    first = shop.finish_metered(call.id, 7, idempotency_key="end")
    again = shop.finish_metered(call.id, 7, idempotency_key="end")
    assert again.replayed
    assert again.model_copy(update={"replayed": False}) == first
    with pytest.raises(jeton.IdempotencyConflict):
        shop.finish_metered(call.id, 6, idempotency_key="end")
    with pytest.raises(jeton.Conflict) as finished:
        shop.finish_metered(call.id, 7, idempotency_key="end-2")
    assert finished.value.status is jeton.Status.hold_not_active
    invariants(store)
    assert shop.balance("dave").available == 160


def test_a_call_nobody_finishes_expires_and_gives_the_credits_back(
        shop: jeton.Community, clock: ManualClock, store: Store, invariants: Check) -> None:
    shop.grant("dave", 300, idempotency_key="g")
    call = shop.start_metered("dave", "video.minute", 10, idempotency_key="call",
                              timeout_s=600)
    clock.advance(minutes=10)
    assert shop.run_expiry() == 1
    invariants(store)
    assert shop.balance("dave").available == 300
    with pytest.raises(jeton.Conflict) as expired:
        shop.finish_metered(call.id, 7, idempotency_key="late")
    assert expired.value.status is jeton.Status.hold_expired


def test_free_trial_minutes_are_counted_when_the_call_finishes(shop: jeton.Community,
                                                               store: Store,
                                                               invariants: Check) -> None:
    shop.grant("bob", 100, idempotency_key="g")
    first = shop.start_metered("bob", "video.trial", 2, idempotency_key="t1")
    assert (first.held, first.hold_id, first.free_units) == (0, None, 2)
    done = shop.finish_metered(first.id, 2, idempotency_key="t1-end")
    assert (done.captured, done.free_units) == (0, 2)
    second = shop.start_metered("bob", "video.trial", 4, idempotency_key="t2")
    assert (second.held, second.free_units) == (15, 1)  # one free minute left, three at 5
    done = shop.finish_metered(second.id, 3, idempotency_key="t2-end")
    invariants(store)
    assert (done.captured, done.released, done.free_units) == (10, 5, 1)
    assert shop.balance("bob").available == 90
    assert shop.check("bob", "video.trial").allowance_left == 0


def test_vip_lounge_session_holds_nothing_for_a_vip(shop: jeton.Community,
                                                    store: Store, invariants: Check) -> None:
    shop.grant_class("alice", "vip")
    before = counts(store)
    session = shop.start_metered("alice", "chat.lounge", 1, idempotency_key="s")
    assert (session.held, session.hold_id) == (0, None)
    receipt = shop.finish_metered(session.id, 1, idempotency_key="s-end")
    assert (receipt.captured, receipt.transfer_id) == (0, None)
    after = counts(store)
    assert after["transfers"] == before["transfers"]
    invariants(store)


def test_starting_a_call_without_credits_is_declined_and_holds_nothing(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.grant("dave", 50, idempotency_key="g")
    with pytest.raises(jeton.InsufficientCredits) as declined:
        shop.start_metered("dave", "video.minute", 10, idempotency_key="call")
    assert (declined.value.extra["balance"], declined.value.extra["required"]) == (50, 200)
    assert shop.balance("dave").pending == 0
    invariants(store)


def test_a_price_change_mid_call_does_not_change_what_the_call_costs(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    from .conftest import SHOP_CATALOG

    shop.grant("dave", 300, idempotency_key="g")
    call = shop.start_metered("dave", "video.minute", 10, idempotency_key="call")
    shop.load_catalog(SHOP_CATALOG.replace("credits = 20\nunit", "credits = 25\nunit"))
    assert shop.check("dave", "video.minute").charge == 25
    receipt = shop.finish_metered(call.id, 7, idempotency_key="end")
    assert receipt.captured == 140
    invariants(store)


def test_a_session_expires_at_its_timeout_even_without_a_hold(
        shop: jeton.Community, clock: ManualClock) -> None:
    session = shop.start_metered("bob", "video.trial", 1, idempotency_key="t",
                                 timeout_s=60)
    clock.advance(timedelta(seconds=61))
    with pytest.raises(jeton.Conflict):
        shop.finish_metered(session.id, 1, idempotency_key="t-end")


def test_a_call_that_never_connected_releases_its_whole_hold(shop: jeton.Community,
                                                             store: Store,
                                                             invariants: Check) -> None:
    shop.grant("dave", 300, idempotency_key="g")
    call = shop.start_metered("dave", "video.minute", 10, idempotency_key="call")
    receipt = shop.finish_metered(call.id, 0, idempotency_key="end")
    invariants(store)
    assert (receipt.captured, receipt.released, receipt.transfer_id) == (0, 200, None)
    assert shop.get_hold(call.id).status == "voided"
    assert shop.balance("dave").available == 300
    assert shop.finish_metered(call.id, 0, idempotency_key="end").replayed


def test_a_start_whose_key_was_used_for_something_else_holds_nothing(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.grant("dave", 300, idempotency_key="g")
    shop.charge("dave", "classifieds.ad", idempotency_key="k-1")
    with pytest.raises(jeton.IdempotencyConflict):
        shop.start_metered("dave", "video.minute", 10, idempotency_key="k-1")
    invariants(store)
    assert shop.balance("dave").pending == 0


def test_a_finish_here_of_a_use_finished_elsewhere_answers_from_the_database(
        shop: jeton.Community, store: Store, invariants: Check,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The process that started a use prices its finish from the row it wrote (decision
    0106); when another process finished the use meanwhile, the answer is the one the
    database's row gives: a replay of the same finish, a conflict for another, and another
    quantity under the same key refused."""
    shop.grant("dave", 1_000, idempotency_key="g")
    elsewhere = jeton.Jeton(store, clock=shop.jeton.clock).community(shop.id)
    calls = [shop.start_metered("dave", "video.minute", 5, idempotency_key=f"call-{i}")
             for i in range(4)]
    shop.finish_metered(calls[3].id, 3, idempotency_key="end-3")  # its leases read here
    first = elsewhere.finish_metered(calls[0].id, 3, idempotency_key="end-0")
    priced: list[str] = []
    for name in ("_price_remembered", "_price"):
        method = getattr(Metering, name)
        monkeypatch.setattr(Metering, name, lambda *a, _n=name, _m=method: (
            priced.append(_n), _m(*a))[1])
    again = shop.finish_metered(calls[0].id, 3, idempotency_key="end-0")
    assert priced == ["_price_remembered"]  # its capture's key answered as the first
    assert again.replayed
    assert not first.replayed
    assert (again.transfer_id, again.captured) == (first.transfer_id, first.captured) == (
        first.transfer_id, 60)

    elsewhere.finish_metered(calls[1].id, 3, idempotency_key="end-1")
    with pytest.raises(jeton.Conflict) as finished:
        shop.finish_metered(calls[1].id, 3, idempotency_key="another-end")
    assert finished.value.status.value == "hold_not_active"
    assert priced[-2:] == ["_price_remembered", "_price"]  # the hold was settled: read it

    elsewhere.finish_metered(calls[2].id, 3, idempotency_key="end-2")
    with pytest.raises(jeton.IdempotencyConflict):
        shop.finish_metered(calls[2].id, 4, idempotency_key="end-2")
    invariants(store)
    balance = shop.balance("dave")
    assert (balance.posted, balance.pending) == (1_000 - 4 * 60, 0)
    assert shop.account_balance("revenue").posted == 4 * 60


def test_a_process_keeps_at_most_its_limit_of_started_uses_and_of_lease_readings(
        shop: jeton.Community, store: Store, invariants: Check,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The oldest started use is forgotten past the limit: its finish reads the database
    and is the same (decision 0106)."""
    monkeypatch.setattr(metered_module, "STARTED_KEPT", 2)
    metering = shop.jeton.charging.metering
    shop.grant("dave", 1_000, idempotency_key="g")
    calls = [shop.start_metered("dave", "video.minute", 5, idempotency_key=f"call-{i}")
             for i in range(3)]
    priced: list[str] = []
    price = Metering._price
    monkeypatch.setattr(Metering, "_price", lambda *a: (priced.append("read"), price(*a))[1])
    receipts = [shop.finish_metered(call.id, 3, idempotency_key=f"end-{call.id}")
                for call in calls]
    assert priced == ["read"]  # the first use, forgotten; the others priced from memory
    assert [r.captured for r in receipts] == [60, 60, 60]
    for community in ("a", "b", "c"):
        metering._keep_leases(community, [])
    assert len(metering._leases) <= 2
    invariants(store)
