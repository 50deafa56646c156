"""The routes whose handler is one ledger write run on one writer thread (0117, 0119).

A sync FastAPI handler runs on a worker thread of a pool of forty. Under `wrk`, a charge there
cost the server about half as much again as the same charge in process: the hop to the pool
and back, sixteen threads taking the interpreter's lock from each other and from the event
loop, and the group commit waking each follower on its own thread. So the handlers of
`LEDGER_KEYED` routes run on the app's `BatchWriter` (services/ledger/batches.py): one after
another on one thread, in batches of one transaction, each request answered only after the
commit that holds its write. Each handler runs in its request's context (a test community's
time).

On PostgreSQL a batch also shares one transaction's start and commit among its writes, which
is most of what a small write costs the server under load; each request names the wallets its
body names (`_wallets`), and the batch locks them all first, in one order, so that two
processes' batches never wait on each other in a cycle. On Citus handlers run on the thread
pool as before (decision 0119). On both, a handler marked `made_together` (a charge's, a
spend's) gives the calls of a batch to a function that makes several at once (decisions 0120
and 0121).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Response
from starlette.concurrency import run_in_threadpool

from jeton.services.ledger.batches import BatchWriter, Together, runs_batches, when_committed
from jeton.services.ledger.state import wallet_id

if TYPE_CHECKING:
    from jeton.store.engine import Store

# Writers of one server process on PostgreSQL (`JETON_API_WRITERS`), each with its batches on a
# connection of its own. One writer makes its writes' round trips one after another: it answers
# at most about one write per two round trips, so with the database across a network more
# writers overlap them; on one machine one did best (decision 0119). 0: the thread pool.
POSTGRES_WRITERS = 1
WRITERS_MAX = 64


class Writer:
    """Runs handlers on batch writers (SQLite: one; PostgreSQL: `POSTGRES_WRITERS`) or on the
    thread pool (Citus)."""

    def __init__(self, store: Store, postgres_writers: int = POSTGRES_WRITERS) -> None:
        if type(postgres_writers) is not int or not 0 <= postgres_writers <= WRITERS_MAX:
            raise ValueError(f"the writers of a server process are 0-{WRITERS_MAX}, not "
                             f"{postgres_writers!r}")
        self.store = store
        self.postgres_writers = postgres_writers
        self._writers: list[BatchWriter] | None = None
        self._chosen = False

    @property
    def writers(self) -> list[BatchWriter]:
        """The batch writers, none where handlers run on the thread pool (chosen at the first
        write: telling Citus from PostgreSQL is a read)."""
        if not self._chosen:
            count = 1 if self.store.dialect == "sqlite" else (
                self.postgres_writers if self.postgres_writers and runs_batches(self.store)
                else 0)
            self._writers = [BatchWriter(self.store) for _ in range(count)]
            self._chosen = True
        return self._writers or []

    @property
    def batches(self) -> BatchWriter | None:
        """The first batch writer (SQLite's only one), None on the thread pool."""
        writers = self.writers
        return writers[0] if writers else None

    async def run(self, handler: Callable[..., Any], /, **kwargs: Any) -> Any:
        """`handler(**kwargs)`, its answer once its write is committed."""
        writers = self.writers
        if not writers:
            return await run_in_threadpool(handler, **kwargs)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()
        call = functools.partial(context.run, handler, **kwargs)
        wallets = None
        if self.store.dialect != "sqlite":  # no row locks to keep apart on SQLite
            wallets = _wallets(kwargs)
        together = getattr(handler, "together", None)
        joins = (together, context, kwargs) if together is not None else None
        # A member's writes go to one writer: writers of one process seldom wait on each
        # other's locks (a charge's uploader may still be another writer's buyer).
        writer = writers[hash(wallets[1][0]) % len(writers)] if wallets and wallets[1] else (
            writers[0])
        writer.submit(call, functools.partial(_answer, loop, done), wallets, joins)
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


def _wallets(kwargs: dict[str, Any]) -> tuple[str, list[str]] | None:
    """The community of a ledger route's caller and the wallets its body names: the members it
    debits or credits, and a charge's parties (its context's members)."""
    body = kwargs.get("body")
    caller = kwargs.get("caller")
    if body is None or caller is None or caller.principal.key is None:
        return None
    asset = getattr(body, "asset", "CREDIT")
    members = [getattr(body, name, None) for name in ("member", "from_member", "to_member")]
    members += (getattr(body, "context", None) or {}).values()
    members += [split.member for split in getattr(body, "splits", ())]
    return caller.key.community_id, [wallet_id(m, asset) for m in members if m]


def made_together(together: Together) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a ledger route's handler as one whose calls waiting on a writer may be made
    together by `together` (`BatchWriter.submit`'s `joins`); put it under the route's
    decorator."""

    def mark(handler: Callable[..., Any]) -> Callable[..., Any]:
        handler.together = together  # type: ignore[attr-defined]
        return handler

    return mark


Calls = list[tuple[contextvars.Context, dict[str, Any]]]
# What a group's function answers: each call's result and the JSON kept under its key, or None
# where the call is to be made alone.
Made = Sequence[tuple[Any, str] | None]
G = TypeVar("G", bound=Hashable)  # what calls made together share (a community, an actor)


def made_in_groups(calls: Calls, group_of: Callable[[dict[str, Any]], G],
                   make: Callable[[Any, G, list[dict[str, Any]]], Made],
                   counted: str) -> list[Response | None]:
    """A `made_together` function's work: the calls of API keys (an operator's are made alone)
    grouped by `group_of(arguments)`, each group of two or more given to `make(ctx, group,
    arguments)` in its first call's context (a test community's time). A call it made answers
    201 with the JSON kept under its key, and counts one `counted` charge once the batch has
    committed; the others get None, to be made alone."""
    responses: list[Response | None] = [None] * len(calls)
    groups: dict[G, list[int]] = {}
    for i, (_, kwargs) in enumerate(calls):
        if kwargs["caller"].principal.key is not None:
            groups.setdefault(group_of(kwargs), []).append(i)
    for group, indexes in groups.items():
        if len(indexes) < 2:
            continue
        context, first = calls[indexes[0]]
        ctx = first["caller"].ctx
        made = context.run(make, ctx, group, [calls[i][1] for i in indexes])
        for i, found in zip(indexes, made, strict=True):
            if found is not None:
                when_committed(ctx.metrics.charges.labels(counted).inc)
                responses[i] = Response(found[1], status_code=201,
                                        media_type="application/json")
    return responses


def on_writer(handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler` (sync, with a `caller` parameter) as an async route handler that runs it on
    its app's `Writer`. FastAPI reads the parameters and the answer's type from `handler`."""

    @functools.wraps(handler)
    async def run(**kwargs: Any) -> Any:
        return await kwargs["caller"].ctx.writer.run(handler, **kwargs)

    return run
