"""What surrounds a write transaction: its after-commit calls, and PostgreSQL's batches.

After-commit calls (`after_commit`) are effects outside the database that must follow the data
(a metric): run once the transaction committed, never if it did not.

A batch on PostgreSQL (`Store.batch`, decision 0119) is one transaction holding many writes,
each under its own savepoint, so that one that fails is undone alone and all commit together:
the API's writer thread runs concurrent requests' writes this way, as on SQLite (decision
0117). The batch opens with BEGIN and `SAVEPOINT jeton_write` in one round trip, so a write of
the batch finds its savepoint open. When the write fails, ROLLBACK TO the savepoint undoes it
and its after-commit calls (the savepoint stays, ready for the next write); when it succeeds,
RELEASE and a new SAVEPOINT keep it and open the next one's. A write whose last round trip is
a pipeline (the ledger's flush) sends those two in place of its COMMIT (`end_of_write`), so a
write in a batch makes the round trips it makes alone; the batch adds its first and its COMMIT.

A deadlock or serialization failure in a write of a batch cannot be retried inside it: the
batch's earlier writes keep their locks, so the retry would wait on what the other transaction
waits for. The batch is rolled back whole instead (`BatchDoomed`) and its writes are made again
one by one outside a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection, Engine

from jeton.store import dialect as dialects
from jeton.store import pipeline

AFTER_COMMIT = "jeton_after_commit"
_BATCH = "jeton_pg_batch"  # in a batch's connection info: its `_Batch`
Work = Sequence[tuple[str, list[dict[str, Any]]]]
_COMMIT: Work = [("COMMIT", [{}])]
_KEEP: Work = [(pipeline.RELEASE, [{}]), (pipeline.SAVEPOINT, [{}])]
_RELEASE: Work = [(pipeline.RELEASE, [{}])]
_UNDO: Work = [(pipeline.ROLLBACK_TO, [{}])]  # the savepoint stays, for the next write
_UNDO_NESTED: Work = [(pipeline.ROLLBACK_TO, [{}]), (pipeline.RELEASE, [{}])]


def after_commit(conn: Connection, fn: Callable[[], object]) -> None:
    """Call `fn` once the write transaction `conn` holds has committed; never if it does not.
    For effects outside the database that must follow the data (a metric, say)."""
    conn.info.setdefault(AFTER_COMMIT, []).append(fn)


@contextmanager
def committed(conn: Connection) -> Iterator[None]:
    """Around a transaction: its after-commit calls once it committed, none if it failed."""
    conn.info.pop(AFTER_COMMIT, None)  # the pooled connection's info outlives a transaction
    try:
        yield
    except BaseException:
        conn.info.pop(AFTER_COMMIT, None)
        raise
    after_commit_calls(conn)


def after_commit_calls(conn: Connection) -> None:
    for fn in conn.info.pop(AFTER_COMMIT, ()):
        try:
            fn()
        except Exception:  # the write is committed: a failing follow-up must not undo its answer
            logging.getLogger("jeton.store").exception("an after-commit call failed")


class BatchDoomed(Exception):
    """A write of a PostgreSQL batch met a deadlock or a serialization failure: the batch is
    rolled back whole (its earlier writes hold locks the other transaction waits for, which a
    retry under the savepoint would wait for again), and its writes are to be made again
    outside a batch, each in its own transaction (`BatchWriter` does)."""


class _Batch:
    __slots__ = ("depth", "doomed", "kept")

    def __init__(self) -> None:
        self.kept = False  # the running write's pipeline released its savepoint and opened the next
        self.doomed: BaseException | None = None  # what made the batch roll back whole
        self.depth = 0  # writes open: more than one when a write runs another inside it


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


@contextmanager
def postgres_batch(engine: Engine, opening: Work = ()) -> Iterator[Connection]:
    """PostgreSQL: one transaction on one connection for the writes of the block (module
    docstring), committed when it ends and rolled back if it raises. `opening`: statements sent
    with its BEGIN (the locks of its writes' wallets, in sorted order). Raises `BatchDoomed`,
    rolled back, when a write of it met a deadlock or a serialization failure."""
    with engine.connect() as conn, committed(conn), conn.begin():
        try:
            pipeline.run(_driver(conn), [("BEGIN", [{}]), *opening, (pipeline.SAVEPOINT, [{}])])
        except Exception as exc:  # its first locks met a cycle: no write of it has run yet
            if dialects.is_retryable(exc, "postgresql"):
                raise BatchDoomed("the batch's first locks must be taken again") from exc
            raise
        state = conn.info[_BATCH] = _Batch()
        try:
            yield conn
            if state.doomed is not None:
                raise BatchDoomed("a write of the batch must be made again alone") from (
                    state.doomed)
        finally:
            conn.info.pop(_BATCH, None)


def doomed(conn: Connection) -> bool:
    """Whether the batch `conn` holds will roll back whole (`BatchDoomed`)."""
    state: _Batch | None = conn.info.get(_BATCH)
    return state is not None and state.doomed is not None


@contextmanager
def batch_write(conn: Connection) -> Iterator[Connection]:
    """One write of the batch `conn` holds: kept when the block ends, undone if it raises. A
    write made inside another (a nested `Store.write`) opens a savepoint of its own, the same
    name over the outer one's, and releases it at its end: its failure undoes it alone, and
    the outer write's failure undoes both."""
    state: _Batch = conn.info[_BATCH]
    if state.doomed is not None:  # it rolls back whole: no write of it goes on
        raise BatchDoomed("an earlier write of the batch must be made again") from state.doomed
    nested = state.depth > 0
    if nested:
        pipeline.run(_driver(conn), [(pipeline.SAVEPOINT, [{}])])
    else:
        state.kept = False
    state.depth += 1
    callbacks = conn.info.setdefault(AFTER_COMMIT, [])
    before = len(callbacks)
    try:
        yield conn
    except BaseException as exc:
        del callbacks[before:]
        if state.doomed is None and dialects.is_retryable(exc, "postgresql"):
            state.doomed = exc
        if state.doomed is None:
            pipeline.run(_driver(conn), _UNDO_NESTED if nested else _UNDO)
        raise
    finally:
        state.depth -= 1
    if nested:
        pipeline.run(_driver(conn), _RELEASE)
    elif not state.kept:
        pipeline.run(_driver(conn), _KEEP)


def end_of_write(conn: Connection) -> Work:
    """The commands that end a write's last pipeline on PostgreSQL: COMMIT, or in a batch the
    savepoint's RELEASE and the next write's SAVEPOINT."""
    state: _Batch | None = conn.info.get(_BATCH)
    if state is None:
        return _COMMIT
    if state.depth > 1:  # a nested write's savepoint is released when its block ends
        return ()
    state.kept = True
    return _KEEP


def end_in_batch(conn: Connection) -> Work:
    """For a write of one pipeline in no transaction of its own (an implicit one, which the
    pipeline's Sync commits): nothing, or in a batch the savepoint's RELEASE and the next
    write's SAVEPOINT, as `end_of_write`."""
    return () if conn.info.get(_BATCH) is None else end_of_write(conn)
