"""The routes whose handler is one ledger write run, on SQLite, on one writer thread (0117).

A sync FastAPI handler runs on a worker thread of a pool of forty. A charge there competed with
fifteen other charges and the event loop for the interpreter's lock, and the group commit woke
each of its followers: under `wrk`, the worker threads spent about twice the CPU the same
charges cost in process. So on SQLite the handlers of `LEDGER_KEYED` routes run one after
another on a thread of their own instead, in batches: the writer takes every request queued
(up to `SQLITE_GROUP_MAX`), runs their handlers in one transaction (`Store.batch`: each write
under its own savepoint, so one that fails undoes nothing of the others), commits once, and
only then hands each request its answer (or its error). An answer never leaves before the
commit that made it durable. Each handler runs in its request's context (a test community's
time).

The thread starts with the first request and ends after `IDLE_S` without one. On PostgreSQL,
where a write waits on round trips and the server's threads overlap them, the handler runs on
the pool's thread as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from jeton.store.engine import SQLITE_GROUP_MAX, Store

IDLE_S = 5.0  # the thread ends after this long without a request; the next one starts it again

_Item = tuple[contextvars.Context, Callable[..., Any], dict[str, Any],
              asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class Writer:
    """Runs handlers on the store's writer thread (SQLite) or the thread pool (PostgreSQL)."""

    def __init__(self, store: Store, idle_s: float = IDLE_S) -> None:
        self.store = store
        self.idle_s = idle_s
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def run(self, handler: Callable[..., Any], /, **kwargs: Any) -> Any:
        """`handler(**kwargs)`, its answer once its write is committed."""
        if self.store.dialect != "sqlite":
            return await run_in_threadpool(handler, **kwargs)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        with self._lock:  # the thread checks for work under the same lock before it ends
            self._queue.put((contextvars.copy_context(), handler, kwargs, loop, done))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="jeton-writer",
                                                daemon=True)
                self._thread.start()
        return await done

    def _serve(self) -> None:
        try:
            self._serve_until_idle()
        finally:  # ended, or (a bug) died: the next request starts another
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _serve_until_idle(self) -> None:
        while True:
            try:
                items = [self._queue.get(timeout=self.idle_s)]
            except queue.Empty:
                with self._lock:  # under the lock `run` queues by: no request is left behind
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

    def _run_batch(self, items: list[_Item]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        committed: list[Callable[[], object]] = []  # what the requests that succeeded asked for
        try:
            with self.store.batch():
                for context, handler, kwargs, _, _ in items:
                    _CALLS.calls = []
                    try:
                        outcomes.append((True, context.run(handler, **kwargs)))
                        committed += _CALLS.calls
                    except BaseException as exc:  # this request's error; the others go on
                        outcomes.append((False, exc))
                    finally:
                        _CALLS.calls = None
        except BaseException as exc:  # the commit failed: no request's write is done
            outcomes = [(False, exc)] * len(items)
            committed.clear()
        for call in committed:
            try:
                call()
            except Exception:  # the writes are committed: their answers go out all the same
                logging.getLogger("jeton.api").exception("an after-commit call failed")
        for (ok, value), (_, _, _, loop, done) in zip(outcomes, items, strict=True):
            try:
                loop.call_soon_threadsafe(_settle, done, ok, value)
            except RuntimeError:  # its loop is closed: nobody waits for the answer
                logging.getLogger("jeton.api").debug("a request's loop closed before its answer")


_CALLS = threading.local()  # on the writer: what the running request asked for after its commit


def when_committed(call: Callable[[], object]) -> None:
    """Call `call` once the running request's write has committed (a metric of what it did):
    on the writer, after its batch commits, and never if it does not; elsewhere at once, the
    write being committed when its handler goes on."""
    calls: list[Callable[[], object]] | None = getattr(_CALLS, "calls", None)
    if calls is None:
        call()
    else:
        calls.append(call)


def _settle(done: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if done.cancelled():  # the client went away; the write stands, as on the thread pool
        return
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)


def on_writer(handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler` (sync, with a `caller` parameter) as an async route handler that runs it on
    its app's `Writer`. FastAPI reads the parameters and the answer's type from `handler`."""

    @functools.wraps(handler)
    async def run(**kwargs: Any) -> Any:
        return await kwargs["caller"].ctx.writer.run(handler, **kwargs)

    return run
