"""A batch of writes in one PostgreSQL transaction (store/transactions.py, decision 0119): each
write under its own savepoint, undone alone when it fails, all committed together; a deadlock
rolls the batch back whole and its writes are made again one by one."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import jeton
from conftest import check_invariants
from jeton.core.errors import InsufficientCredits
from jeton.services.bench.charging import CATALOG, DOWNLOAD_BYTES, UPLOADER
from jeton.services.ledger.batches import BatchWriter
from jeton.services.ledger.state import wallet_id
from jeton.store import dialect as dialects
from jeton.store import pipeline
from jeton.store.engine import Store

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


@pytest.fixture
def probe(pg_store: Store) -> Store:
    with pg_store.write() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (n INTEGER PRIMARY KEY)")
    return pg_store


def _insert(store: Store, n: int) -> None:
    store.run_write(lambda conn: conn.exec_driver_sql("INSERT INTO probe VALUES (%s)", (n,)))


def _probed(store: Store) -> list[int]:
    with store.read() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT n FROM probe ORDER BY n")]


def test_a_batch_commits_its_writes_together_and_a_failed_one_alone_is_undone(
        probe: Store) -> None:
    seen_inside: list[list[int]] = []
    with probe.batch():
        _insert(probe, 1)
        with pytest.raises(sa.exc.IntegrityError):  # fails in the database: the tx goes on
            _insert(probe, 1)
        with pytest.raises(RuntimeError):  # fails in Python, after its row
            _insert_then_fail(probe, 2)
        _insert(probe, 3)
        seen_inside.append(_probed(probe))  # another connection: nothing committed yet
    assert seen_inside == [[]]
    assert _probed(probe) == [1, 3]


def _insert_then_fail(store: Store, n: int) -> None:
    with store.write() as conn:
        conn.exec_driver_sql("INSERT INTO probe VALUES (%s)", (n,))
        raise RuntimeError("the caller changed its mind")


def _batch_that_fails(store: Store) -> None:
    with store.batch():
        _insert(store, 1)
        raise KeyError("gone")


def test_a_write_made_inside_another_in_a_batch_is_undone_alone_or_with_it(
        probe: Store) -> None:
    with probe.batch():
        with probe.write() as conn:  # the inner write fails: the outer keeps its row
            conn.exec_driver_sql("INSERT INTO probe VALUES (1)")
            with pytest.raises(RuntimeError):
                _insert_then_fail(probe, 2)
            conn.exec_driver_sql("INSERT INTO probe VALUES (3)")
        with pytest.raises(RuntimeError):  # the outer fails after the inner: both undone
            _outer_fails_after_inner(probe)
        _insert(probe, 6)  # and the batch's next write has its savepoint
    assert _probed(probe) == [1, 3, 6]


def _outer_fails_after_inner(store: Store) -> None:
    with store.write() as conn:
        conn.exec_driver_sql("INSERT INTO probe VALUES (4)")
        _insert(store, 5)
        raise RuntimeError("the outer write fails after the inner one was kept")


def test_a_batch_that_raises_commits_nothing(probe: Store) -> None:
    with pytest.raises(KeyError):
        _batch_that_fails(probe)
    assert _probed(probe) == []
    _insert(probe, 1)  # and the store writes on as before
    assert _probed(probe) == [1]


def test_ledger_writes_in_a_batch_decline_alone_and_balance_together(pg_store: Store) -> None:
    # A charge ends in the pipeline of its rows (the savepoint's RELEASE in its COMMIT's
    # place), a plain spend in one call of `jeton_spend`; a decline between them is undone.
    c = jeton.Jeton(pg_store).create_community("Batches", "bt")
    c.create_account("appstore")
    for m in ("alice", "bob", UPLOADER):
        c.create_member(m)
    c.load_catalog(CATALOG, "toml", actor="test")
    c.grant("alice", 100, idempotency_key="seed-a")
    c.grant("bob", 5, idempotency_key="seed-b")
    with pg_store.batch():
        first = c.charge("alice", "bench.download", DOWNLOAD_BYTES,
                         context={"uploader": UPLOADER}, idempotency_key="c1")
        with pytest.raises(InsufficientCredits):
            c.charge("bob", "bench.download", DOWNLOAD_BYTES, context={"uploader": UPLOADER},
                     idempotency_key="c2")
        spent = c.spend("alice", 7, idempotency_key="s1", service="chat.message")
        again = c.charge("alice", "bench.download", DOWNLOAD_BYTES,
                         context={"uploader": UPLOADER}, idempotency_key="c1")
    assert again.replayed
    assert again.transfer_id == first.transfer_id
    assert spent.balance_after == 100 - first.charged - 7
    assert c.balance("alice").available == 100 - first.charged - 7
    assert c.balance("bob").available == 5
    royalty = sum(s.amount for s in first.splits if s.member == UPLOADER)
    assert royalty > 0
    assert c.balance(UPLOADER).available == royalty
    check_invariants(pg_store, "bt")


def _deadlocks(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """The deadlocks PostgreSQL reports from now on (a retry hides them from the caller)."""
    found: list[BaseException] = []
    retryable = dialects.is_retryable

    def noting(exc: BaseException, dialect: str) -> bool:
        if (getattr(getattr(exc, "orig", exc), "sqlstate", None) == "40P01"
                and all(exc is not seen for seen in found)):  # asked more than once of one
            found.append(exc)
        return retryable(exc, dialect)

    monkeypatch.setattr(dialects, "is_retryable", noting)
    return found


def _crossing_batches(store: Store, community: jeton.Community, *,
                      named: bool) -> list[list[tuple[bool, Any]]]:
    """Two writers, each a batch of two spends, over alice and bob in opposite orders; each
    waits for the other's first spend before its second. `named`: each call names its wallet
    (`BatchWriter.submit`'s locks), as the API's do."""
    both_first = threading.Barrier(2, timeout=2)
    outcomes: list[list[tuple[bool, Any]]] = [[], []]
    waited: set[str] = set()

    def spend(member: str, key: str, first: bool) -> Any:
        done = community.spend(member, 1, idempotency_key=key)
        if first and key not in waited:  # once: not when the spend is made again
            waited.add(key)
            # broken when the other waits for this batch's locks
            with contextlib.suppress(threading.BrokenBarrierError):
                both_first.wait()
        return done

    def run(i: int) -> None:
        order = ("alice", "bob") if i == 0 else ("bob", "alice")
        writer = BatchWriter(store)
        items = [(lambda m=m, k=k: spend(m, f"w{i}-{m}", k == 0),
                  lambda ok, value: outcomes[i].append((ok, value)),
                  ("dl", [wallet_id(m, "CREDIT")]) if named else None, None)
                 for k, m in enumerate(order)]
        writer._run_batch(items)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.fixture
def two_members(pg_store: Store) -> jeton.Community:
    c = jeton.Jeton(pg_store).create_community("Deadlocks", "dl")
    for m in ("alice", "bob"):
        c.create_member(m)
        c.grant(m, 10, idempotency_key=f"seed-{m}")
    return c


def test_batches_that_meet_in_a_deadlock_are_made_again_write_by_write(
        pg_store: Store, two_members: jeton.Community, monkeypatch: pytest.MonkeyPatch) -> None:
    # The deadlock's loser cannot retry its write inside its batch (its first spend keeps
    # the lock the other batch waits for): its batch rolls back whole, and its two spends are
    # made again alone. Every call answers once, each spend is made once.
    deadlocks = _deadlocks(monkeypatch)
    outcomes = _crossing_batches(pg_store, two_members, named=False)
    assert len(deadlocks) == 1
    assert [[ok for ok, _ in calls] for calls in outcomes] == [[True, True], [True, True]]
    assert two_members.balance("alice").posted == 8
    assert two_members.balance("bob").posted == 8
    replays = [value.replayed for calls in outcomes for _, value in calls]
    assert replays == [False] * 4
    check_invariants(pg_store, "dl")


def test_batches_that_name_their_wallets_lock_them_first_and_never_deadlock(
        pg_store: Store, two_members: jeton.Community, monkeypatch: pytest.MonkeyPatch) -> None:
    deadlocks = _deadlocks(monkeypatch)
    outcomes = _crossing_batches(pg_store, two_members, named=True)
    assert deadlocks == []
    assert [[ok for ok, _ in calls] for calls in outcomes] == [[True, True], [True, True]]
    assert two_members.balance("alice").posted == 8
    assert two_members.balance("bob").posted == 8
    check_invariants(pg_store, "dl")


def test_a_batch_whose_first_locks_meet_a_deadlock_makes_its_calls_again_one_by_one(
        pg_store: Store, two_members: jeton.Community, monkeypatch: pytest.MonkeyPatch) -> None:
    # The batch's opening round trip (BEGIN and its wallets' locks) fails as PostgreSQL fails
    # a deadlock's loser: nothing of the batch has run, and each call is made alone.
    sent = pipeline.run
    failed: list[str] = []

    def deadlocked(conn: Any, work: Any) -> Any:
        if not failed and work and work[0][0] == "BEGIN" and len(work) > 2:
            failed.append("opening")
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return sent(conn, work)

    monkeypatch.setattr(pipeline, "run", deadlocked)
    outcomes: list[tuple[bool, Any]] = []
    BatchWriter(pg_store)._run_batch([
        (lambda m=m: two_members.spend(m, 1, idempotency_key=f"o-{m}"),
         lambda ok, value: outcomes.append((ok, value)), ("dl", [wallet_id(m, "CREDIT")]),
         None) for m in ("alice", "bob")])
    assert failed == ["opening"]
    assert [ok for ok, _ in outcomes] == [True, True]
    assert two_members.balance("alice").posted == 9
    assert two_members.balance("bob").posted == 9
    check_invariants(pg_store, "dl")
