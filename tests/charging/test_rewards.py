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


def test_counters_of_windows_long_over_are_pruned_and_current_ones_kept(
        j: jeton.Jeton, shop: jeton.Community, clock: ManualClock, store: Store,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from jeton.core import limits
    from jeton.services.ops import worker

    def counters() -> dict[str, int]:
        return {k: v for k, v in counts(store).items() if k in ("allowance_uses", "reward_counts")}

    shop.reward("alice", "poll.completed", idempotency_key="old-poll")
    shop.charge("bob", "chat.message", idempotency_key="old-msg", session_id="s-old")
    shop.charge("bob", "chat.message", idempotency_key="old-msg-2", session_id="s-older")
    assert counters() == {"allowance_uses": 2, "reward_counts": 1}
    clock.advance(days=limits.counter_retention_days - 1)
    shop.charge("bob", "chat.message", idempotency_key="msg", session_id="s-old")  # still used
    clock.advance(days=2)
    shop.reward("alice", "poll.completed", idempotency_key="poll")
    monkeypatch.setattr(limits, "job_batch_size", 1)  # one row per transaction: batches repeat
    assert worker.run_due(j, force=True, only={"charging.prune_counters"}) == {
        "charging.prune_counters": 2}
    assert counters() == {"allowance_uses": 1, "reward_counts": 1}  # s-old and today's poll
    assert worker.run_due(j, force=True, only={"charging.prune_counters"}) == {}
    # the session still in use keeps its count: three of its five free messages are left
    for n in range(3):
        assert shop.charge("bob", "chat.message", idempotency_key=f"m{n}",
                           session_id="s-old").charged == 0
    with pytest.raises(jeton.InsufficientCredits):
        shop.charge("bob", "chat.message", idempotency_key="m3", session_id="s-old")
