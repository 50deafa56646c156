"""`jeton verify`: the ledger's invariants (services/ledger/verify.py), and the checks that
span what the ledger writes and how it was asked to.

- **One idempotency key, one effect.** A write claims its key and writes one transfer under it;
  writes that make several transfers (a pack and its bonus, a purchase and its payment) give
  the others no key. Two transfers of one community under one key mean a retry did something
  twice. The database refuses it too (`ix_transfers_idempotency_key`, decision 0047); this
  finds it in a database made before that index, or one whose index was dropped.

Community by community, each in its own snapshot, like the ledger's checks.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.services.ledger import verify as ledger_verify
from jeton.services.ledger.verify import Progress, UnknownCommunity, Violation
from jeton.store.engine import Store
from jeton.store.tables.ledger import communities, transfers

__all__ = ["Progress", "UnknownCommunity", "Violation", "one_key_one_effect", "verify"]

# How many transfers of one key a violation lists: enough to find them, bounded.
_IDS_SHOWN_MAX = 5


def verify(store: Store, progress: Progress | None = None, *,
           community_id: str | None = None) -> list[Violation]:
    """Every violation, community by community (or of `community_id` alone; UnknownCommunity
    when the store has no such community)."""
    found = ledger_verify.verify(store, progress, community_id=community_id)
    with store.read() as conn:
        ids = list(conn.execute(sa.select(communities.c.community_id)
                                .order_by(communities.c.community_id)).scalars())
    for cid in ids if community_id is None else [community_id]:
        if progress:
            progress(f"{cid}: one idempotency key, one effect", len(found))
        with store.read() as conn:
            found.extend(one_key_one_effect(conn, cid))
    return sorted(found, key=lambda v: v.community_id)


def one_key_one_effect(conn: Connection, community_id: str) -> Iterator[Violation]:
    t = transfers.c
    rows = conn.execute(
        sa.select(t.idempotency_key, sa.func.count())
        .where(t.community_id == community_id, t.idempotency_key.is_not(None))
        .group_by(t.idempotency_key).having(sa.func.count() > 1)
        .order_by(t.idempotency_key))
    for key, count in rows:
        shown = sorted(conn.execute(
            sa.select(t.transfer_id).where(t.community_id == community_id,
                                           t.idempotency_key == key)
            .order_by(t.transfer_id).limit(_IDS_SHOWN_MAX)).scalars())
        more = f" and {count - len(shown)} more" if count > len(shown) else ""
        yield Violation("idempotency", community_id, f"key {key}",
                        f"{count} transfers under one idempotency key: "
                        f"{', '.join(shown)}{more}")
