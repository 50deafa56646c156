"""Lists across members for the owner: purchases, transfers and declined charges, searchable
and paged newest first, and one transfer with its postings and lots told in full.

Ids are time-ordered (UUIDv7), so `starting_after` is the last id of the previous page and a
page is `id < cursor` in descending order: stable while new rows arrive at the top.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from jeton.core.clock import from_us
from jeton.services.funding.purchases import purchase_info
from jeton.services.funding.results import PurchaseInfo
from jeton.services.ledger.base import page_limit
from jeton.services.ledger.reads import read_transfer
from jeton.services.ledger.results import Page, TransferResult
from jeton.store.engine import Store
from jeton.store.tables.funding import purchases
from jeton.store.tables.ledger import accounts, events, lots, members, postings, transfers

# The owner's words for the ledger's transfer kinds, and which kinds each word covers.
TRANSFER_GROUPS: dict[str, tuple[str, ...]] = {
    "charge": ("spend", "capture"),
    "grant": ("grant",),
    "refund": ("reversal",),
    "transfer": ("transfer",),
    "expiry": ("expiry",),
}


class TransferRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    asset: str
    amount: int  # what moved: the sum of the transfer's credit postings
    member_id: str | None
    members: list[str]  # every member whose wallet it touched, the main one first
    service: str | None
    reason_code: str
    actor: str
    memo: str
    effective_at: datetime


class DeclineRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    member_id: str | None
    service: str | None
    status: str
    detail: str
    payload: dict[str, Any]
    created_at: datetime


class PostingLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    account_kind: str  # wallet, revenue, issuance, breakage, ...
    member_id: str | None
    amount: int
    balance_after: int | None


class LotLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    lot_id: str
    member_id: str | None
    amount: int  # negative: drawn from the lot; positive: put into it
    source: str
    paid: bool
    expires_at: datetime | None


class TransferDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    transfer: TransferResult
    postings: list[PostingLine]
    lots: list[LotLine]
    reversed_by: list[str]  # transfers that reverse this one


class Parties(BaseModel):
    """Who a transfer was about: its main member and every member whose wallet it moved, each
    with the name to show (the member's name, else their id)."""

    model_config = ConfigDict(frozen=True)

    member_id: str | None
    names: dict[str, str]  # member id -> name to show, for every member it touched


def transfer_parties(store: Store, community_id: str,
                     transfer_ids: list[str]) -> dict[str, Parties]:
    """The parties of each transfer, in two reads whatever the number of transfers (a page
    of a member's history names the other member of each line)."""
    if not transfer_ids:
        return {}
    t, p, a, m = transfers.c, postings.c, accounts.c, members.c
    with store.read() as conn:
        main = {r[0]: r[1] for r in conn.execute(
            sa.select(t.transfer_id, t.member_id)
            .where(t.community_id == community_id, t.transfer_id.in_(transfer_ids))).all()}
        wallet_members = conn.execute(
            sa.select(p.transfer_id, a.member_id)
            .join(accounts, sa.and_(a.community_id == p.community_id,
                                    a.account_id == p.account_id))
            .where(p.community_id == community_id, p.transfer_id.in_(transfer_ids),
                   a.member_id.is_not(None))).all()
        ids = {str(r[1]) for r in wallet_members} | {str(v) for v in main.values() if v}
        names = {r[0]: (r[1] or r[0]) for r in conn.execute(
            sa.select(m.member_id, m.name)
            .where(m.community_id == community_id, m.member_id.in_(ids))).all()} if ids else {}
    touched: dict[str, dict[str, str]] = {tid: {} for tid in main}
    for tid, member in wallet_members:
        touched.setdefault(tid, {})[member] = names.get(member, member)
    for tid, member in main.items():
        if member:
            touched[tid].setdefault(member, names.get(member, member))
    return {tid: Parties(member_id=main.get(tid), names=touched.get(tid, {}))
            for tid in main}


def lot_origins(store: Store, community_id: str, lot_ids: list[str]) -> dict[str, str]:
    """The transfer that made each lot (lot id -> transfer id), in one read: a lot received
    from another member names the sender through its transfer's parties."""
    if not lot_ids:
        return {}
    lt = lots.c
    with store.read() as conn:
        return {str(r[0]): str(r[1]) for r in conn.execute(
            sa.select(lt.lot_id, lt.origin_transfer_id)
            .where(lt.community_id == community_id, lt.lot_id.in_(lot_ids))).all()}


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_purchases(store: Store, community_id: str, *, search: str | None = None,
                     status: str | None = None, provider: str | None = None,
                     kind: str | None = None, limit: int = 25,
                     starting_after: str | None = None) -> Page[PurchaseInfo]:
    """Every member's purchases, newest first; `search` matches member, description,
    reference or id."""
    limit = page_limit(limit)
    p = purchases.c
    stmt = sa.select(purchases).where(p.community_id == community_id)
    if search:
        like = _like(search)
        stmt = stmt.where(sa.or_(*(sa.func.lower(sa.func.coalesce(c, "")).like(like, escape="\\")
                                   for c in (p.member_id, p.description, p.reference,
                                             p.purchase_id))))
    for column, value in ((p.status, status), (p.provider, provider), (p.kind, kind)):
        if value:
            stmt = stmt.where(column == value)
    if starting_after:
        stmt = stmt.where(p.purchase_id < starting_after)
    with store.read() as conn:
        rows = conn.execute(stmt.order_by(p.purchase_id.desc()).limit(limit + 1)).mappings().all()
    data = [purchase_info(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)


def purchase_providers(store: Store, community_id: str) -> list[str]:
    """The providers purchases were made with, for a filter."""
    with store.read() as conn:
        return [str(r[0]) for r in conn.execute(
            sa.select(purchases.c.provider).distinct()
            .where(purchases.c.community_id == community_id)
            .order_by(purchases.c.provider)).all()]


def search_transfers(store: Store, community_id: str, asset: str, *,
                     search: str | None = None, group: str | None = None, limit: int = 25,
                     starting_after: str | None = None) -> Page[TransferRow]:
    """Every transfer of `asset`, newest first. `search` matches any member whose wallet it
    touched, the service, the memo or the id; `group` is a key of `TRANSFER_GROUPS`."""
    limit = page_limit(limit)
    t, p, a = transfers.c, postings.c, accounts.c
    stmt = sa.select(transfers).where(t.community_id == community_id, t.asset == asset)
    if group:
        stmt = stmt.where(t.kind.in_(TRANSFER_GROUPS.get(group, ())))
    if search:
        like = _like(search)
        touched = (sa.select(p.transfer_id)
                   .join(accounts, sa.and_(a.community_id == p.community_id,
                                           a.account_id == p.account_id))
                   .where(p.community_id == community_id, p.transfer_id == t.transfer_id,
                          sa.func.lower(sa.func.coalesce(a.member_id, "")).like(
                              like, escape="\\")))
        stmt = stmt.where(sa.or_(
            *(sa.func.lower(sa.func.coalesce(c, "")).like(like, escape="\\")
              for c in (t.service, t.memo, t.transfer_id, t.member_id)),
            touched.exists()))
    if starting_after:
        stmt = stmt.where(t.transfer_id < starting_after)
    with store.read() as conn:
        rows = conn.execute(stmt.order_by(t.transfer_id.desc()).limit(limit + 1)).mappings().all()
        page = rows[:limit]
        legs = conn.execute(
            sa.select(p.transfer_id, p.amount, a.member_id)
            .join(accounts, sa.and_(a.community_id == p.community_id,
                                    a.account_id == p.account_id))
            .where(p.community_id == community_id,
                   p.transfer_id.in_([r["transfer_id"] for r in page]))).all() if page else []
    amount: dict[str, int] = {}
    touched_members: dict[str, list[str]] = {}
    for transfer_id, value, member in legs:
        if value > 0:
            amount[transfer_id] = amount.get(transfer_id, 0) + int(value)
        if member is not None and member not in touched_members.setdefault(transfer_id, []):
            touched_members[transfer_id].append(member)
    data = []
    for r in page:
        tid = r["transfer_id"]
        main = r["member_id"]
        names = touched_members.get(tid, [])
        ordered = ([main] if main else []) + [m for m in names if m != main]
        data.append(TransferRow(
            id=tid, kind=r["kind"], asset=r["asset"], amount=amount.get(tid, 0),
            member_id=main, members=ordered, service=r["service"],
            reason_code=r["reason_code"], actor=r["actor"], memo=r["memo"],
            effective_at=from_us(r["effective_at_us"])))
    more = len(rows) > limit
    return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)


def search_declines(store: Store, community_id: str, *, search: str | None = None,
                    limit: int = 25, starting_after: str | None = None) -> Page[DeclineRow]:
    """Charges refused (the `charge.declined` events), newest first; `search` matches the
    member."""
    limit = page_limit(limit)
    e = events.c
    stmt = sa.select(events).where(e.community_id == community_id,
                                   e.type == "charge.declined")
    if search:
        stmt = stmt.where(sa.func.lower(sa.func.coalesce(e.member_id, "")).like(
            _like(search), escape="\\"))
    if starting_after:
        stmt = stmt.where(e.event_id < starting_after)
    with store.read() as conn:
        rows = conn.execute(stmt.order_by(e.event_id.desc()).limit(limit + 1)).mappings().all()
    data = []
    for r in rows[:limit]:
        payload = json.loads(r["payload_json"])
        data.append(DeclineRow(
            id=r["event_id"], member_id=r["member_id"], service=payload.get("service"),
            status=str(payload.get("status", "")), detail=str(payload.get("detail", "")),
            payload=payload, created_at=from_us(r["created_at_us"])))
    more = len(rows) > limit
    return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)


def transfer_detail(store: Store, community_id: str, transfer_id: str) -> TransferDetail:
    """One transfer with each posting's account told (whose wallet, or which system account)
    and each lot it drew from or filled (source, paid or free, expiry)."""
    a, lt, t = accounts.c, lots.c, transfers.c
    with store.read() as conn:
        result = read_transfer(conn, community_id, transfer_id)
        ids = {p.account_id for p in result.postings} | {m.account_id for m in result.lots}
        account_rows = {r[0]: (r[1], r[2]) for r in conn.execute(
            sa.select(a.account_id, a.kind, a.member_id)
            .where(a.community_id == community_id, a.account_id.in_(ids))).all()}
        lot_rows = {r["lot_id"]: r for r in conn.execute(
            sa.select(lots).where(lt.community_id == community_id,
                                  lt.lot_id.in_([m.lot_id for m in result.lots]))
        ).mappings().all()} if result.lots else {}
        reversed_by = [str(r[0]) for r in conn.execute(
            sa.select(t.transfer_id).where(t.community_id == community_id,
                                           t.reverses_id == transfer_id)
            .order_by(t.transfer_id)).all()]
    lines = [PostingLine(account_id=p.account_id,
                         account_kind=account_rows.get(p.account_id, ("?", None))[0],
                         member_id=account_rows.get(p.account_id, ("?", None))[1],
                         amount=p.amount, balance_after=p.balance_after)
             for p in result.postings]
    lot_lines = []
    for move in result.lots:
        row = lot_rows.get(move.lot_id)
        lot_lines.append(LotLine(
            lot_id=move.lot_id, member_id=account_rows.get(move.account_id, ("?", None))[1],
            amount=move.amount, source=str(row["source"]) if row else "?",
            paid=bool(row["paid"]) if row else False,
            expires_at=from_us(row["expires_at_us"]) if row and row["expires_at_us"] else None))
    return TransferDetail(transfer=result, postings=lines, lots=lot_lines,
                          reversed_by=reversed_by)
