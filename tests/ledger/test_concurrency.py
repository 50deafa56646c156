"""Many writers at once on PostgreSQL and on Citus: no overspend, no deadlock reaching the
caller."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import jeton
from jeton.store import dialect as dialects
from jeton.store.engine import Store
from threads import run_together

Check = Callable[[Store], None]


@pytest.fixture
def chat(server_store: Store) -> jeton.Community:
    c = jeton.Jeton(server_store).create_community("Concurrency", "conc")
    for m in ("alice", "bob"):
        c.create_member(m)
    return c


def test_sixteen_writers_on_one_wallet_never_overspend(chat: jeton.Community,
                                                        server_store: Store,
                                                        invariants: Check) -> None:
    spends_possible = 100
    chat.grant("alice", spends_possible * 3, idempotency_key="g")
    ok = []
    declined = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for n in range(12):
            try:
                chat.spend("alice", 3, idempotency_key=f"t{i}-{n}")
                with lock:
                    ok.append(1)
            except jeton.InsufficientCredits:
                with lock:
                    declined.append(1)

    assert run_together(16, work) == []
    assert len(ok) == spends_possible
    assert len(declined) == 16 * 12 - spends_possible
    assert chat.balance("alice").posted == 0
    invariants(server_store)


def test_opposite_transfers_net_to_zero_without_deadlock(chat: jeton.Community,
                                                         server_store: Store,
                                                         invariants: Check) -> None:
    chat.grant("alice", 1000, idempotency_key="ga")
    chat.grant("bob", 1000, idempotency_key="gb")

    def work(i: int) -> None:
        a, b = ("alice", "bob") if i % 2 == 0 else ("bob", "alice")
        for n in range(125):  # 4 threads each way: 500 transfers in each direction
            chat.transfer(a, b, 1, idempotency_key=f"x{i}-{n}")

    assert run_together(8, work) == []
    assert chat.balance("alice").posted == 1000
    assert chat.balance("bob").posted == 1000
    invariants(server_store)


def test_opposite_captures_elsewhere_with_member_splits_net_to_zero_without_deadlock(
        chat: jeton.Community, server_store: Store, invariants: Check) -> None:
    """Captures by a process that did not place the holds, each paying the other member back:
    both wallets are locked in one statement, in the one order every write locks (decision
    0104), while transfers between the two take the same locks."""
    chat.grant("alice", 1000, idempotency_key="ga")
    chat.grant("bob", 1000, idempotency_key="gb")
    holds = {who: [chat.hold(who, 2, idempotency_key=f"h-{who}-{n}").id for n in range(50)]
             for who in ("alice", "bob")}
    chat.jeton.ledger.hold_owners.clear()

    def work(i: int) -> None:
        a, b = ("alice", "bob") if i % 2 == 0 else ("bob", "alice")
        for n in range(i // 2 * 25, i // 2 * 25 + 25):  # 2 threads each way (plus transfers)
            if i < 4:
                chat.capture(holds[a][n], 2, idempotency_key=f"c-{a}-{n}",
                             splits=[{"member": b, "amount": 2}])
            else:
                chat.transfer(a, b, 1, idempotency_key=f"t{i}-{n}")

    assert run_together(6, work) == []
    assert chat.balance("alice").posted == 1000
    assert chat.balance("bob").posted == 1000
    assert chat.balance("alice").pending == 0
    invariants(server_store)


def test_batches_over_the_same_members_in_any_order_and_single_spends_meet_no_deadlock(
        chat: jeton.Community, server_store: Store, invariants: Check,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A batch locks every wallet it touches in one order before it writes (on PostgreSQL in
    # its first round trip, twelve wallets over two statements), as a single write does: batches
    # naming the same members in opposite orders, with royalties paid between them, and
    # single spends beside them wait on each other, never deadlock.
    members = [f"m{i:02d}" for i in range(12)]
    for m in members:
        chat.create_member(m)
        chat.grant(m, 1_000, idempotency_key=f"seed-{m}")

    def work(i: int) -> None:
        order = members if i % 2 == 0 else members[::-1]
        for n in range(10):
            if i == 0:  # one writer spends one at a time across the same wallets
                for m in order:
                    chat.spend(m, 1, idempotency_key=f"one-{n}-{m}")
                continue
            items = [{"member": m, "amount": 2, "idempotency_key": f"b{i}-{n}-{m}",
                      "splits": [{"member": order[(k + 1) % len(order)], "amount": 1}]}
                     for k, m in enumerate(order)]
            assert {r.status for r in chat.spend_batch(items)} == {"ok"}

    deadlocks: list[BaseException] = []  # a deadlock is retried, so the caller never sees it
    retryable = dialects.is_retryable

    def noting(exc: BaseException, dialect: str) -> bool:
        if getattr(getattr(exc, "orig", exc), "sqlstate", None) == "40P01":
            deadlocks.append(exc)
        return retryable(exc, dialect)

    monkeypatch.setattr(dialects, "is_retryable", noting)
    assert run_together(5, work) == []
    assert deadlocks == []
    # each member: 10 single spends of 1; 4 batch writers x 10 batches, paying 2 and receiving 1
    assert {chat.balance(m).posted for m in members} == {1_000 - 10 - 4 * 10}
    invariants(server_store)


def test_racing_requests_with_one_key_have_one_effect(chat: jeton.Community,
                                                      server_store: Store,
                                                      invariants: Check) -> None:
    chat.grant("alice", 100, idempotency_key="g")
    results: list[jeton.TransferResult] = []

    def work(i: int) -> None:
        results.append(chat.spend("alice", 10, idempotency_key="same"))

    assert run_together(8, work) == []
    assert sum(not r.replayed for r in results) == 1
    assert len({r.id for r in results}) == 1
    assert chat.balance("alice").posted == 90
    invariants(server_store)
