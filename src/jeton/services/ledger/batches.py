"""One thread that runs calls in batches, each batch one SQLite transaction (decision 0117).

`BatchWriter(store).submit(call, answer)` queues `call` (no arguments; it writes through
`run_write` or `write`, which join the batch) and returns at once. The writer's thread takes
every call waiting (up to `SQLITE_GROUP_MAX`), runs them one after another inside
`Store.batch()` (each write under its own savepoint, so one that fails undoes nothing of the
others), commits once, and only then gives each call's outcome to its `answer(ok, value)`: the
result, or the exception it raised, or for every call of the batch the commit's error. No
outcome is given before the commit that made it durable.

The thread starts with the first call and ends after `IDLE_S` without one. The HTTP API runs
the handlers of its one-write ledger routes this way (api/writer.py).
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from jeton.store.engine import SQLITE_GROUP_MAX, Store

IDLE_S = 5.0  # the thread ends after this long without a call; the next one starts it again

Answer = Callable[[bool, Any], None]

_LOG = logging.getLogger("jeton.ledger")
_CALLS = threading.local()  # on a writer: what the running call asked for after its commit


class BatchWriter:
    """A thread running calls in batches of one SQLite transaction (see the module)."""

    def __init__(self, store: Store, idle_s: float = IDLE_S) -> None:
        self.store = store
        self.idle_s = idle_s
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Answer]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, call: Callable[[], Any], answer: Answer) -> None:
        """Queue `call`; `answer(ok, value)` is called on the writer's thread once its batch
        has committed (or failed)."""
        with self._lock:  # the thread checks for work under the same lock before it ends
            self._queue.put((call, answer))
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
            while len(items) < SQLITE_GROUP_MAX:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._run_batch(items)

    def _run_batch(self, items: list[tuple[Callable[[], Any], Answer]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        committed: list[Callable[[], object]] = []  # what the calls that succeeded asked for
        try:
            with self.store.batch():
                for call, _ in items:
                    _CALLS.calls = []
                    try:
                        outcomes.append((True, call()))
                        committed += _CALLS.calls
                    except BaseException as exc:  # this call's error; the others go on
                        outcomes.append((False, exc))
                    finally:
                        _CALLS.calls = None
        except BaseException as exc:  # the commit failed: no call's write is done
            outcomes = [(False, _own_copy(exc)) for _ in items]
            committed.clear()
        for after in committed:
            try:
                after()
            except Exception:  # the writes are committed: their outcomes go out all the same
                _LOG.exception("an after-commit call failed")
        for (ok, value), (_, answer) in zip(outcomes, items, strict=True):
            try:
                answer(ok, value)
            except Exception:  # one caller's failure to take its answer is not the others'
                _LOG.exception("a batch's answer could not be given")


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
