"""The Ed25519 keys a community signs its receipts with: made on first use, rotated on demand,
every public half published (a rotated key still verifies the receipts it signed).

Stored like webhook signing secrets (store/tables/receipts.py says why and what it means).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.engine import Connection

from jeton.core.clock import Clock, from_us, to_us
from jeton.core.errors import NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.ledger import idempotency
from jeton.services.ledger.results import Result
from jeton.store.dialect import for_update, is_unique_violation
from jeton.store.engine import Store
from jeton.store.tables.ledger import communities
from jeton.store.tables.receipts import receipt_keys

ALGORITHM = "Ed25519"
K = receipt_keys.c
_ROTATE = "receipt_key.rotate"


class ReceiptKeyInfo(Result):
    """One public key: `public_key` is the 32 raw bytes in base64url (no padding)."""
    id: str
    algorithm: str
    public_key: str
    created_at: datetime
    retired_at: datetime | None = None


class ReceiptKeys(Result):
    """Every key the community ever signed receipts with, newest first; the first one without
    `retired_at` signs now."""
    community_id: str
    keys: list[ReceiptKeyInfo]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _info(row: sa.RowMapping) -> ReceiptKeyInfo:
    retired = row["retired_at_us"]
    return ReceiptKeyInfo(id=row["key_id"], algorithm=row["algorithm"],
                          public_key=row["public_key"], created_at=from_us(row["created_at_us"]),
                          retired_at=from_us(retired) if retired is not None else None)


def _lock_community(conn: Connection, store: Store, community_id: str) -> None:
    """Key changes of one community, one at a time: the community row is their lock (as for
    seals); no write of the ledger takes it."""
    found = conn.execute(for_update(sa.select(communities.c.community_id).where(
        communities.c.community_id == community_id), store.dialect)).first()
    if found is None:
        raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)


def _insert_new(conn: Connection, community_id: str, now_us: int) -> str:
    private = Ed25519PrivateKey.generate()
    key_id = new_id()
    conn.execute(receipt_keys.insert().values(
        community_id=community_id, key_id=key_id, algorithm=ALGORITHM,
        public_key=b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)),
        private_key=b64(private.private_bytes_raw()), created_at_us=now_us))
    return key_id


def _active(conn: Connection, community_id: str) -> sa.RowMapping | None:
    return conn.execute(sa.select(receipt_keys).where(
        K.community_id == community_id, K.retired_at_us.is_(None))
        .order_by(K.created_at_us.desc(), K.key_id.desc()).limit(1)).mappings().first()


def signing_key(store: Store, clock: Clock, community_id: str) -> tuple[str, Ed25519PrivateKey]:
    """The key that signs now (made on first use) and its id."""
    with store.read() as conn:
        row = _active(conn, community_id)
    if row is None:
        def tx(conn: Connection) -> sa.RowMapping | None:
            _lock_community(conn, store, community_id)
            if _active(conn, community_id) is None:  # another request may have made it
                _insert_new(conn, community_id, to_us(clock.now()))
            return _active(conn, community_id)

        row = store.run_write(tx)
    if row is None:
        raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)
    return row["key_id"], Ed25519PrivateKey.from_private_bytes(unb64(row["private_key"]))


def rotate(store: Store, clock: Clock, community_id: str, *,
           idempotency_key: str | None = None) -> ReceiptKeys:
    """A new signing key; the old one is retired but stays published. With `idempotency_key`,
    a retry rotates nothing more and answers the keys as they are."""
    req_hash = idempotency.request_hash(_ROTATE, {})

    def tx(conn: Connection) -> None:
        _lock_community(conn, store, community_id)
        if idempotency_key is not None and idempotency.lookup_one(
                conn, community_id, idempotency_key, _ROTATE, req_hash) is not None:
            return
        now_us = to_us(clock.now())
        conn.execute(receipt_keys.update().where(
            K.community_id == community_id, K.retired_at_us.is_(None)).values(
            retired_at_us=now_us))
        key_id = _insert_new(conn, community_id, now_us)
        if idempotency_key is not None:
            conn.execute(idempotency.INSERT_KEY, idempotency.key_row(
                community_id, idempotency_key, _ROTATE, req_hash,
                json.dumps({"key_id": key_id}), now_us))

    for attempt in range(2):
        try:
            store.run_write(tx)
            break
        except sa.exc.IntegrityError as exc:
            # The same key committed first by another write: the retry finds it (a replay, or
            # a conflict when that write was another request).
            if attempt == 0 and is_unique_violation(exc) and "idempotency" in str(exc):
                continue
            raise
    return _published(store, community_id)


def public_keys(store: Store, community_id: str, clock: Clock | None = None) -> ReceiptKeys:
    """The published keys. Given a clock, a community without a key gets its first one, so a
    host app can fetch the key before the first receipt."""
    keys = _published(store, community_id)
    if not keys.keys and clock is not None:
        signing_key(store, clock, community_id)
        keys = _published(store, community_id)
    return keys


def _published(store: Store, community_id: str) -> ReceiptKeys:
    with store.read() as conn:
        found = conn.execute(sa.select(communities.c.community_id).where(
            communities.c.community_id == community_id)).first()
        if found is None:
            raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)
        rows = conn.execute(sa.select(receipt_keys).where(K.community_id == community_id)
                            .order_by(K.created_at_us.desc(), K.key_id.desc())).mappings().all()
    return ReceiptKeys(community_id=community_id, keys=[_info(r) for r in rows])
