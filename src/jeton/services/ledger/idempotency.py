"""Idempotent writes.

Every write carries a key chosen by the client. The key is claimed in the same database
transaction as the write it guards, so either both are stored or neither is:

- same key, same request: the stored answer comes back, flagged as a replay;
- same key, another request: `IdempotencyConflict`, nothing written;
- a declined write (not enough credits) stores nothing, so the key may be used again once the
  member has topped up;
- two requests racing with one key on PostgreSQL: the second blocks on the key's unique index
  until the first commits, then fails with a unique violation and is retried as a replay.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core.errors import IdempotencyConflict
from jeton.services.ledger import statements as q
from jeton.store.dialect import is_unique_violation
from jeton.store.fastsql import Runner
from jeton.store.tables.ledger import idempotency_keys

_LOOKUP_CHUNK = 512  # keys per statement, under SQLite's 999 parameters


@dataclass(frozen=True, slots=True)
class Stored:
    operation: str
    request_hash: str
    response_json: str


# `json.dumps` with options builds an encoder per call; a batch hashes a request per item.
_REQUEST_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def request_hash(operation: str, request: dict[str, Any]) -> str:
    return digest(_REQUEST_JSON.encode([operation, request]))


def digest(canonical_json: str) -> str:
    """The stored hash of a request, from its canonical JSON (`request_hash`'s encoding)."""
    return hashlib.sha256(canonical_json.encode()).hexdigest()


_t = idempotency_keys.c
_SELECT_KEYS = sa.select(_t.key, _t.operation, _t.request_hash, _t.response_json).where(
    _t.community_id == sa.bindparam("c"))


def _lookup_in(dialect: str, size: int) -> sa.sql.ClauseElement:
    """SELECT the keys named by bind parameters k0..k{size-1} (one statement per size). On
    PostgreSQL one lookup of the key's index per key, so that the plan it keeps once
    prepared never reads the community's keys whole (`statements.by_ids`, decision 0123)."""
    return q.by_ids("keys", dialect, size, _SELECT_KEYS, _t.key, prefix="k")


def lookup_many(conn: Connection, community_id: str, keys: Iterable[str]) -> dict[str, Stored]:
    """The stored answers of those of `keys` that were used before, by key.

    Runs compiled on the transaction's cursor (decision 0004), the statements of
    `lookup_reads`.
    """
    db = Runner(conn, conn.dialect.name)
    return stored_by_key(row for stmt, params in lookup_reads(community_id, keys, db.dialect)
                         for row in db.rows(stmt, params))


def lookup_reads(community_id: str, keys: Iterable[str], dialect: str,
                 ) -> list[tuple[sa.sql.ClauseElement, dict[str, Any]]]:
    """The statements that read those of `keys` used before (their rows: the key, then
    `Stored`'s fields), a chunk of keys each; a short chunk is padded with NULL (no key) to
    the next power of two, so that a few statements serve every batch size. A batch on
    PostgreSQL sends them with its first round trip (`WorkSet.preload_batch`), prepared."""
    wanted = list(dict.fromkeys(keys))
    reads = []
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start:start + _LOOKUP_CHUNK]
        size = 1 << (len(chunk) - 1).bit_length()
        params: dict[str, Any] = {"c": community_id}
        for i in range(size):
            params[f"k{i}"] = chunk[i] if i < len(chunk) else None
        reads.append((_lookup_in(dialect, size), params))
    return reads


def stored_by_key(rows: Iterable[Any]) -> dict[str, Stored]:
    """The rows of `lookup_reads`, by key."""
    return {key: Stored(operation, req_hash, response)
            for key, operation, req_hash, response in rows}


def check_replay(stored: Stored | None, key: str, operation: str, req_hash: str) -> str | None:
    """The stored answer when this is a replay; raises when the key was used for another request."""
    if stored is None:
        return None
    if stored.operation != operation or stored.request_hash != req_hash:
        raise IdempotencyConflict(conflict_detail(key, stored.operation, operation), key=key)
    return stored.response_json


# The kinds of write a key can first have been used for, as a refusal names them; any other
# reads as its own words (`grant`: "a grant", `staff.charge`: "a staff charge").
_NAMED = {"http_answer": "another API request", "reverse": "a reversal",
          "coupon.redeem": "a coupon's redemption", "purchase.complete": "a purchase's payment",
          "purchase.refund": "a purchase's refund",
          "purchase.refund_as_credits": "a purchase's refund as credits",
          "test_clock.advance": "a test clock's advance"}


def conflict_detail(key: str, earlier: str | None = None, operation: str = "") -> str:
    """Why a key is refused: used before for another request, and (`earlier`, the stored
    key's operation, when known) which kind."""
    text = f"idempotency key {key!r} was already used for a different request"
    if earlier is None:
        return text
    named = _NAMED.get(earlier) or f"a {earlier.replace('_', ' ').replace('.', ' ')}"
    if earlier == operation:
        named = f"{named} with other values"
    return f"{text} ({named}); a new request needs a new key"


def is_key_race(exc: BaseException) -> bool:
    """Two writes raced with one key: the second met the first's key, or (its transfer row
    went first) the transfers' index on the key. Asked again, it finds the first's answer."""
    return (is_unique_violation(exc, "idempotency_keys")
            or is_unique_violation(exc, "transfers_idempotency_key")
            or is_unique_violation(exc, "transfers.idempotency_key"))


_LOOKUP_ONE = sa.select(idempotency_keys.c.operation, idempotency_keys.c.request_hash,
                        idempotency_keys.c.response_json).where(
    idempotency_keys.c.community_id == sa.bindparam("c"),
    idempotency_keys.c.key == sa.bindparam("k"))


def key_read(community_id: str, key: str) -> tuple[sa.sql.ClauseElement, dict[str, Any]]:
    """The statement and parameters that read one stored key (`lookup_one`'s read)."""
    return _LOOKUP_ONE, {"c": community_id, "k": key}


def lookup_one(conn: Connection, community_id: str, key: str, operation: str,
               req_hash: str) -> str | None:
    row = Runner(conn, conn.dialect.name).first(_LOOKUP_ONE, {"c": community_id, "k": key})
    stored = Stored(row[0], row[1], row[2]) if row is not None else None
    return check_replay(stored, key, operation, req_hash)


INSERT_KEY = idempotency_keys.insert()
# The answer a claimed key holds for a write that keeps its own (a purchase..., an API
# request's kept answer), or has none yet (a test clock's advance under way).
CLAIMED = "null"


def claim(conn: Connection, community_id: str, key: str, operation: str, req_hash: str,
          now_us: int) -> str | None:
    """Take `key` among the ledger's keys for a write that keeps its own record of its key (a
    purchase, a subscription, a bill, a lease) or its answer only when done (a test clock's
    advance), in that write's transaction: keys are unique per community, so a key a ledger
    write, another kind of write or an API request took first is refused, naming that first
    use. Returns None when the key is taken now, else what the same request's earlier claim
    keeps (`CLAIMED`, or the answer put there since). Two writes racing with one key meet on
    the keys' primary key (a unique violation: the caller's retry finds the winner's)."""
    kept = lookup_one(conn, community_id, key, operation, req_hash)  # raises if taken
    if kept is None:
        Runner(conn, conn.dialect.name).many(INSERT_KEY, [
            key_row(community_id, key, operation, req_hash, CLAIMED, now_us)])
    return kept


def key_row(community_id: str, key: str, operation: str, req_hash: str, response_json: str,
            now_us: int) -> dict[str, Any]:
    return {"community_id": community_id, "key": key, "operation": operation,
            "request_hash": req_hash, "response_json": response_json, "created_at_us": now_us}
