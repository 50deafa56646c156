"""Writing a working set's rows: `WorkSet.flush` (services/ledger/workset.py).

Every row a write made goes out in a handful of `executemany` statements: on SQLite now, on the
write's own transaction (keeping what they leave in the writer's cache, services/ledger/cache.py);
on PostgreSQL queued with the COMMIT into one pipeline, the write's last round trip. The
functions take the working set as `self`: `flush` is `WorkSet.flush`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jeton.core.errors import InvariantViolation, invariant
from jeton.services.ledger import statements as q
from jeton.store import fastsql, pipeline
from jeton.store.fastsql import Runner
from jeton.store.transactions import end_of_write

if TYPE_CHECKING:
    from jeton.services.ledger.cache import WriterCache
    from jeton.services.ledger.workset import WorkSet


def flush(self: WorkSet, *, commit: bool = False) -> None:
    """Write every row this working set made. With `commit` on PostgreSQL, the statements
    and the COMMIT go out in one pipeline: one round trip for the whole write (an error in
    any of them skips the rest, COMMIT included, and is raised here). In a batch of writes the
    savepoint's RELEASE takes the COMMIT's place (store/transactions.py)."""
    if commit and self.dialect == "postgresql":
        work: list[tuple[str, list[dict[str, Any]]]] = []
        _write_rows(self, work)
        work += end_of_write(self.conn)
        pipeline.run(self.conn.connection.driver_connection,  # type: ignore[arg-type]
                     work)
    elif self.cache is None:
        _write_rows(self, None)
    else:
        _flush_cached(self, self.cache)


def _flush_cached(self: WorkSet, cache: WriterCache) -> None:
    """SQLite: write the rows, then keep what they leave for the next write, unless
    something else wrote in this transaction since it began (then keep nothing)."""
    alone = cache.changes() == self._changes_at_start
    _write_rows(self, None)
    if not alone:
        cache.forget()
        return
    cache.keep(self.community_id, self.accounts.values(), self._loaded_lots_for,
               self._credit_lots_for, self.lots_by_account)
    self._changes_at_start = cache.changes()
    cache.marker = cache.start = (cache.start[0], self._changes_at_start)


def _write_rows(self: WorkSet, work: list[tuple[str, list[dict[str, Any]]]] | None) -> None:
    """Write the rows now, or (`work` given) add their statements to it."""
    c = self.community_id
    db: Runner | fastsql.Queue = self.db if work is None else fastsql.Queue(work)
    acct_rows = [q.account_update(c, a) for a in self.accounts.values() if a.dirty]
    new_lots: list[dict[str, Any]] = []
    credited_lots: list[dict[str, Any]] = []  # of wallets credited unlocked: see below
    lot_updates = []
    unlocked = self.unlocked
    for lot in self.lots.values():  # one pass: a working set is dropped if a write fails
        if lot.new:
            (credited_lots if lot.account_id in unlocked else new_lots).append(q.lot_row(c, lot))
        elif lot.dirty:
            if lot.account_id in unlocked:
                raise InvariantViolation(f"lot {lot.id} was read without its wallet's lock")
            lot_updates.append(q.lot_update(c, lot))
        lot.new = lot.dirty = False
    many = db.many
    many(q.INSERT_TRANSFER, self.transfer_rows)
    many(q.INSERT_LOT, new_lots, q.LOT_ROW_KEYS)
    many(q.UPDATE_LOT, lot_updates, locked=True)  # a lot changes only with its wallet locked
    many(q.INSERT_HOLD, self.hold_inserts)
    many(q.INSERT_HOLD_LOT, self.hold_lot_inserts)
    many(q.UPDATE_HOLD_LOT, list(self.hold_lot_updates.values()))
    # Accounts after holds: pending and posted move together under the floor CHECK.
    many(q.UPDATE_ACCOUNT, acct_rows, locked=True)  # its new balance: read with the lock
    many(q.UPDATE_HOLD, list(self.hold_updates.values()))
    many(q.INSERT_POSTING, self.posting_rows)
    many(q.INSERT_KEY, self.key_rows)
    many(q.INSERT_EVENT, self.event_rows)
    for stmt, rows in self.service_rows:
        many(stmt, rows)
    self.service_rows.clear()
    if self.unlocked_postings:  # last before the COMMIT: their wallets' locks, held to it
        invariant(work is not None, "unlocked credits go out in the commit's pipeline")
        many(q.CREDIT_POSTING, self.unlocked_postings)  # takes the lock before the lots move
        many(q.ADD_TO_LOT, [{"c": c, "lot": lot_id, "amount": add[0], "cost": add[1]}
                            for lot_id, add in self.unlocked_lot_adds.items()])
        many(q.INSERT_LOT, credited_lots, q.LOT_ROW_KEYS)
    many(q.INSERT_POSTING_LOT, self.posting_lot_rows)
    for a in self.accounts.values():
        a.dirty = False
    for rows in (self.transfer_rows, self.hold_inserts, self.hold_lot_inserts,
                 self.posting_rows, self.posting_lot_rows, self.key_rows, self.event_rows,
                 self.unlocked_postings):
        rows.clear()
    self.unlocked_lot_adds.clear()
    self.hold_updates.clear()
    self.hold_lot_updates.clear()
