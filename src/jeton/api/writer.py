"""The routes whose handler is one ledger write run, on SQLite, on one writer thread (0117).

A sync FastAPI handler runs on a worker thread of a pool of forty. Under `wrk`, a charge there
cost the server about half as much again as the same charge in process: the hop to the pool
and back, sixteen threads taking the interpreter's lock from each other and from the event
loop, and the group commit waking each follower on its own thread. So on SQLite the handlers of
`LEDGER_KEYED` routes run on the app's `BatchWriter` (services/ledger/batches.py): one after
another on one thread, in batches of one transaction, each request answered only after the
commit that holds its write. Each handler runs in its request's context (a test community's
time).

On PostgreSQL, where a write waits on round trips and the server's threads overlap them, the
handler runs on the thread pool as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from jeton.services.ledger.batches import BatchWriter

if TYPE_CHECKING:
    from jeton.store.engine import Store


class Writer:
    """Runs handlers on a batch writer (SQLite) or the thread pool (PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.batches = BatchWriter(store) if store.dialect == "sqlite" else None

    async def run(self, handler: Callable[..., Any], /, **kwargs: Any) -> Any:
        """`handler(**kwargs)`, its answer once its write is committed."""
        if self.batches is None:
            return await run_in_threadpool(handler, **kwargs)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        call = functools.partial(contextvars.copy_context().run, handler, **kwargs)
        self.batches.submit(call, functools.partial(_answer, loop, done))
        return await done


def _answer(loop: asyncio.AbstractEventLoop, done: asyncio.Future[Any], ok: bool,
            value: Any) -> None:
    """On the writer's thread: hand the outcome to the request's loop."""
    try:
        loop.call_soon_threadsafe(_settle, done, ok, value)
    except RuntimeError:  # its loop is closed: nobody waits for the answer
        logging.getLogger("jeton.api").debug("a request's loop closed before its answer")


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
