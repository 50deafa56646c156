"""One thread that runs calls in batches, each batch one transaction (decisions 0117, 0119, 0120).

`BatchWriter(store).submit(call, answer)` queues `call` (no arguments; it writes through
`run_write` or `write`, which join the batch) and returns at once. The writer's thread takes
every call waiting (up to `SQLITE_GROUP_MAX`, on PostgreSQL `POSTGRES_BATCH_MAX`), runs them
one after another inside `Store.batch()` (each write under its own savepoint, so one that
fails undoes nothing of the others), commits once, and only then gives each call's outcome to
its `answer(ok, value)`: the result, or the exception it raised, or for every call of the batch
the commit's error. No outcome is given before the commit that made it durable.

On PostgreSQL the batch first locks the wallets its calls named (`submit`'s `locks`), in one
order, and a batch that meets a deadlock or a serialization failure anyway is rolled back whole
and its calls are made again one by one, each in its own transaction (`BatchDoomed`). Calls
submitted with the same joining function (`submit`'s `joins`) are given to it together first,
and those it leaves are made one by one with the rest (charges, decisions 0120 and 0121).

The thread starts with the first call and ends after `IDLE_S` without one. The HTTP API runs
the handlers of its one-write ledger routes this way (api/writer.py).
"""

from __future__ import annotations

import contextvars
import copy
import functools
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from jeton.services.ledger import statements as q
from jeton.services.ledger.sqlspend import is_citus
from jeton.store.engine import SQLITE_GROUP_MAX, Store
from jeton.store.fastsql import compiled
from jeton.store.transactions import BatchDoomed, Work

IDLE_S = 5.0  # the thread ends after this long without a call; the next one starts it again
# Writes in one PostgreSQL batch at most: each that writes is a subtransaction, and a backend
# keeps 64 of them in shared memory before other sessions' snapshots must look them up on disk.
POSTGRES_BATCH_MAX = 32

Answer = Callable[[bool, Any], None]
Locks = tuple[str, Sequence[str]] | None  # a community and wallet ids there
# Calls that may be made together: a function given the (context, arguments) of several such
# calls, answering each one's value, or None for a call to be made alone; with this call's own.
Together = Callable[[list[tuple[contextvars.Context, dict[str, Any]]]], list[Any]]
Joins = tuple[Together, contextvars.Context, dict[str, Any]] | None
Item = tuple[Callable[[], Any], Answer, Locks, Joins]

_LOG = logging.getLogger("jeton.ledger")
_CALLS = threading.local()  # on a writer: what the running call asked for after its commit


class BatchWriter:
    """A thread running calls in batches of one transaction (see the module)."""

    def __init__(self, store: Store, idle_s: float = IDLE_S) -> None:
        self.store = store
        self.idle_s = idle_s
        self.most = SQLITE_GROUP_MAX if store.dialect == "sqlite" else POSTGRES_BATCH_MAX
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, call: Callable[[], Any], answer: Answer, locks: Locks = None,
               joins: Joins = None) -> None:
        """Queue `call`; `answer(ok, value)` is called on the writer's thread once its batch
        has committed (or failed). `locks`: a community and the wallets the call will lock
        there, if known; on PostgreSQL a batch locks all its calls' wallets first, in one
        order, so that two batches never wait on each other in a cycle. `joins`: a function
        that makes such calls together, with this call's context and arguments: the calls of
        a batch with the same function are given to it at once, and those it leaves are made
        one by one (a group of charges, services/charging/together.py)."""
        with self._lock:  # the thread checks for work under the same lock before it ends
            self._queue.put((call, answer, locks, joins))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="jeton-writer",
                                                daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        try:
            self._serve_until_idle()
        finally:  # ended, or (a bug) died: the next call starts another
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _serve_until_idle(self) -> None:
        while True:
            try:
                items = [self._queue.get(timeout=self.idle_s)]
            except queue.Empty:
                with self._lock:  # under the lock `submit` queues by: no call is left behind
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            while len(items) < self.most:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._run_batch(items)

    def _run_batch(self, items: list[Item]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        committed: list[Callable[[], object]] = []  # what the calls that succeeded asked for
        try:
            with self.store.batch(self._locks(items)):
                outcomes = _run_all(items, committed)
        except BatchDoomed:  # rolled back whole: each call again, in a transaction of its own
            committed.clear()
            outcomes = [_run(item[0], committed) for item in items]
        except BaseException as exc:  # the commit failed: no call's write is done
            outcomes = [(False, _own_copy(exc)) for _ in items]
            committed.clear()
        for after in committed:
            try:
                after()
            except Exception:  # the writes are committed: their outcomes go out all the same
                _LOG.exception("an after-commit call failed")
        for (ok, value), (_, answer, _, _) in zip(outcomes, items, strict=True):
            try:
                answer(ok, value)
            except Exception:  # one caller's failure to take its answer is not the others'
                _LOG.exception("a batch's answer could not be given")

    def _locks(self, items: list[Item]) -> Work:
        """PostgreSQL: the statements that lock every wallet the calls named, community by
        community and each in sorted order, `q.MANY_MAX` to a statement (a short last one
        padded with NULL: one statement for every batch)."""
        if self.store.dialect == "sqlite":
            return ()
        named: dict[str, set[str]] = {}
        for _, _, locks, _ in items:
            if locks is not None:
                named.setdefault(locks[0], set()).update(locks[1])
        chunks = [params for community_id in sorted(named)
                  for params in q.many_chunks(community_id, sorted(named[community_id]))]
        if not chunks:
            return ()
        return [(compiled(q.lock_accounts("postgresql", q.MANY_MAX), "postgresql"), chunks)]


def _run_all(items: list[Item], committed: list[Callable[[], object]],
             ) -> list[tuple[bool, Any]]:
    """Each call's outcome: those that join others made together first (`submit`'s `joins`),
    then the rest one by one, in order."""
    outcomes: list[tuple[bool, Any] | None] = [None] * len(items)
    joining: dict[Together, list[int]] = {}
    for i, item in enumerate(items):
        if item[3] is not None:
            joining.setdefault(item[3][0], []).append(i)
    for together, indexes in joining.items():
        if len(indexes) < 2:
            continue
        joined = [(items[i][3][1], items[i][3][2]) for i in indexes]  # type: ignore[index]
        ok, values = _run(functools.partial(together, joined), committed)
        if ok:  # else (a bug in it: logged) each is made alone below
            for i, value in zip(indexes, values, strict=True):
                if value is not None:
                    outcomes[i] = (True, value)
        else:
            _LOG.error("calls made together failed; each is made alone",
                       exc_info=values)
    return [found if found is not None else _run(item[0], committed)
            for found, item in zip(outcomes, items, strict=True)]


def _run(call: Callable[[], Any], committed: list[Callable[[], object]]) -> tuple[bool, Any]:
    """Run one call: its outcome, and what it asked for after its commit added to
    `committed`."""
    _CALLS.calls = []
    try:
        found = (True, call())
        committed += _CALLS.calls
        return found
    except BaseException as exc:  # this call's error; the others go on
        return (False, exc)
    finally:
        _CALLS.calls = None


def runs_batches(store: Store) -> bool:
    """Whether a `BatchWriter` suits `store`: SQLite, and PostgreSQL but Citus, where a batch's
    transaction would hold a connection to each worker it touched (decision 0119)."""
    return store.dialect == "sqlite" or not is_citus(store)


def _own_copy(exc: BaseException) -> BaseException:
    """A copy of `exc` for one call (same class, message and cause): each caller raises its
    own, so one's traceback does not gather the others'. `exc` itself where it cannot be
    copied."""
    try:
        found = copy.copy(exc)
    except Exception:
        return exc
    found.__cause__, found.__context__ = exc.__cause__, exc.__context__
    found.__traceback__ = exc.__traceback__
    return found


def when_committed(call: Callable[[], object]) -> None:
    """Call `call` once the running call's write has committed (a metric of what it did): on
    a `BatchWriter`, after its batch commits, and never if it does not; elsewhere at once, the
    write being committed when its caller goes on."""
    calls: list[Callable[[], object]] | None = getattr(_CALLS, "calls", None)
    if calls is None:
        call()
    else:
        calls.append(call)
