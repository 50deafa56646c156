"""What a SQLite writer connection already knows (decision 0056).

A spend reads its wallet, the wallet's live lots and what the hooks ask (is the member frozen,
does the community count spends, is auto-recharge on) before it writes; a charge also reads
the wallet it pays a royalty to, with the lots a credit may touch. On SQLite one process
keeps a writer connection per thread, and its last write left exactly those rows: the wallets
and lots it wrote, the settings it read (decisions 0073, 0107). The connection keeps them,
and the next write uses them instead of reading again, on one condition checked at its start:
nothing but this connection's own ledger writes has changed the database since.

That condition is two counters SQLite keeps for each connection, read in one statement after
`BEGIN IMMEDIATE` (so no other writer can commit meanwhile):

- `data_version` changes when any other connection commits (this process or another one);
- `total_changes` counts the rows this connection inserted, updated or deleted.

A write records both after its flush, provided nothing wrote between its start and its flush
but the flush itself (a hook that inserts, a new wallet, a velocity counter: then the cache is
emptied instead). The store forgets a connection's cache when a write on it fails or is rolled
back to a savepoint, and when it stops being a kept writer (store/engine.py), so no cached row
outlives the transaction that made it. PostgreSQL has many writers: nothing is cached there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy.engine import Connection

from jeton.core.lots import OVERDRAFT
from jeton.services.ledger.state import Acct, LotState
from jeton.store.engine import WRITER_CACHE

Row = tuple[Any, ...]

# The pragma itself: its table-valued form (`FROM pragma_data_version`) prepares and runs the
# pragma again inside, twice the work on every write.
_DATA_VERSION = "PRAGMA data_version"


class WriterCache:
    """The rows one SQLite writer connection may reuse, and the counters they are valid at."""

    __slots__ = ("credited", "marker", "raw", "reads", "start", "wallets")

    def __init__(self, raw: Any) -> None:
        self.raw = raw  # the sqlite3 connection
        self.marker: tuple[int, int] | None = None
        self.start: tuple[int, int] = (-1, -1)
        # (community, account id) -> (the account's row, its live lots' rows)
        self.wallets: dict[tuple[str, str], tuple[Row, list[Row]]] = {}
        # (community, account id) -> (the account's row, the rows of the lots a credit may
        # touch: `credit_lots_of`'s, drained merge lots included): wallets a write credited
        self.credited: dict[tuple[str, str], tuple[Row, list[Row]]] = {}
        # (community, read name) -> the row a hook read (None: no row)
        self.reads: dict[tuple[str, str], Row | None] = {}

    def keep(self, community_id: str, accounts: Iterable[Acct], live: set[str],
             credit: set[str], lots_by_account: dict[str, list[LotState]]) -> None:
        """Keep the accounts a write left, as it left them: those it held with their live lots
        (`live`: the rows `load` would read, lots with something left or owed), and those it
        held with the lots a credit may touch (`credit`: `load_credit_lots`'s rows). Any other
        account it read (and may have changed) is no longer kept."""
        for a in accounts:
            key = (community_id, a.account_id)
            in_live, in_credit = a.account_id in live, a.account_id in credit
            if not (in_live or in_credit):
                self.wallets.pop(key, None)
                self.credited.pop(key, None)
                continue
            row = (a.account_id, a.kind, a.member_id, a.asset, a.tracked, a.floor, a.posted,
                   a.pending, a.version)
            lots = lots_by_account.get(a.account_id, ())
            if in_live:
                self.wallets[key] = (row, [_lot_row(lot) for lot in lots if lot.remaining != 0])
            else:
                self.wallets.pop(key, None)
            if in_credit:
                self.credited[key] = (row, [_lot_row(lot) for lot in lots if _takes_credit(lot)])
            else:
                self.credited.pop(key, None)

    def held(self, community_id: str,
             wanted: Iterable[str]) -> Iterator[tuple[str, tuple[Row, list[Row]]]]:
        """The wallets of `wanted` this cache holds: account row and live lots' rows."""
        for aid in wanted:
            entry = self.wallets.get((community_id, aid))
            if entry is not None:
                yield aid, entry

    def held_for_credit(self, community_id: str, wanted: Iterable[str],
                        ) -> Iterator[tuple[str, tuple[Row, list[Row]]]]:
        """The wallets of `wanted` this cache holds with the lots a credit may touch."""
        for aid in wanted:
            entry = self.credited.get((community_id, aid))
            if entry is not None:
                yield aid, entry

    def read(self, community_id: str, name: str, fetch: Callable[[], Row | None]) -> Row | None:
        """The row of a hook's read `name`: kept, or fetched now and kept."""
        key = (community_id, name)
        if key in self.reads:
            return self.reads[key]
        row = self.reads[key] = fetch()
        return row

    def changes(self) -> int:
        """Rows this connection has inserted, updated or deleted since it opened."""
        return int(self.raw.total_changes)

    def forget(self) -> None:
        self.marker = None
        self.wallets.clear()
        self.credited.clear()
        self.reads.clear()


def _lot_row(lot: LotState) -> Row:
    return (lot.id, lot.account_id, lot.source, lot.paid, lot.cost_minor, lot.cost_currency,
            lot.amount, lot.remaining, lot.expires_at_us, lot.priority, lot.scope,
            lot.merge_key, lot.origin_transfer_id, lot.created_at_us)


def _takes_credit(lot: LotState) -> bool:
    """Whether `credit_lots_of` reads this lot: a merge lot, drained or not, or a credit
    line's lot that owes or holds something."""
    return lot.merge_key is not None or (lot.source == OVERDRAFT and lot.remaining != 0)


def open_cache(conn: Connection) -> WriterCache:
    """The cache of the SQLite connection `conn` (inside its write transaction), emptied unless
    nothing has changed the database since it was last brought up to date."""
    raw: Any = conn.connection.driver_connection
    info = conn.info
    cache: WriterCache | None = info.get(WRITER_CACHE)
    if cache is None:
        cache = info[WRITER_CACHE] = WriterCache(raw)
    now = (raw.execute(_DATA_VERSION).fetchone()[0], raw.total_changes)
    if cache.marker != now:
        cache.forget()
    cache.start = now
    return cache

