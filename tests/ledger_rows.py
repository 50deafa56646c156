"""A community's ledger rows with its ids replaced by labels, for differential tests that
write the same operations through two paths (two communities) and compare what each kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from jeton.store.engine import Store
from jeton.store.tables.ledger import (
    accounts,
    idempotency_keys,
    lots,
    posting_lots,
    postings,
    transfers,
)

LEDGER_TABLES = (transfers, postings, posting_lots, lots, accounts, idempotency_keys)
# Not compared: the community (they differ by design), the hash (it covers the ids; `jeton
# verify` checks it) and the database's clock.
SKIPPED = frozenset({"community_id", "hash", "recorded_at_us"})


def id_labels(store: Store, cid: str) -> dict[str, str]:
    """Transfer and lot ids by order of creation, so that two communities compare."""
    with store.read() as conn:
        tids = conn.execute(sa.select(transfers.c.transfer_id).where(
            transfers.c.community_id == cid).order_by(transfers.c.transfer_id)).scalars().all()
        lids = conn.execute(sa.select(lots.c.lot_id).where(
            lots.c.community_id == cid).order_by(lots.c.lot_id)).scalars().all()
    labels = {t: f"T{i}" for i, t in enumerate(tids)}
    labels.update({lot: f"L{i}" for i, lot in enumerate(lids)})
    return labels


def labelled(value: Any, labels: dict[str, str], drop: frozenset[str] = frozenset()) -> Any:
    """`value` with every id in `labels` replaced by its label, and the keys `drop` left out."""
    if isinstance(value, str):
        return labels.get(value, value)
    if isinstance(value, dict):
        return {k: labelled(v, labels, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list | tuple):
        return [labelled(v, labels, drop) for v in value]
    return value


def ledger_rows(store: Store, cid: str,
                adjust: Callable[[str, dict[str, Any]], dict[str, Any] | None] = lambda _t, d: d,
                drop: frozenset[str] = frozenset()) -> dict[str, list[Any]]:
    """Every row of the ledger's tables for the community, labelled, in a stable order.
    `adjust(table name, row)` may rewrite a row first, or return None to leave it out."""
    labels = id_labels(store, cid)
    out: dict[str, list[Any]] = {}
    with store.read() as conn:
        for table in LEDGER_TABLES:
            found = []
            for row in conn.execute(sa.select(table).where(
                    table.c.community_id == cid)).mappings():
                d = adjust(table.name, {k: v for k, v in row.items() if k not in SKIPPED})
                if d is not None:
                    found.append(labelled(d, labels, drop))
            out[table.name] = sorted(found, key=lambda r: json.dumps(r, sort_keys=True))
    return out


def check_acknowledged_kept(url: str, schema: str, community_id: str, acked: list[str]) -> None:
    """After a writer was killed: the store at `url` verifies, and every write acknowledged
    (by its idempotency key) is in the community's journal."""
    from jeton.services.ledger.verify import verify

    after = Store(url, pg_schema=schema or None)
    try:
        assert verify(after) == []
        with after.read() as conn:
            keys = {r[0] for r in conn.execute(
                sa.select(transfers.c.idempotency_key)
                .where(transfers.c.community_id == community_id))}
        missing = [k for k in acked if k not in keys]
        assert missing == [], f"acknowledged writes lost: {missing[:5]}"
    finally:
        after.dispose()
