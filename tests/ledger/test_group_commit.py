"""SQLite group commit: writers of one process that arrive together share one commit, and each
still succeeds or fails on its own."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import jeton
from jeton.core.errors import Declined
from jeton.services.ledger.verify import verify
from jeton.store.engine import Store
from jeton.store.transactions import after_commit

pytestmark = pytest.mark.timeout(120)

WRITERS = 16


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'group.db'}")
    store.create_schema()
    with store.write() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (writer INTEGER, n INTEGER)")
    return store


Outcome = tuple[tuple[int, int, int], int]  # (writer, write, caller ident), the thread that asked


def _hammer(store: Store, per: int, fail_when: int) -> tuple[list[Outcome], list[BaseException]]:
    results: list[Outcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        for i in range(per):
            def fn(conn: Connection, w: int = w, i: int = i) -> tuple[int, int, int]:
                conn.exec_driver_sql("INSERT INTO probe VALUES (?, ?)", (w, i))
                if i % fail_when == fail_when - 1:
                    raise ValueError(f"writer {w} fails write {i}")
                return w, i, store.caller_ident()
            try:
                got = store.run_write(fn)
                with lock:
                    results.append((got, threading.get_ident()))
            except ValueError as exc:
                with lock:
                    errors.append(exc)

    _together(writer)
    return results, errors


def test_each_write_of_a_group_succeeds_or_fails_alone(sqlite_store: Store) -> None:
    per, fail_when = 40, 5
    results, errors = _hammer(sqlite_store, per, fail_when)
    failing = per // fail_when
    assert len(errors) == WRITERS * failing
    assert len(results) == WRITERS * (per - failing)
    for (_w, _i, caller), thread in results:
        assert caller == thread  # the write ran on behalf of the thread that asked
    with sqlite_store.read() as conn:
        rows = set(conn.execute(sa.text("SELECT writer, n FROM probe")).all())
    expected = {(w, i) for w in range(WRITERS) for i in range(per) if i % fail_when != 4}
    assert rows == expected  # a failed write left nothing, and took nothing of the others


def test_concurrent_spends_share_commits_and_verify(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'spends.db'}")
    store.create_schema()
    j = jeton.Jeton(store)
    c = j.create_community("Group", community_id="group")
    for w in range(WRITERS):
        c.create_member(f"m{w}")
        c.grant(f"m{w}", 25, idempotency_key=f"seed-{w}")
    outcomes: dict[int, list[str]] = {w: [] for w in range(WRITERS)}

    def writer(w: int) -> None:
        for i in range(30):  # 25 credits: 25 spends of one succeed, 5 are declined
            try:
                c.spend(f"m{w}", 1, idempotency_key=f"s{w}-{i}")
                outcomes[w].append("ok")
            except Declined:
                outcomes[w].append("declined")

    _together(writer)
    for w in range(WRITERS):
        assert outcomes[w] == ["ok"] * 25 + ["declined"] * 5
        assert c.balance(f"m{w}").posted == 0
    assert verify(store) == []
    j.close()


def test_after_commit_calls_follow_the_writes_that_committed(sqlite_store: Store) -> None:
    called: list[str] = []
    lock = threading.Lock()

    def note(name: str) -> None:
        with lock:
            called.append(name)

    def writer(w: int) -> None:
        for i in range(10):
            def fn(conn: Connection, name: str = f"{w}-{i}", fails: bool = i % 3 == 2) -> None:
                after_commit(conn, lambda: note(name))
                if fails:
                    raise ValueError(name)
            with contextlib.suppress(ValueError):
                sqlite_store.run_write(fn)

    _together(writer)
    assert sorted(called) == sorted(f"{w}-{i}" for w in range(WRITERS) for i in range(10)
                                    if i % 3 != 2)
    # A failed lone write asks for nothing either, and the connection forgets it.
    def alone(conn: Connection) -> None:
        after_commit(conn, lambda: note("alone"))
        raise ValueError("alone")

    with pytest.raises(ValueError, match="alone"):
        sqlite_store.run_write(alone)
    sqlite_store.run_write(lambda conn: None)
    assert "alone" not in called


def test_a_batch_commits_its_writes_together_and_each_fails_alone(
        sqlite_store: Store) -> None:
    called: list[str] = []

    def probe(n: int, fails: bool = False) -> Callable[[Connection], None]:
        def fn(conn: Connection) -> None:
            conn.exec_driver_sql("INSERT INTO probe VALUES (0, ?)", (n,))
            after_commit(conn, lambda: called.append(f"after {n}"))
            if fails:
                raise ValueError(n)
        return fn

    def probes() -> list[int]:
        with sqlite_store.read() as conn:
            return [r[0] for r in conn.exec_driver_sql("SELECT n FROM probe ORDER BY n")]

    with sqlite_store.batch():
        sqlite_store.run_write(probe(1))
        with pytest.raises(ValueError):
            sqlite_store.run_write(probe(2, fails=True))
        with sqlite_store.write() as conn:  # a `write` block joins the batch too
            probe(3)(conn)
        with pytest.raises(ValueError), sqlite_store.write() as conn:
            probe(4, fails=True)(conn)
        assert probes() == []  # nothing is seen before the commit
        assert called == []  # nor called
    assert probes() == [1, 3]
    assert called == ["after 1", "after 3"]

    def batch_that_raises() -> None:
        with sqlite_store.batch():
            sqlite_store.run_write(probe(5))
            raise ValueError("the batch")

    with pytest.raises(ValueError, match="the batch"):  # none of its writes is done
        batch_that_raises()
    assert probes() == [1, 3]
    assert called == ["after 1", "after 3"]


def _together(writer: Callable[[int], None]) -> None:
    """Run `writer(w)` for every writer at once (they start together) and wait for them all."""
    start = threading.Barrier(WRITERS)

    def run(w: int) -> None:
        start.wait()
        writer(w)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
