"""The HTTP layer's memory of POST requests that carried an `Idempotency-Key`.

A request claims its key in a short transaction of its own before its handler runs, and records
the answer after (docs/decisions/0024-http-idempotency.md):

- no row: the key is claimed (`in_flight`) and the handler runs;
- a row for another request (method, path, query or body differ): a mismatch (HTTP 422);
- a row with an answer (`done`): that answer is sent again, byte for byte;
- a row still `in_flight`: another request with the key is running (HTTP 409), unless its claim
  is older than `limits.http_idempotency_stale_s`: that request is taken to have crashed, and
  this one takes the key over.

Only successful answers (2xx) are kept. A failed request releases its claim, like the ledger,
which keeps nothing for a declined write: the same key may be retried once the member has
topped up. The handler hands the same key to the ledger, whose own key is claimed in the write's
transaction, so the effect happens once even when a claim is taken over from a request that
was, after all, still running.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.clock import Clock, SystemClock, to_us
from jeton.services.jobs import job
from jeton.store.engine import Store
from jeton.store.sql import insert_ignore
from jeton.store.tables.api import http_idempotency

if TYPE_CHECKING:
    from jeton.app import Jeton

# The space of the operator's requests: never a community id (those start with a letter or digit).
OPERATOR_SPACE = "~operator"
_S = 1_000_000
_T = http_idempotency.c


class Outcome(StrEnum):
    claimed = "claimed"  # run the handler, then complete() or release()
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
    claim_token: str = ""
    answer: Answer | None = None


# Built once: every POST runs them. RETURNING, not rowcount: psycopg reports no rowcount for
# ON CONFLICT DO NOTHING.
_CLAIM = {dialect: insert_ignore(dialect, http_idempotency, ["community_id", "key"])
          .returning(_T.key) for dialect in ("sqlite", "postgresql")}
_COMPLETE = http_idempotency.update().where(
    _T.community_id == sa.bindparam("b_space"), _T.key == sa.bindparam("b_key"),
    _T.claim_token == sa.bindparam("b_token"), _T.state == "in_flight").values(state="done")


class HttpIdempotency:
    """Kept answers of one store. Its clock is the wall clock, not the business clock: how long
    a request has been running is a fact about the machine, whatever time the ledger is told."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()

    def claim(self, space: str, key: str, method_path: str, request_sha256: str) -> Claim:
        now_us = to_us(self.clock.now())
        token = secrets.token_hex(16)
        row = {"community_id": space, "key": key, "method_path": method_path[:1000],
               "request_sha256": request_sha256, "state": "in_flight", "claim_token": token,
               "status_code": None, "content_type": None, "response_body": None,
               "created_at_us": now_us, "claimed_at_us": now_us, "completed_at_us": None}
        where = (_T.community_id == space, _T.key == key)

        def tx(conn: Connection) -> Claim:
            inserted = conn.execute(_CLAIM[self.store.dialect], row).first()
            if inserted is not None:
                return Claim(Outcome.claimed, token)
            stmt = sa.select(_T.method_path, _T.request_sha256, _T.state, _T.status_code,
                             _T.content_type, _T.response_body, _T.claimed_at_us).where(*where)
            if self.store.dialect == "postgresql":
                stmt = stmt.with_for_update()
            found = conn.execute(stmt).first()
            if found is None:  # released between our insert and our read: claim it now
                conn.execute(http_idempotency.insert().values(**row))
                return Claim(Outcome.claimed, token)
            path, digest, state, status_code, content_type, body, claimed_at_us = found
            if path != row["method_path"] or digest != request_sha256:
                return Claim(Outcome.mismatch)
            if state == "done":
                return Claim(Outcome.replay, answer=Answer(status_code, content_type, body))
            if now_us - claimed_at_us < limits.http_idempotency_stale_s * _S:
                return Claim(Outcome.in_flight)
            conn.execute(http_idempotency.update().where(*where).values(
                claim_token=token, claimed_at_us=now_us))
            return Claim(Outcome.claimed, token)

        return self.store.run_write(tx)

    def complete(self, space: str, key: str, claim_token: str, answer: Answer) -> None:
        """Keep the answer. Does nothing if the claim was taken over meanwhile."""
        now_us = to_us(self.clock.now())

        params = {"b_space": space, "b_key": key, "b_token": claim_token,
                  "status_code": answer.status_code, "content_type": answer.content_type,
                  "response_body": answer.body, "completed_at_us": now_us}

        def tx(conn: Connection) -> None:
            conn.execute(_COMPLETE, params)

        self.store.run_write(tx)

    def release(self, space: str, key: str, claim_token: str) -> None:
        """Give the key back after a failed request, so that it may be used again."""

        def tx(conn: Connection) -> None:
            conn.execute(http_idempotency.delete().where(
                _T.community_id == space, _T.key == key, _T.claim_token == claim_token,
                _T.state == "in_flight"))

        self.store.run_write(tx)

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


@job("http_idempotency.purge", 3600)
def _purge_old_answers(j: Jeton, community_id: str) -> int:
    """Forget kept answers after `idempotency_retention_days`, like the ledger's own keys."""
    kept = HttpIdempotency(j.store)
    horizon_us = to_us(kept.clock.now()) - limits.idempotency_retention_days * 86_400 * _S
    return kept.purge(community_id, horizon_us)
