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
from jeton.store.fastsql import Runner
from jeton.store.tables.ledger import idempotency_keys

_LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Stored:
    operation: str
    request_hash: str
    response_json: str


def request_hash(operation: str, request: dict[str, Any]) -> str:
    raw = json.dumps([operation, request], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def lookup_many(conn: Connection, community_id: str, keys: Iterable[str]) -> dict[str, Stored]:
    wanted = list(dict.fromkeys(keys))
    found: dict[str, Stored] = {}
    t = idempotency_keys.c
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start:start + _LOOKUP_CHUNK]
        rows = conn.execute(
            sa.select(t.key, t.operation, t.request_hash, t.response_json).where(
                t.community_id == community_id, t.key.in_(chunk))
        )
        for key, operation, req_hash, response in rows:
            found[key] = Stored(operation, req_hash, response)
    return found


def check_replay(stored: Stored | None, key: str, operation: str, req_hash: str) -> str | None:
    """The stored answer when this is a replay; raises when the key was used for another request."""
    if stored is None:
        return None
    if stored.operation != operation or stored.request_hash != req_hash:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was already used for a different request",
            key=key)
    return stored.response_json


_LOOKUP_ONE = sa.select(idempotency_keys.c.operation, idempotency_keys.c.request_hash,
                        idempotency_keys.c.response_json).where(
    idempotency_keys.c.community_id == sa.bindparam("c"),
    idempotency_keys.c.key == sa.bindparam("k"))


def lookup_one(conn: Connection, community_id: str, key: str, operation: str,
               req_hash: str) -> str | None:
    row = Runner(conn, conn.dialect.name).first(_LOOKUP_ONE, {"c": community_id, "k": key})
    stored = Stored(row[0], row[1], row[2]) if row is not None else None
    return check_replay(stored, key, operation, req_hash)


INSERT_KEY = idempotency_keys.insert()


def key_row(community_id: str, key: str, operation: str, req_hash: str, response_json: str,
            now_us: int) -> dict[str, Any]:
    return {"community_id": community_id, "key": key, "operation": operation,
            "request_hash": req_hash, "response_json": response_json, "created_at_us": now_us}
