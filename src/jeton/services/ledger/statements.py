"""The write path's SQL: the statements a working set loads and writes with, and its rows.

Written with SQLAlchemy Core and compiled once per dialect (store/fastsql.py); on PostgreSQL the
hot ones go out pipelined (store/pipeline.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from jeton.core.errors import invariant
from jeton.services.ledger.state import Acct, LotState
from jeton.store.tables.base import db_now_us
from jeton.store.tables.ledger import (
    accounts,
    events,
    hold_lots,
    holds,
    idempotency_keys,
    lots,
    members,
    posting_lots,
    postings,
    transfers,
)

T = accounts.c


L = lots.c


SELECT_ACCOUNTS = sa.select(
    T.account_id, T.kind, T.member_id, T.asset, T.tracked, T.floor, T.posted, T.pending,
    T.version,
)


LOT_COLS = (L.lot_id, L.account_id, L.source, L.paid, L.cost_minor, L.cost_currency,
             L.amount, L.remaining, L.expires_at_us, L.priority, L.scope, L.merge_key,
             L.origin_transfer_id, L.created_at_us)


SELECT_ACCOUNT = SELECT_ACCOUNTS.where(
    T.community_id == sa.bindparam("c"), T.account_id == sa.bindparam("a"))


LOCK_ACCOUNT = {"sqlite": SELECT_ACCOUNT, "postgresql": SELECT_ACCOUNT.with_for_update(),
                 "read": SELECT_ACCOUNT}


SELECT_LIVE_LOTS = sa.select(*LOT_COLS).where(
    L.community_id == sa.bindparam("c"), L.account_id == sa.bindparam("a"),
    L.remaining != sa.literal_column("0"))


MANY_MAX = 8


def many_chunks(community_id: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The parameters of `lock_accounts("postgresql", MANY_MAX)` (or `live_lots_of`'s) for
    `ids`, in their order, `MANY_MAX` to a run; a short last run padded with NULL (no row
    has it), so that one prepared statement serves every count."""
    chunks = []
    for start in range(0, len(ids), MANY_MAX):
        chunk = ids[start:start + MANY_MAX]
        params: dict[str, Any] = {f"a{i}": chunk[i] if i < len(chunk) else None
                                  for i in range(MANY_MAX)}
        params["c"] = community_id
        chunks.append(params)
    return chunks


MANY: dict[tuple[str, str, int], sa.Select[Any]] = {}
# What `by_ids` narrows to a list of ids, made once: built at each call, a statement costs a
# write some twenty thousand instructions of SQLAlchemy before the cache is even asked.
_COMMUNITY_ACCOUNTS = SELECT_ACCOUNTS.where(T.community_id == sa.bindparam("c"))
_LIVE_LOTS = sa.select(*LOT_COLS).where(L.community_id == sa.bindparam("c"),
                                        L.remaining != sa.literal_column("0"))
_CREDIT_LOTS = sa.select(*LOT_COLS).where(
    L.community_id == sa.bindparam("c"),
    sa.or_(L.merge_key.is_not(None),
           sa.and_(L.source == sa.literal_column("'overdraft'"),
                   L.remaining != sa.literal_column("0"))))


def by_ids(kind: str, dialect: str, n: int, base: sa.Select[Any],
           column: sa.ColumnElement[Any], lock: bool = False, prefix: str = "a",
           ) -> sa.Select[Any]:
    """`base` (whose WHERE names the community `c`) for the `n` rows whose `column` is one of
    the parameters `a0`... (`prefix`). A read of several wallets, of their lots, of a batch's
    idempotency keys.

    On PostgreSQL, one lookup of the index per id (`for_each_row`), rows (and locks, `lock`)
    in the order of the ids. The plain `IN` list, prepared, gets a generic plan, and where the
    community looks selective (a new database's empty tables, or thousands of small
    communities beside a large one) that plan reads every row of the community and compares
    each with the list: 17 ms for a community of 50,000 wallets (decision 0123). A NULL id
    matches nothing (`many_chunks` pads with it)."""
    key = (kind, dialect, n)
    found = MANY.get(key)
    if found is not None:
        return found
    if dialect == "postgresql" and n > 1:
        each = base.where(column == sa.literal_column(f"v.{prefix}", sa.String))
        found = for_each_row([prefix], n, each.with_for_update() if lock else each)
    else:
        found = base.where(column.in_([sa.bindparam(f"{prefix}{i}") for i in range(n)]))
        if lock and dialect == "postgresql":
            found = found.with_for_update()
        if lock:
            found = found.order_by(column)
    MANY[key] = found
    return found


def for_each_row(names: Sequence[str], n: int, each: Any, *, lead: bool = False,
                 ) -> sa.Select[Any]:
    """PostgreSQL: `each` (a SELECT that names `v.<name>` for each of `names`) run once for
    each of `n` rows of parameters (`<name>0`, `<name>1`...): `FROM (VALUES ...) AS v JOIN
    LATERAL (each OFFSET 0)`, its rows in the order of theirs, led by their values with
    `lead`. OFFSET 0 keeps `each` a subquery, planned with the row's values as its key, so the
    plan PostgreSQL keeps once it is prepared looks each one up (decision 0123). `each` names
    the values as text, not as the VALUES list's columns: SQLAlchemy would add the list to the
    FROM of every scalar subquery that named one (it correlates with the enclosing SELECT
    only), a cross join with every row."""
    v = sa.values(*(sa.column(name, sa.String) for name in names), name="v").data(
        [tuple(sa.bindparam(f"{name}{i}") for name in names) for i in range(n)])
    one = each.offset(sa.literal_column("0")).lateral("each")
    return sa.select(*(v.c[name] for name in names if lead), *one.c).select_from(
        v.join(one, sa.true()))


def lock_accounts(dialect: str, n: int) -> sa.Select[Any]:
    """Lock and read `n` wallets in one statement, ids `a0`... in sorted order (Python's
    sorted(): code points). A transfer between members, or a charge with a royalty, touches
    two or more: locked in the order the one-at-a-time path uses, so two writers never wait
    on each other both ways. On SQLite the whole database is this writer's (BEGIN IMMEDIATE):
    a read."""
    return by_ids("lock", dialect, n, _COMMUNITY_ACCOUNTS, T.account_id,
                  lock=dialect == "postgresql")


def live_lots_of(dialect: str, n: int) -> sa.Select[Any]:
    """The live lots of `n` wallets (`a0`...)."""
    return by_ids("lots", dialect, n, _LIVE_LOTS, L.account_id)


def credit_lots_of(dialect: str, n: int) -> sa.Select[Any]:
    """The lots a credit to these wallets may touch: the credit line's (overdraft) lot and the
    lots credits merge into (free credits of one kind, paid pieces carried from one lot),
    drained or not. One-off lots (a purchase's, a grant's) never take a credit, so a wallet
    that received ten thousand purchases is not read whole to receive one more. The writer's
    cache keeps the same lots by the same rule (`cache._takes_credit`): change both."""
    return by_ids("credit-lots", dialect, n, _CREDIT_LOTS, L.account_id)


def lock_accounts_in(ids: sa.Select[Any] | sa.CompoundSelect[Any]) -> sa.Select[Any]:
    """Lock and read the tracked accounts whose ids `ids` selects (a transfer's, through its
    postings; a hold's wallet, through the hold), in the order every write locks
    (`lock_accounts`): for a write that names its accounts by what holds them."""
    return SELECT_ACCOUNTS.where(
        T.community_id == sa.bindparam("c"), T.tracked, T.account_id.in_(ids.scalar_subquery()),
    ).order_by(T.account_id.collate("C")).with_for_update()


def lots_in(ids: sa.Select[Any]) -> sa.Select[Any]:
    """The lots whose ids `ids` selects, drained ones included (those a hold reserved, those a
    transfer moved)."""
    return sa.select(*LOT_COLS).where(L.community_id == sa.bindparam("c"),
                                      L.lot_id.in_(ids.scalar_subquery()))


SELECT_MERGE_LOT = sa.select(*LOT_COLS).where(
    L.community_id == sa.bindparam("c"), L.account_id == sa.bindparam("a"),
    L.merge_key == sa.bindparam("k"))


SELECT_LOT = sa.select(*LOT_COLS).where(
    L.community_id == sa.bindparam("c"), L.lot_id == sa.bindparam("lot"))


SELECT_MEMBER = sa.select(members.c.member_id).where(
    members.c.community_id == sa.bindparam("c"), members.c.member_id == sa.bindparam("m"))


INSERT_TRANSFER = transfers.insert().values(recorded_at_us=db_now_us())


UPDATE_ACCOUNT = accounts.update().where(
    T.community_id == sa.bindparam("b_community"), T.account_id == sa.bindparam("b_account"))


UPDATE_LOT = lots.update().where(
    L.community_id == sa.bindparam("b_community"), L.lot_id == sa.bindparam("b_lot"))


UPDATE_HOLD = holds.update().where(
    holds.c.community_id == sa.bindparam("b_community"), holds.c.hold_id == sa.bindparam("b_hold"))


UPDATE_HOLD_LOT = hold_lots.update().where(
    hold_lots.c.community_id == sa.bindparam("b_community"),
    hold_lots.c.hold_id == sa.bindparam("b_hold"), hold_lots.c.lot_id == sa.bindparam("b_lot"))


def acct(row: tuple[Any, ...]) -> Acct:
    return Acct(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7], row[8])


def lot(row: tuple[Any, ...]) -> LotState:
    return LotState(row[0], row[1], row[2], bool(row[3]), *row[4:])


LOT_ROW_KEYS = ("community_id", "lot_id", "account_id", "source", "paid", "cost_minor",
                 "cost_currency", "amount", "remaining", "expires_at_us", "priority", "scope",
                 "merge_key", "origin_transfer_id", "created_at_us")


INSERT_HOLD = holds.insert()


INSERT_LOT = lots.insert()


INSERT_HOLD_LOT = hold_lots.insert()


INSERT_POSTING = postings.insert()


INSERT_POSTING_LOT = posting_lots.insert()


INSERT_KEY = idempotency_keys.insert()


INSERT_EVENT = events.insert()


def lot_row(community_id: str, lot: LotState) -> dict[str, Any]:
    invariant(bool(lot.origin_transfer_id), f"lot {lot.id} has no origin transfer")
    return {
        "community_id": community_id, "lot_id": lot.id, "account_id": lot.account_id,
        "source": lot.source, "paid": lot.paid, "cost_minor": lot.cost_minor,
        "cost_currency": lot.cost_currency, "amount": lot.amount, "remaining": lot.remaining,
        "expires_at_us": lot.expires_at_us, "priority": lot.priority, "scope": lot.scope,
        "merge_key": lot.merge_key, "origin_transfer_id": lot.origin_transfer_id,
        "created_at_us": lot.created_at_us,
    }


def account_update(community_id: str, a: Acct) -> dict[str, Any]:
    """The row of `UPDATE_ACCOUNT` for an account a write changed."""
    return {"b_community": community_id, "b_account": a.account_id, "posted": a.posted,
            "pending": a.pending, "version": a.version}


def lot_update(community_id: str, lot: LotState) -> dict[str, Any]:
    """The row of `UPDATE_LOT` for a lot a write changed."""
    return {"b_community": community_id, "b_lot": lot.id, "amount": lot.amount,
            "remaining": lot.remaining, "cost_minor": lot.cost_minor}


# ---- crediting a wallet without its lock (PostgreSQL; `WorkSet.preload`'s `credited`) ----

def read_accounts(n: int) -> sa.Select[Any]:
    """Read `n` accounts without locking them (PostgreSQL): the wallets a charge credits by
    `CREDIT_POSTING` (its royalties), which take their lock only in the write's last round
    trip."""
    return by_ids("read", "postgresql", n, _COMMUNITY_ACCOUNTS, T.account_id)


# The wallet's balance and version moved by the credit under the row's own lock, which the
# UPDATE takes (waiting for a writer that holds it), and the posting that records them. The
# UPDATE matches no row when the wallet has a credit line or owes on one (a credit repays that
# first, which needs the wallet's lots read under its lock); the posting then names no account
# and its NOT NULL fails the write, which the ledger does again with the wallet locked.
CREDIT_POSTING = sa.text("""
WITH credited AS (
    UPDATE accounts SET posted = posted + :amount, version = version + 1
    WHERE community_id = :c AND account_id = :a AND floor >= 0
      AND NOT EXISTS (SELECT 1 FROM lots
                      WHERE lots.community_id = :c AND lots.account_id = :a
                        AND lots.source = 'overdraft' AND lots.remaining < 0)
    RETURNING account_id, posted, version)
INSERT INTO postings (community_id, transfer_id, account_id, amount, balance_after,
                      account_version)
SELECT :c, :t, credited.account_id, :amount, credited.posted, credited.version
FROM (SELECT 1) AS one LEFT JOIN credited ON true""")


# A credit merged into a lot the wallet has: added to what the lot holds, whatever another
# write left there (`CREDIT_POSTING` holds the wallet's lock by then).
ADD_TO_LOT = sa.text("""
UPDATE lots SET amount = amount + :amount, remaining = remaining + :amount,
                cost_minor = cost_minor + :cost
WHERE community_id = :c AND lot_id = :lot""")
