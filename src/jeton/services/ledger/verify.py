"""`jeton verify`: every invariant of the ledger, checked against the database as it is.

Returns violations as data (all of them, not the first), each naming what is wrong and where.
The checks (DESIGN.md §2):

- per community and asset, and per transfer, postings sum to zero;
- every transfer's hash matches what it says, and the seals chain without a gap;
- each tracked account's balance equals the sum of its postings, and every posting's
  balance_after is the running sum; each untracked account's checkpoint equals its postings;
  every posting of a tracked account carries a version, and no posting of another does;
- each wallet's posted balance equals its lots plus what holds set aside; pending equals
  what open holds still hold; no wallet is under its floor;
- each lot's remaining (plus what holds set aside from it) equals the sum of its lot moves;
  no lot is below zero except a credit line's overdraft lot;
- every hold's captured + voided is at most its amount, exactly its amount once settled, and
  its lot reservations add up;
- every journal row names what exists: a transfer its asset, a posting its transfer and its
  account, a lot move its transfer (foreign keys on SQLite; on PostgreSQL this check holds
  them, decision 0124).

It goes community by community, each in a snapshot of its own (DESIGN.md §6; `Store.snapshot`:
on PostgreSQL a read-only REPEATABLE READ transaction, so a write that commits meanwhile is
seen by no check or by all): every invariant is about one community, and on Citus a community
is one shard group on one worker, so each check of a community runs there and nothing needs one
snapshot across shards. The journal is read in pages of `PAGE_ROWS` (transfers with their
postings and lot moves, a wallet's postings by version), and the other checks ask the database
for what breaks an invariant only, so the memory a check needs does not grow with the journal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core.transfers import GENESIS_HASH, HEADER_FIELDS, SealHasher, transfer_hash
from jeton.store.engine import Store
from jeton.store.tables.ledger import (
    account_checkpoints,
    accounts,
    assets,
    communities,
    hold_lots,
    holds,
    lots,
    posting_lots,
    postings,
    seals,
    transfers,
)

Progress = Callable[[str, int], None]
PAGE_ROWS = 10_000
"""Transfers (with their postings and lot moves), or a wallet's postings, read at a time."""


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    community_id: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.community_id}/{self.subject}: {self.detail}"


class UnknownCommunity(LookupError):
    """`verify(store, community_id=...)` named a community the store does not have."""


def verify(store: Store, progress: Progress | None = None, *,
           community_id: str | None = None) -> list[Violation]:
    """Every violation of every community (or of `community_id` alone), community by community.
    `progress(step, problems so far)` is told each community and check as it starts."""
    with store.read() as conn:
        ids = list(conn.execute(sa.select(communities.c.community_id)
                                .order_by(communities.c.community_id)).scalars())
    if community_id is not None:
        if community_id not in ids:
            raise UnknownCommunity(community_id)
        ids = [community_id]
    found: list[Violation] = []
    for cid in ids:
        found.extend(verify_community(store, cid, progress, so_far=len(found)))
    return found


def verify_community(store: Store, community_id: str, progress: Progress | None = None, *,
                     so_far: int = 0) -> list[Violation]:
    """Every violation of one community, read in one snapshot (on Citus: on its worker)."""
    found: list[Violation] = []
    with store.snapshot() as conn:
        for name, check in _CHECKS:
            if progress:
                progress(f"{community_id}: {name}", so_far + len(found))
            found.extend(check(conn, community_id))
    return found


def _sums_to_zero(conn: Connection, cid: str) -> Iterator[Violation]:
    t, p = transfers.c, postings.c
    rows: Any = conn.execute(
        sa.select(t.community_id, t.asset, sa.func.sum(p.amount))
        .join(postings, sa.and_(p.community_id == t.community_id, p.transfer_id == t.transfer_id))
        .where(t.community_id == cid, p.community_id == cid)
        .group_by(t.community_id, t.asset).having(sa.func.sum(p.amount) != 0))
    for cid_, asset, total in rows:
        yield Violation("sum_zero", cid_, asset, f"postings of {asset} sum to {total}, not 0")
    rows = conn.execute(sa.select(p.community_id, p.transfer_id, sa.func.sum(p.amount),
                                  sa.func.count()).where(p.community_id == cid)
                        .group_by(p.community_id, p.transfer_id)
                        .having(sa.or_(sa.func.sum(p.amount) != 0, sa.func.count() < 2)))
    for cid_, tid, total, n in rows:
        yield Violation("transfer_balanced", cid_, tid, f"{n} postings summing to {total}")


def _hashes(conn: Connection, community_id: str) -> Iterator[Violation]:
    """Recompute every transfer's hash, and every seal of the community's chain from the
    transfers it covers, in one pass over the journal in id order."""
    chain = _SealChain(conn, community_id)
    for header, stored, legs, moves in _journal(conn, community_id):
        if transfer_hash(header, legs, moves) != stored:
            yield Violation("hash", community_id, header["transfer_id"],
                            "transfer does not match its hash")
        yield from chain.add(header["transfer_id"], stored)
    yield from chain.end()


Hashed = list[tuple[int, str, int]]  # a transfer's postings or lot moves, as its hash takes them


def _journal(conn: Connection, community_id: str,
             ) -> Iterator[tuple[dict[str, Any], str, Hashed, Hashed]]:
    """Every transfer of the community in id order (its header, its stored hash, its postings
    and its lot moves), read `PAGE_ROWS` transfers at a time."""
    t = transfers.c
    after = ""  # below every id
    while True:
        page = conn.execute(
            sa.select(*(t[c] for c in HEADER_FIELDS), t.hash)
            .where(t.community_id == community_id, t.transfer_id > after)
            .order_by(t.transfer_id).limit(PAGE_ROWS)).all()
        if not page:
            return
        last = page[-1][1]
        legs = _by_transfer(conn, postings, "account_id", community_id, after, last)
        moves = _by_transfer(conn, posting_lots, "lot_id", community_id, after, last)
        for row in page:
            header = dict(zip(HEADER_FIELDS, row[:-1], strict=True))
            tid = header["transfer_id"]
            yield header, row[-1], legs.get(tid, []), moves.get(tid, [])
        if len(page) < PAGE_ROWS:
            return
        after = last


def _by_transfer(conn: Connection, table: sa.Table, what: str, community_id: str, after: str,
                 last: str) -> dict[str, Hashed]:
    """The rows of `table` (postings or lot moves) of the transfers in (after, last]."""
    c = table.c
    found: dict[str, Hashed] = {}
    for tid, name, amount in conn.execute(sa.select(c.transfer_id, c[what], c.amount).where(
            c.community_id == community_id, c.transfer_id > after, c.transfer_id <= last)):
        found.setdefault(tid, []).append((0, name, amount))
    return found


class _SealChain:
    """The community's seals, checked against the transfers read in id order: each seal
    chains the hashes of the transfers in [the previous seal's up_to, its own) onto the
    previous seal's hash. Seals are read as the transfers reach them, a page at a time."""

    def __init__(self, conn: Connection, community_id: str) -> None:
        self.community_id = community_id
        self._seals = _seal_rows(conn, community_id)
        self.prev_hash, self.prev_up_to, self.expected_seq = GENESIS_HASH, "", 1
        self._next()

    def _next(self) -> None:
        self.seal = next(self._seals, None)
        self.hasher = SealHasher(self.prev_hash)
        self.count = 0

    def add(self, transfer_id: str, stored: str) -> list[Violation]:
        found: list[Violation] = []
        while self.seal is not None and transfer_id >= self.seal[1]:
            found += self._close()
        if self.seal is not None and transfer_id >= self.prev_up_to:
            self.hasher.add(stored)
            self.count += 1
        return found

    def end(self) -> list[Violation]:
        found: list[Violation] = []
        while self.seal is not None:
            found += self._close()
        return found

    def _close(self) -> list[Violation]:
        assert self.seal is not None
        seq, up_to, count, prev, digest = self.seal
        found = []
        subject = f"seal {seq}"
        if seq != self.expected_seq or prev != self.prev_hash:
            found.append(Violation("seal_chain", self.community_id, subject,
                                   "seal does not follow the last"))
        if self.count != count or self.hasher.hexdigest() != digest:
            found.append(Violation("seal_chain", self.community_id, subject,
                                   f"sealed {count} transfers, journal now has {self.count} "
                                   "in that range or they differ"))
        self.prev_hash, self.prev_up_to, self.expected_seq = digest, up_to, seq + 1
        self._next()
        return found


def _seal_rows(conn: Connection, community_id: str) -> Iterator[tuple[Any, ...]]:
    """(seq, up_to_transfer_id, transfer_count, prev_hash, hash) of every seal, by seq."""
    s = seals.c
    after = 0
    while True:
        page = conn.execute(sa.select(s.seq, s.up_to_transfer_id, s.transfer_count,
                                      s.prev_hash, s.hash)
                            .where(s.community_id == community_id, s.seq > after)
                            .order_by(s.seq).limit(PAGE_ROWS)).all()
        yield from (tuple(row) for row in page)
        if len(page) < PAGE_ROWS:
            return
        after = page[-1][0]


def _account_balances(conn: Connection, community_id: str) -> Iterator[Violation]:
    a, p = accounts.c, postings.c
    # One pass over the postings, by account: their sum, and how many carry a version. Every
    # posting of a tracked account carries its version and no other does: a wallet's postings
    # are found by version, an untracked account's by transfer (decision 0108).
    sums = (sa.select(p.community_id, p.account_id, sa.func.sum(p.amount).label("total"),
                      sa.func.count().label("n"),
                      sa.func.count(p.account_version).label("versioned"))
            .where(p.community_id == community_id)
            .group_by(p.community_id, p.account_id).subquery())
    total, n, versioned = (sa.func.coalesce(sums.c[k], 0) for k in ("total", "n", "versioned"))
    rows: Any = conn.execute(
        sa.select(a.community_id, a.account_id, a.tracked, a.posted, total, n, versioned)
        .outerjoin(sums, sa.and_(sums.c.community_id == a.community_id,
                                 sums.c.account_id == a.account_id))
        .where(a.community_id == community_id,
               sa.or_(sa.and_(a.tracked.is_(True), sa.or_(a.posted != total, versioned != n)),
                      sa.and_(a.tracked.is_(False), versioned != 0))))
    for cid, aid, tracked, posted, sum_, count, with_version in rows:
        if tracked and posted != sum_:
            yield Violation("account_balance", cid, aid,
                            f"balance {posted} but its postings sum to {sum_}")
        if with_version != (count if tracked else 0):
            missing = count - with_version if tracked else with_version
            yield Violation("posting_version", cid, aid,
                            f"{missing} postings {'without' if tracked else 'with'} a version")
    rows = conn.execute(sa.select(a.community_id, a.account_id, a.posted, a.pending, a.floor)
                        .where(a.community_id == community_id, a.floor.is_not(None),
                               a.posted - a.pending < a.floor))
    for cid, aid, posted, pending, floor in rows:
        yield Violation("floor", cid, aid, f"posted {posted} - pending {pending} under {floor}")
    # Running balances: each tracked posting's balance_after is the sum so far.
    last: str | None = None
    running = 0
    for aid, amount, after in _versioned_postings(conn, community_id):
        if aid != last:
            last, running = aid, 0
        running += amount
        if after != running:
            yield Violation("running_balance", community_id, aid,
                            f"a posting says balance {after}, the postings sum to {running}")
            if after is not None:  # go on from what it says, to name only the postings wrong
                running = after
    c = account_checkpoints.c
    for cid, aid, balance, up_to in conn.execute(sa.select(
            c.community_id, c.account_id, c.balance, c.up_to_transfer_id)
            .where(c.community_id == community_id)):
        total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(p.amount), 0)).where(
            p.community_id == cid, p.account_id == aid, p.account_version.is_(None),
            p.transfer_id < up_to)).scalar_one()
        if int(total) != balance:
            yield Violation("checkpoint", cid, aid, f"checkpoint {balance}, postings {total}")


def _versioned_postings(conn: Connection, community_id: str,
                        ) -> Iterator[tuple[str, int, int | None]]:
    """(account, amount, balance_after) of every posting that carries a version (a tracked
    account's), by account and version, `PAGE_ROWS` at a time."""
    p = postings.c
    order = (p.account_id, p.account_version, p.transfer_id)  # the transfer: should two share
    stmt = (sa.select(*order, p.amount, p.balance_after)       # a version, both are read
            .where(p.community_id == community_id, p.account_version.is_not(None))
            .order_by(*order).limit(PAGE_ROWS))
    page = conn.execute(stmt).all()
    while page:
        yield from ((aid, amount, after) for aid, _, _, amount, after in page)
        if len(page) < PAGE_ROWS:
            return
        page = conn.execute(stmt.where(sa.tuple_(*order) > sa.tuple_(*page[-1][:3]))).all()


def _wallets_and_lots(conn: Connection, community_id: str) -> Iterator[Violation]:
    a, lt, hl, h, pl = accounts.c, lots.c, hold_lots.c, holds.c, posting_lots.c
    lot_sums = (sa.select(lt.community_id, lt.account_id, sa.func.sum(lt.remaining).label("s"))
                .where(lt.community_id == community_id)
                .group_by(lt.community_id, lt.account_id).subquery())
    held = (sa.select(h.community_id, h.account_id,
                      sa.func.sum(hl.reserved - hl.used - hl.released).label("s"))
            .join(holds, sa.and_(h.community_id == hl.community_id, h.hold_id == hl.hold_id))
            .where(hl.community_id == community_id, h.community_id == community_id)
            .group_by(h.community_id, h.account_id).subquery())
    pending = (sa.select(h.community_id, h.account_id,
                         sa.func.sum(h.amount - h.captured - h.voided).label("s"))
               .where(h.community_id == community_id, h.status == "active")
               .group_by(h.community_id, h.account_id).subquery())
    rows: Any = conn.execute(
        sa.select(a.community_id, a.account_id, a.posted, a.pending,
                  sa.func.coalesce(lot_sums.c.s, 0), sa.func.coalesce(held.c.s, 0),
                  sa.func.coalesce(pending.c.s, 0))
        .outerjoin(lot_sums, sa.and_(lot_sums.c.community_id == a.community_id,
                                     lot_sums.c.account_id == a.account_id))
        .outerjoin(held, sa.and_(held.c.community_id == a.community_id,
                                 held.c.account_id == a.account_id))
        .outerjoin(pending, sa.and_(pending.c.community_id == a.community_id,
                                    pending.c.account_id == a.account_id))
        .where(a.community_id == community_id, a.kind == "wallet"))
    for cid, aid, posted, pend, in_lots, set_aside, open_holds in rows:
        if posted != in_lots + set_aside:
            yield Violation("wallet_lots", cid, aid,
                            f"balance {posted} but lots hold {in_lots} and holds set aside "
                            f"{set_aside}")
        if pend != open_holds:
            yield Violation("pending", cid, aid, f"pending {pend} but open holds hold {open_holds}")
    for cid, lot_id, remaining, source in conn.execute(sa.select(
            lt.community_id, lt.lot_id, lt.remaining, lt.source).where(
            lt.community_id == community_id, lt.remaining < 0, lt.source != "overdraft")):
        yield Violation("lot_negative", cid, lot_id, f"{source} lot at {remaining}")
    moved = (sa.select(pl.community_id, pl.lot_id, sa.func.sum(pl.amount).label("s"))
             .where(pl.community_id == community_id)
             .group_by(pl.community_id, pl.lot_id).subquery())
    reserved = (sa.select(hl.community_id, hl.lot_id,
                          sa.func.sum(hl.reserved - hl.used - hl.released).label("s"))
                .where(hl.community_id == community_id)
                .group_by(hl.community_id, hl.lot_id).subquery())
    rows = conn.execute(
        sa.select(lt.community_id, lt.lot_id, lt.remaining, sa.func.coalesce(moved.c.s, 0),
                  sa.func.coalesce(reserved.c.s, 0))
        .outerjoin(moved, sa.and_(moved.c.community_id == lt.community_id,
                                  moved.c.lot_id == lt.lot_id))
        .outerjoin(reserved, sa.and_(reserved.c.community_id == lt.community_id,
                                     reserved.c.lot_id == lt.lot_id))
        .where(lt.community_id == community_id,
               lt.remaining + sa.func.coalesce(reserved.c.s, 0) != sa.func.coalesce(moved.c.s, 0)))
    for cid, lot_id, remaining, total, set_aside in rows:
        yield Violation("lot_moves", cid, lot_id,
                        f"remaining {remaining} + held {set_aside} but its moves sum to {total}")


def _holds(conn: Connection, community_id: str) -> Iterator[Violation]:
    h, hl = holds.c, hold_lots.c
    settled = h.captured + h.voided
    for cid, hid, amount, captured, voided, status in conn.execute(sa.select(
            h.community_id, h.hold_id, h.amount, h.captured, h.voided, h.status)
            .where(h.community_id == community_id,
                   sa.or_(settled > h.amount, h.captured < 0, h.voided < 0,
                          sa.and_(h.status != "active", settled != h.amount)))):
        if captured + voided > amount or captured < 0 or voided < 0:
            yield Violation("hold", cid, hid, f"captured {captured} + voided {voided} > {amount}")
        if status != "active" and captured + voided != amount:
            yield Violation("hold", cid, hid, f"{status} but {amount - captured - voided} open")
    sums = conn.execute(
        sa.select(h.community_id, h.hold_id, h.amount, h.captured, sa.func.sum(hl.reserved),
                  sa.func.sum(hl.used))
        .join(hold_lots, sa.and_(hl.community_id == h.community_id, hl.hold_id == h.hold_id))
        .where(h.community_id == community_id, hl.community_id == community_id)
        .group_by(h.community_id, h.hold_id, h.amount, h.captured)
        .having(sa.or_(sa.func.sum(hl.reserved) != h.amount, sa.func.sum(hl.used) != h.captured)))
    for cid, hid, amount, captured, reserved, used in sums:
        if reserved != amount or used != captured:
            yield Violation("hold_lots", cid, hid,
                            f"reserved {reserved}/{amount}, used {used}/{captured}")


def _references(conn: Connection, community_id: str) -> Iterator[Violation]:
    """Journal rows naming a transfer, an account or an asset the community does not have."""
    t, p, pl, a, k = transfers.c, postings.c, posting_lots.c, accounts.c, assets.c
    missing: list[tuple[str, Any, Any, Any]] = [  # (what, whose row, what it names, its name)
        ("transfer without its asset", t.transfer_id,
         sa.and_(k.community_id == t.community_id, k.code == t.asset), t.asset),
        ("posting without its transfer", p.transfer_id,
         sa.and_(t.community_id == p.community_id, t.transfer_id == p.transfer_id),
         p.account_id),
        ("posting without its account", p.transfer_id,
         sa.and_(a.community_id == p.community_id, a.account_id == p.account_id), p.account_id),
        ("lot move without its transfer", pl.transfer_id,
         sa.and_(t.community_id == pl.community_id, t.transfer_id == pl.transfer_id),
         pl.lot_id),
    ]
    for what, subject, named, name in missing:
        rows = conn.execute(sa.select(subject, name).where(
            subject.table.c.community_id == community_id,
            ~sa.exists().where(named).correlate(subject.table)))
        for transfer_id, found in rows:
            yield Violation("reference", community_id, transfer_id, f"{what}: {found}")


_CHECKS: list[tuple[str, Callable[[Connection, str], Iterator[Violation]]]] = [
    ("journal references", _references),
    ("postings sum to zero", _sums_to_zero),
    ("hashes and seals", _hashes),
    ("account balances", _account_balances),
    ("wallets and lots", _wallets_and_lots),
    ("holds", _holds),
]


def violations_json(found: list[Violation]) -> str:
    return json.dumps([v.__dict__ if hasattr(v, "__dict__") else {
        "check": v.check, "community_id": v.community_id, "subject": v.subject,
        "detail": v.detail} for v in found])
