"""Rewards: a service posts credits to a member, within a per-member limit per period."""

from __future__ import annotations

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.store.engine import Store

from .conftest import Check, counts


def test_completing_a_poll_earns_five_credits_from_promotions(shop: jeton.Community,
                                                              store: Store,
                                                              invariants: Check) -> None:
    result = shop.reward("alice", "poll.completed", idempotency_key="poll-1")
    invariants(store)
    assert (result.status, result.credits, result.left, result.balance_after) == ("ok", 5, 2, 5)
    assert shop.account_balance("promotions").posted == -5
    assert [lot.source for lot in shop.lots("alice")] == ["reward"]


def test_fourth_poll_of_the_day_is_limit_exceeded_and_writes_nothing(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    for n in range(3):
        assert shop.reward("alice", "poll.completed", idempotency_key=f"p{n}").status == "ok"
    before = counts(store)
    refused = shop.reward("alice", "poll.completed", idempotency_key="p3")
    assert (refused.status, refused.credits, refused.left) == ("limit_exceeded", 0, 0)
    assert counts(store) == before
    assert shop.balance("alice").available == 15
    invariants(store)


def test_the_limit_starts_again_the_next_day(shop: jeton.Community, clock: ManualClock,
                                             store: Store, invariants: Check) -> None:
    for n in range(3):
        shop.reward("bob", "poll.completed", idempotency_key=f"p{n}")
    clock.advance(days=1)
    again = shop.reward("bob", "poll.completed", idempotency_key="p-next")
    assert (again.status, again.left) == ("ok", 2)
    invariants(store)


def test_a_replayed_reward_is_posted_once(shop: jeton.Community) -> None:
    first = shop.reward("carol", "files.uploaded", idempotency_key="up-1")
    again = shop.reward("carol", "files.uploaded", idempotency_key="up-1")
    assert again.replayed
    assert again.transfer_id == first.transfer_id
    assert shop.balance("carol").available == 10


def test_unknown_reward_and_non_member_are_refused(shop: jeton.Community) -> None:
    with pytest.raises(jeton.NotFound):
        shop.reward("alice", "no.such", idempotency_key="x")
    with pytest.raises(jeton.NotFound) as missing:
        shop.reward("stranger", "poll.completed", idempotency_key="y")
    assert missing.value.status is jeton.Status.member_not_found
