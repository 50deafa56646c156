"""Many charges at once: the free allowance is given exactly, never twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import jeton
from jeton.store.engine import Store

from .conftest import Check


def test_racing_chat_messages_share_the_five_free_uses_exactly(shop: jeton.Community,
                                                              store: Store,
                                                              invariants: Check) -> None:
    shop.grant("alice", 100, idempotency_key="g")

    def send(n: int) -> int:
        return shop.charge("alice", "chat.message", idempotency_key=f"m{n}",
                           session_id="busy").charged

    with ThreadPoolExecutor(max_workers=8) as pool:
        charged = list(pool.map(send, range(24)))
    assert sorted(charged) == [0] * 5 + [1] * 19
    assert shop.balance("alice").available == 100 - 19
    invariants(store)


def test_racing_rewards_stop_exactly_at_the_limit(shop: jeton.Community, store: Store,
                                                  invariants: Check) -> None:
    def poll(n: int) -> str:
        return shop.reward("bob", "poll.completed", idempotency_key=f"p{n}").status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(poll, range(12)))
    assert statuses.count("ok") == 3
    assert shop.balance("bob").available == 15
    invariants(store)
