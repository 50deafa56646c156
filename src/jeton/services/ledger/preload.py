"""A write's first round trip on PostgreSQL: `WorkSet.preload` (services/ledger/workset.py).

BEGIN, the idempotency key, the wallets the write touches locked in sorted order with their lots,
and everything the write and its hooks will read, sent as one pipeline (decision 0037). The
function takes the working set as `self`: `preload` is `WorkSet.preload`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

from jeton.core.errors import invariant
from jeton.services.ledger import statements as q
from jeton.services.ledger.state import CreditNeedsLock, LockBy, MemberBy, PreRead
from jeton.store import pipeline
from jeton.store.fastsql import compiled

if TYPE_CHECKING:
    from jeton.services.ledger.workset import WorkSet


def preload(self: WorkSet, account_ids: Iterable[str], key_read: tuple[sa.sql.ClauseElement,
            dict[str, Any]], reads: Sequence[PreRead] = (),
            debited: str | None = None,
            credited: Sequence[str] = (),
            lot_reads: Sequence[tuple[sa.sql.ClauseElement, dict[str, Any]]] = (),
            lock_by: LockBy | None = None,
            ) -> tuple[Any, ...] | None:
    """On PostgreSQL: BEGIN, lock and load the wallets a write will touch (sorted, as
    `load`), read the live lots of the wallet it debits (`debited`) and the lots the others
    may be credited to (`load_credit_lots`), its idempotency key and what the hooks will
    ask (`reads`), all in one round trip; the row of the key read comes back.

    The statements run one after the other, so the lots are read after their wallets'
    locks are held. Wallets that do not exist yet are left to `ensure_wallet`, lots
    included: one another writer commits after the lock's snapshot is not locked here,
    though the lots' later snapshot sees its lots (they would be stale once locked).
    System accounts are read (once per process) as `load` does.

    `credited`: wallets the write only credits, whose balance after the credit nothing it
    answers or checks needs; they are read without their lock, and `credit` adds to them
    relative to the row in the last round trip (the module docstring). One with a credit
    line, or owing on one, raises `CreditNeedsLock`.

    `lot_reads`: statements of lots the write will name by id (those a hold reserved, those a
    transfer moved), read after the locks; a lot of a wallet not locked here is left out.
    `lock_by`: a statement that locks and reads accounts the caller names by what holds them
    (the accounts of a transfer, a hold's wallet), in the same order as the others, after
    them."""
    invariant(self.dialect == "postgresql", "preload pipelines PostgreSQL statements")
    ids = set(account_ids)
    unlocked = sorted({a for a in credited if a in ids and a != debited})
    wallets = sorted(a for a in ids if a.startswith("wallet:") and a not in unlocked)
    work: list[tuple[str, list[dict[str, Any]]]] = [
        ("BEGIN", [{}]), (compiled(key_read[0], "postgresql"), [key_read[1]])]
    full = [a for a in wallets if a == debited]
    credit_only = [a for a in wallets if a != debited] + unlocked
    for names, stmt in ((wallets, q.lock_accounts("postgresql", len(wallets))),
                        (unlocked, q.read_accounts(len(unlocked)))):
        if not names:
            continue
        params: dict[str, Any] = {f"a{i}": aid for i, aid in enumerate(names)}
        params["c"] = self.community_id
        work.append((compiled(stmt, "postgresql"), [params]))
    if lock_by is not None:
        work.append((compiled(lock_by.stmt, "postgresql"), [lock_by.params]))
    lot_stmts: list[tuple[sa.sql.ClauseElement, dict[str, Any]]] = []
    for names, many in ((full, q.live_lots_of), (credit_only, q.credit_lots_of)):
        if names:
            lp: dict[str, Any] = {f"a{i}": aid for i, aid in enumerate(names)}
            lp["c"] = self.community_id
            lot_stmts.append((many("postgresql", len(names)), lp))
    lot_stmts.extend(lot_reads)
    work.extend((compiled(stmt, "postgresql"), [params]) for stmt, params in lot_stmts)
    work.extend((compiled(read.stmt, "postgresql"), [read.params]) for read in reads)
    results = pipeline.run(self.conn.connection.driver_connection,  # type: ignore[arg-type]
                           work)
    key_rows = results[1]
    at = 2
    if wallets:
        for row in results[at]:
            self.accounts[row[0]] = q.acct(row)
        at += 1
    if unlocked:
        for row in results[at]:
            found = q.acct(row)
            if not found.tracked or found.floor is None or found.floor < 0:
                raise CreditNeedsLock("a credit line", found.account_id)
            self.accounts[found.account_id] = found
            self.unlocked.add(found.account_id)
        at += 1
    if lock_by is not None:
        for row in results[at]:
            self.accounts[row[0]] = q.acct(row)
            if lock_by.with_lots:
                self._loaded_lots_for.add(row[0])
            if lock_by.credit_lots:
                self._credit_lots_for.add(row[0])
        at += 1
    for _lot_read in lot_stmts:
        for row in results[at]:
            if row[1] in self.accounts:  # locked: see `preload`'s docstring
                self._add_lot(q.lot(row))
        at += 1
    self._loaded_lots_for.update(a for a in full if a in self.accounts)
    self._credit_lots_for.update(a for a in credit_only if a in self.accounts)
    for aid in self.unlocked:
        owed = self.overdraft_lot(aid)
        if owed is not None and owed.remaining < 0:
            raise CreditNeedsLock("a debt on its credit line", aid)
    for read, rows in zip(reads, results[at:], strict=True):
        self.prefetched[read.name] = rows if read.all_rows else rows[0] if rows else None
    for aid in sorted(ids.difference(wallets, unlocked)):  # a wallet is never read here
        if aid not in self.accounts:
            self._load_system(aid)
    return key_rows[0] if key_rows else None


def preload_batch(self: WorkSet, account_ids: Iterable[str],
                  key_reads: Sequence[tuple[sa.sql.ClauseElement, dict[str, Any]]],
                  reads: Sequence[PreRead]) -> list[tuple[Any, ...]]:
    """On PostgreSQL, a batch's first round trip, as `preload` is a write's: BEGIN, its keys
    (`key_reads`: every row comes back), every wallet of `account_ids` locked in sorted order
    with its live lots (`q.MANY_MAX` a statement, a short last one padded with NULL, so
    one statement serves every batch), and the hooks' reads of its members (`reads`). Its rows
    and COMMIT go in the second (`flush(commit=True)`): a batch of any size is two round trips.
    Wallets that do not exist yet are left to `ensure_wallet`; system accounts are read as
    `load` reads them."""
    invariant(self.dialect == "postgresql", "preload pipelines PostgreSQL statements")
    ids = set(account_ids)
    wallets = sorted(a for a in ids if a.startswith("wallet:"))
    chunks = q.many_chunks(self.community_id, wallets)
    work: list[tuple[str, list[dict[str, Any]]]] = [("BEGIN", [{}])]
    work.extend((compiled(stmt, "postgresql"), [params]) for stmt, params in key_reads)
    if chunks:  # the locks first, in order; the lots once they are held
        work.append((compiled(q.lock_accounts("postgresql", q.MANY_MAX), "postgresql"), chunks))
        work.append((compiled(q.live_lots_of("postgresql", q.MANY_MAX), "postgresql"), chunks))
    together = members_together(reads)
    work.extend((compiled(stmt, "postgresql"), [params]) for stmt, params, _ in together)
    results = pipeline.run(self.conn.connection.driver_connection,  # type: ignore[arg-type]
                           work)
    at = 1 + len(key_reads)
    keys = [row for rows in results[1:at] for row in rows]
    if chunks:
        for rows in results[at:at + len(chunks)]:
            for row in rows:
                self.accounts[row[0]] = q.acct(row)
        for rows in results[at + len(chunks):at + 2 * len(chunks)]:
            for row in rows:
                self._add_lot(q.lot(row))
        at += 2 * len(chunks)
    self._loaded_lots_for.update(a for a in wallets if a in self.accounts)
    for (_, _, file), rows in zip(together, results[at:], strict=True):
        file(self.prefetched, rows)
    for aid in sorted(ids.difference(wallets)):
        self._load_system(aid)
    return keys


# Each hook read rewritten for a `MemberBy`, by the ids of both (kept beside, so never reused).
_BY_MEMBER: dict[tuple[int, int], tuple[Any, Any, Any]] = {}


def by_member(read: PreRead, member_by: MemberBy) -> PreRead:
    """`read` (a hook's read for one member and asset, `m` and `a`) with `member_by`'s
    subqueries in place of the two parameters, made once per statement."""
    key = (id(read.stmt), id(member_by.member))
    kept = _BY_MEMBER.get(key)
    if kept is None:
        swap: dict[str, Any] = {"m": member_by.member, "a": member_by.asset}

        def replace(element: Any, **_kw: Any) -> Any:
            return swap.get(element.key) if isinstance(element, BindParameter) else None

        kept = _BY_MEMBER[key] = (read.stmt, member_by.member,
                                  replacement_traverse(read.stmt, {}, replace))
    return PreRead(read.name, kept[2], {**read.params, **member_by.params}, read.all_rows)


# ---- the same read for many members in one statement (a batch's hooks and snapshots) ----

File = Callable[[dict[str, Any], list[tuple[Any, ...]]], None]
_MEMBERS_MAX = 32  # members a statement, in sizes of a power of two: a few prepared sizes
_PER_MEMBER: dict[tuple[Any, bool, int], sa.Select[Any]] = {}


def members_together(reads: Sequence[PreRead],
                     ) -> list[tuple[sa.sql.ClauseElement, dict[str, Any], File]]:
    """`reads` as statements to send, each with what files its rows in `prefetched`. A batch
    asks every hook's read once for each of its members (`m`, with `a` the asset where the
    read has one): the reads of one statement whose other parameters agree go as one
    statement for all those members (`per_member`), one execution where there were as many as
    members; a read alone goes as it is."""
    groups: dict[tuple[Any, ...], list[PreRead]] = {}
    for read in reads:
        shared = tuple(sorted((k, v) for k, v in read.params.items() if k not in ("m", "a")))
        key = (id(read.stmt), read.all_rows, "m" in read.params, "a" in read.params, shared)
        groups.setdefault(key, []).append(read)
    out: list[tuple[sa.sql.ClauseElement, dict[str, Any], File]] = []
    for (_, _, by_member, with_asset, _), group in groups.items():
        if not by_member or len(group) == 1:
            out.extend((read.stmt, read.params, functools.partial(_file_one, read))
                       for read in group)
            continue
        for start in range(0, len(group), _MEMBERS_MAX):
            chunk = group[start:start + _MEMBERS_MAX]
            size = 1 << (len(chunk) - 1).bit_length()
            params = {k: v for k, v in chunk[0].params.items() if k not in ("m", "a")}
            for i in range(size):  # a short chunk padded with NULL: no member has it
                params[f"m{i}"] = chunk[i].params["m"] if i < len(chunk) else None
                if with_asset:
                    params[f"a{i}"] = chunk[i].params["a"] if i < len(chunk) else None
            out.append((per_member(chunk[0].stmt, with_asset, size), params,
                        functools.partial(_file_each, chunk, 2 if with_asset else 1)))
    return out


def _file_one(read: PreRead, prefetched: dict[str, Any], rows: list[tuple[Any, ...]]) -> None:
    prefetched[read.name] = rows if read.all_rows else rows[0] if rows else None


def _file_each(chunk: list[PreRead], width: int, prefetched: dict[str, Any],
               rows: list[tuple[Any, ...]]) -> None:
    """`per_member`'s rows (each led by its member, and asset) under each read's name."""
    by_whom: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        by_whom.setdefault(row[:width], []).append(row[width:])
    for read in chunk:
        whom = (read.params["m"], read.params["a"]) if width == 2 else (read.params["m"],)
        _file_one(read, prefetched, by_whom.get(whom, []))


def per_member(stmt: Any, with_asset: bool, n: int) -> sa.Select[Any]:
    """`stmt` (a read of one member, `m`, and asset, `a`) for the `n` members `m0`... (and
    assets `a0`...) at once, each row led by its member (and asset), each member's read with
    its own key (`statements.for_each_row`, decision 0123). Made once per statement and
    size."""
    key = (stmt, with_asset, n)  # a statement is hashed by its identity
    found = _PER_MEMBER.get(key)
    if found is None:
        names = ["m", "a"] if with_asset else ["m"]
        swap = {name: sa.literal_column(f"v.{name}", sa.String) for name in names}

        def replace(element: Any, **_kw: Any) -> Any:
            return swap.get(element.key) if isinstance(element, BindParameter) else None

        found = q.for_each_row(names, n, replacement_traverse(stmt, {}, replace), lead=True)
        _PER_MEMBER[key] = found
    return found
