"""Sealing the journal and checkpointing busy accounts, after commit.

Neither runs on the write path: a charge never updates a shared row. A seal chains, per
community, the hashes of every transfer older than the seal horizon onto the previous seal, so
`jeton verify` can prove that nothing sealed was altered. A checkpoint folds the postings of an
untracked account (revenue, issuance...) into a stored balance, so reading it stays cheap.
Both only cover transfers older than `limits.seal_horizon_ms`: no write transaction stays open
that long, so nothing can still commit into a covered range.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.ids import id_floor
from jeton.core.transfers import GENESIS_HASH, seal_hash
from jeton.store.dialect import for_update
from jeton.store.engine import Store
from jeton.store.tables.ledger import (
    account_checkpoints,
    accounts,
    communities,
    postings,
    seals,
    transfers,
)

_SEAL_BATCH = 10_000


def horizon_id(now_ms: int | None = None) -> str:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return id_floor(now_ms - limits.seal_horizon_ms)


def last_seal(conn: Connection, community_id: str) -> tuple[int, str, str]:
    """(seq, up_to_transfer_id, hash) of the newest seal, or the genesis."""
    row = conn.execute(sa.select(seals.c.seq, seals.c.up_to_transfer_id, seals.c.hash).where(
        seals.c.community_id == community_id).order_by(seals.c.seq.desc()).limit(1)).first()
    if row is None:
        return 0, "", GENESIS_HASH
    return int(row[0]), str(row[1]), str(row[2])


def seal(store: Store, community_id: str, *, up_to: str | None = None) -> int:
    """Seal every unsealed transfer older than the horizon. Returns the transfers sealed."""
    limit_id = up_to or horizon_id()
    sealed = 0
    while True:
        def tx(conn: Connection) -> int:
            # The community row is the lock that keeps two sealers from chaining the same seq;
            # only sealers take it, never a write.
            conn.execute(for_update(sa.select(communities.c.community_id).where(
                communities.c.community_id == community_id), store.dialect)).first()
            seq, prev_up_to, prev_hash = last_seal(conn, community_id)
            rows = conn.execute(sa.select(transfers.c.transfer_id, transfers.c.hash).where(
                transfers.c.community_id == community_id,
                transfers.c.transfer_id >= prev_up_to, transfers.c.transfer_id < limit_id,
            ).order_by(transfers.c.transfer_id).limit(_SEAL_BATCH)).all()
            if not rows:
                return 0
            # Seals cover [prev_up_to, up_to): up_to is just past the last transfer sealed.
            new_up_to = rows[-1][0] + "~"
            digest = seal_hash(prev_hash, (h for _, h in rows))
            conn.execute(seals.insert().values(
                community_id=community_id, seq=seq + 1, up_to_transfer_id=new_up_to,
                transfer_count=len(rows), prev_hash=prev_hash, hash=digest,
                sealed_at_us=int(time.time() * 1_000_000)))
            return len(rows)

        done = store.run_write(tx)
        sealed += done
        if done < _SEAL_BATCH:
            return sealed


def checkpoint(store: Store, community_id: str) -> int:
    """Fold the postings of untracked accounts older than the horizon into their checkpoint."""
    limit_id = horizon_id()

    def tx(conn: Connection) -> int:
        ids = [r[0] for r in conn.execute(sa.select(accounts.c.account_id).where(
            accounts.c.community_id == community_id, accounts.c.tracked.is_(False)))]
        moved = 0
        for account_id in ids:
            row = conn.execute(for_update(sa.select(
                account_checkpoints.c.balance, account_checkpoints.c.up_to_transfer_id).where(
                account_checkpoints.c.community_id == community_id,
                account_checkpoints.c.account_id == account_id), store.dialect)).first()
            balance, since = (int(row[0]), str(row[1])) if row else (0, "")
            delta, count = conn.execute(sa.select(
                sa.func.coalesce(sa.func.sum(postings.c.amount), 0), sa.func.count()).where(
                postings.c.community_id == community_id, postings.c.account_id == account_id,
                postings.c.account_version.is_(None),
                postings.c.transfer_id >= since, postings.c.transfer_id < limit_id)).one()
            values = {"balance": balance + int(delta), "up_to_transfer_id": limit_id,
                      "at_us": int(time.time() * 1_000_000)}
            if row is None:
                conn.execute(account_checkpoints.insert().values(
                    community_id=community_id, account_id=account_id, **values))
            else:
                conn.execute(account_checkpoints.update().where(
                    account_checkpoints.c.community_id == community_id,
                    account_checkpoints.c.account_id == account_id).values(**values))
            moved += int(count)
        return moved

    return store.run_write(tx)


def untracked_balance(conn: Connection, community_id: str, account_id: str) -> int:
    row = conn.execute(sa.select(account_checkpoints.c.balance,
                                 account_checkpoints.c.up_to_transfer_id).where(
        account_checkpoints.c.community_id == community_id,
        account_checkpoints.c.account_id == account_id)).first()
    balance, since = (int(row[0]), str(row[1])) if row else (0, "")
    delta = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(postings.c.amount), 0)).where(
        postings.c.community_id == community_id, postings.c.account_id == account_id,
        postings.c.account_version.is_(None), postings.c.transfer_id >= since)).scalar_one()
    return balance + int(delta)
