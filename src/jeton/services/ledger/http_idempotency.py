"""The HTTP layer's memory of POST requests that carried an `Idempotency-Key`.

Two places, each for what it is good at (docs/decisions/0033-http-idempotency-in-one-write.md):

- **requests running now** live in this process's memory: a second request with the key while
  the first runs is told so (`in_flight`, HTTP 409) or, with another body, refused (`mismatch`,
  HTTP 422). Nothing is written for a request that has not answered yet, so there is nothing to
  release after a failure or to take over after a crash;
- **answers** are written once, after a successful (2xx) handler: a later request with the key
  gets that answer again, byte for byte (`replay`), or is refused if it is another request.

So a POST costs one read before its handler and one write after, and its handler's own write.
The handler hands the same key to the service, whose key is claimed in the write's own
transaction: that is what makes the effect happen once even when two server processes run the
same key at once, or when a server dies between the ledger's commit and the answer's. When two
processes both answer a key, the first answer written wins and the other request sends it.

A route whose answer the ledger keeps (`ledger_keeps`: a charge, a spend, ...) reads nothing
here before its handler: its write finds a replay, or a key used for another request, among
the ledger's own keys. So that it also finds a key another route used, keeping an answer here
leaves a marker under the same key among the ledger's keys (`HTTP_ANSWER`, decision 0086).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.clock import Clock, SystemClock, to_us
from jeton.services.ledger import idempotency
from jeton.services.ledger.jobs import job
from jeton.store.engine import Store
from jeton.store.fastsql import Runner
from jeton.store.sql import insert_ignore, insert_new
from jeton.store.tables.api import http_idempotency
from jeton.store.tables.ledger import idempotency_keys

if TYPE_CHECKING:
    from jeton.app import Jeton

# The space of the operator's requests: never a community id (those start with a letter or digit).
OPERATOR_SPACE = "~operator"
_S = 1_000_000
_T = http_idempotency.c


class Outcome(StrEnum):
    claimed = "claimed"  # run the handler, then finish()
    replay = "replay"  # send `answer` again
    mismatch = "mismatch"  # the key was used for another request
    in_flight = "in_flight"  # a request with this key is still running


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    content_type: str
    body: str


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Outcome
    answer: Answer | None = None
    earlier: str = ""  # a mismatch's: the method and path the key was first used for


# Built once: every POST runs them. RETURNING, not rowcount: psycopg reports no rowcount for
# ON CONFLICT DO NOTHING.
_KEEP = {dialect: insert_ignore(dialect, http_idempotency, ["community_id", "key"])
         .returning(_T.key) for dialect in ("sqlite", "postgresql")}
# The operation of the marker an answer kept here leaves among the ledger's keys: no ledger
# write has this operation, so a ledger write under the key is refused as a conflict.
HTTP_ANSWER = "http_answer"
_FIND = sa.select(_T.method_path, _T.request_sha256, _T.status_code, _T.content_type,
                  _T.response_body).where(_T.community_id == sa.bindparam("space"),
                                          _T.key == sa.bindparam("key"))


@dataclass(slots=True)
class _Running:
    """A request of this process that holds its key: being checked, then running.

    `waiters` is made only when a second copy of the request has to wait for the check (on
    PostgreSQL, where checks run on worker threads): most requests never meet a copy, and an
    event per request was a visible part of a charge's CPU."""

    request: tuple[str, str]  # method and path, digest
    checked: bool = False  # under the lock
    waiters: threading.Event | None = None  # under the lock


_CHECK_WAIT_S = limits.statement_timeout_ms / 1000


class HttpIdempotency:
    """Kept answers of one store, and the requests this process is running."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self._running: dict[tuple[str, str], _Running] = {}  # by (space, key)
        self._running_lock = threading.Lock()
        # Keys this process answered on the ledger's routes, with their request, oldest first.
        self._answered: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()

    @property
    def claim_blocks(self) -> bool:
        """Whether `claim` waits on a database round trip (PostgreSQL): then it belongs on a
        worker thread; on SQLite it is a point read of microseconds."""
        return self.store.reads_block

    def claim(self, space: str, key: str, method_path: str, request_sha256: str, *,
              ledger_keeps: bool = False) -> Claim:
        """Before the handler: `claimed` (run it, then `finish`), or what to answer instead.

        `ledger_keeps`: the route's handler is one ledger write that keeps its own answer, so
        there is no answer to read here (this process's memory is still asked): no database
        read, and the call never waits for one."""
        request = (method_path[:1000], request_sha256)
        while True:
            with self._running_lock:
                answered = self._answered.get((space, key), request)
                if answered != request:
                    return Claim(Outcome.mismatch, earlier=answered[0])
                running = self._running.get((space, key))
                if running is None:
                    mine = _Running(request)
                    self._running[(space, key)] = mine
                    break
                if running.checked or ledger_keeps:  # (a ledger route's claim never waits)
                    return Claim(Outcome.in_flight if running.request == request
                                 else Outcome.mismatch, earlier=running.request[0])
                if running.waiters is None:
                    running.waiters = threading.Event()
                waiters = running.waiters
            # Another copy is reading the kept answers: its outcome (it runs, or it is answered
            # and gone) is this copy's too, soon.
            waiters.wait(_CHECK_WAIT_S)
        try:
            kept = None if ledger_keeps else self._find(space, key)
        except BaseException:
            self._checked(space, key, mine, forget=True)
            raise
        self._checked(space, key, mine, forget=kept is not None)
        if kept is None:
            return Claim(Outcome.claimed)
        kept_request, answer = kept
        if kept_request != request:
            return Claim(Outcome.mismatch, earlier=kept_request[0])
        return Claim(Outcome.replay, answer)

    def finish(self, space: str, key: str, method_path: str, request_sha256: str,
               answer: Answer | None) -> Answer | None:
        """After the handler: keep `answer` (None: it failed, keep nothing). Returns the answer
        to send instead when another process answered the same request first."""
        try:
            if answer is None:
                return None
            now_us = to_us(self.clock.now())
            row = {"community_id": space, "key": key, "method_path": method_path[:1000],
                   "request_sha256": request_sha256, "status_code": answer.status_code,
                   "content_type": answer.content_type, "response_body": answer.body,
                   "created_at_us": now_us}
            dialect = self.store.dialect
            mark = None if space == OPERATOR_SPACE else idempotency.key_row(
                space, key, HTTP_ANSWER, request_sha256, idempotency.CLAIMED, now_us)

            def tx(conn: Connection) -> bool:
                if mark is not None:  # a key the handler's own ledger write took stays its
                    insert_new(conn, idempotency_keys, ["community_id", "key"], mark)
                return Runner(conn, dialect).first(_KEEP[dialect], row) is not None

            if self.store.run_write(tx):
                return None
            kept = self._find(space, key)
            if kept is None or kept[0] != (row["method_path"], request_sha256):
                return None  # purged meanwhile, or the key went to another request
            return kept[1]
        finally:
            self._forget(space, key)

    def release(self, space: str, key: str, method_path: str, request_sha256: str,
                answered: bool) -> None:
        """After the handler of a route whose answer the ledger keeps: the request is no longer
        running here, and nothing is written. An `answered` key is remembered with its request,
        so another request under it is refused at once (`claim`)."""
        with self._running_lock:
            self._running.pop((space, key), None)
            if answered:
                self._answered[(space, key)] = (method_path[:1000], request_sha256)
                self._answered.move_to_end((space, key))
                while len(self._answered) > limits.http_answered_keys_max:
                    self._answered.popitem(last=False)

    def _checked(self, space: str, key: str, mine: _Running, *, forget: bool) -> None:
        """The check of `mine` is done: it runs (`forget` False) or it is gone; copies that
        waited for it look again."""
        with self._running_lock:
            if forget:
                self._running.pop((space, key), None)
            mine.checked = True
            waiters = mine.waiters
        if waiters is not None:
            waiters.set()

    def _forget(self, space: str, key: str) -> None:
        with self._running_lock:
            self._running.pop((space, key), None)

    def _find(self, space: str, key: str) -> tuple[tuple[str, str], Answer] | None:
        """The kept answer to the key, and the request (method and path, digest) it answered."""
        found = self.store.point_read(_FIND, {"space": space, "key": key})
        if found is None:
            return None
        path, digest, status_code, content_type, body = found
        return (path, digest), Answer(int(status_code), content_type, body)

    def purge(self, space: str, before_us: int) -> int:
        """Forget answers older than `before_us`, a batch at a time. Returns how many."""
        total = 0
        while True:
            def tx(conn: Connection) -> int:
                keys = conn.execute(sa.select(_T.key).where(
                    _T.community_id == space, _T.created_at_us < before_us,
                ).limit(limits.job_batch_size)).scalars().all()
                if keys:
                    conn.execute(http_idempotency.delete().where(
                        _T.community_id == space, _T.key.in_(keys)))
                return len(keys)

            done = self.store.run_write(tx)
            total += done
            if done < limits.job_batch_size:
                return total


@job("http_idempotency.purge", 3600, real_time=True)
def _purge_old_answers(j: Jeton, community_id: str) -> int:
    """Forget kept answers after `idempotency_retention_days`. The ledger's own keys are kept for
    good: they are what makes a late retry of a write take effect once."""
    kept = HttpIdempotency(j.store)
    horizon_us = to_us(kept.clock.now()) - limits.idempotency_retention_days * 86_400 * _S
    return kept.purge(community_id, horizon_us)
