"""Reads: balances, lots, statements, transfers and what a debit would draw."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core import lots as lotlib
from jeton.core.clock import from_us
from jeton.core.errors import NotFound, error_for
from jeton.core.statuses import Status
from jeton.services.ledger import history
from jeton.services.ledger.base import LedgerBase, page_limit
from jeton.services.ledger.results import (
    Balance,
    BalanceAt,
    BalanceHistory,
    BalancePoint,
    LotInfo,
    LotMoveInfo,
    Page,
    PostingInfo,
    StatementLine,
    TransferResult,
)
from jeton.services.ledger.state import wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.engine import Store
from jeton.store.tables.ledger import (
    accounts,
    communities,
    lots,
    posting_lots,
    postings,
    transfers,
)


class LedgerReads(LedgerBase):
    """Balances, lots, statements and transfers, read without a write lock."""

    def balance(self, community_id: str, member_id: str, asset: str = "CREDIT") -> Balance:
        """Posted, pending (held) and available credits. Expired lots the job has not yet moved
        to breakage are not available."""
        aid = wallet_id(member_id, asset)
        now = self.now_us()
        # One statement, so one snapshot: the expiry job moving a lot between two reads
        # would have left its credits in the balance and out of the expired sum.
        stale = (sa.select(sa.func.coalesce(sa.func.sum(lots.c.remaining), 0))
                 .where(lots.c.community_id == community_id, lots.c.account_id == aid,
                        lots.c.remaining > 0, lots.c.expires_at_us.is_not(None),
                        lots.c.expires_at_us <= now).scalar_subquery())
        with self.store.read() as conn:
            row = conn.execute(sa.select(accounts.c.posted, accounts.c.pending, accounts.c.floor,
                                         stale)
                               .where(accounts.c.community_id == community_id,
                                      accounts.c.account_id == aid)).first()
            if row is None:
                self._require_member(conn, community_id, member_id)
                return Balance(member_id=member_id, account_id=aid, asset=asset, posted=0,
                               pending=0, available=0)
        posted, pending, floor, stale = row
        available = posted - pending - int(stale) - (floor or 0)
        return Balance(member_id=member_id, account_id=aid, asset=asset, posted=posted,
                       pending=pending, available=available)

    def balance_at(self, community_id: str, member_id: str, as_of: datetime,
                   asset: str = "CREDIT") -> BalanceAt:
        """The wallet's posted balance at `as_of`, exact against the journal (decision 0063)."""
        at_us = history.instant_us(as_of, "as_of")
        aid = wallet_id(member_id, asset)
        with self.store.read() as conn:
            self._require_member(conn, community_id, member_id)
            found = history.WalletHistory(conn, community_id, aid).at(at_us)
        return BalanceAt(member_id=member_id, account_id=aid, asset=asset,
                         as_of=from_us(at_us), posted=found.balance if found else 0,
                         version=found.version if found else None,
                         transfer_id=found.transfer_id if found else None)

    def balance_history(self, community_id: str, member_id: str, since: datetime,
                        until: datetime, interval: str = "day",
                        asset: str = "CREDIT") -> BalanceHistory:
        """The posted balance at `since` and at the end of each hour or day up to `until`."""
        ends = history.series_bounds(since, until, interval)
        since_us = history.instant_us(since, "since")
        aid = wallet_id(member_id, asset)
        points: list[BalancePoint] = []
        with self.store.snapshot() as conn:  # one snapshot: the series agrees with itself
            self._require_member(conn, community_id, member_id)
            wallet = history.WalletHistory(conn, community_id, aid)
            found = wallet.at(since_us)
            opening = found.balance if found else 0
            for end in ends:
                found = wallet.at(history.instant_us(end, "until"), found)
                points.append(BalancePoint(at=end, posted=found.balance if found else 0))
        return BalanceHistory(member_id=member_id, account_id=aid, asset=asset,
                              interval=interval, since=from_us(since_us), until=ends[-1],
                              opening=opening, points=points)

    def account_balance(self, community_id: str, account_id: str) -> Balance:
        """Any account's balance. Untracked accounts: the checkpoint plus postings since."""
        with self.store.read() as conn:
            row = conn.execute(sa.select(accounts.c.tracked, accounts.c.posted,
                                         accounts.c.pending, accounts.c.asset,
                                         accounts.c.member_id).where(
                accounts.c.community_id == community_id,
                accounts.c.account_id == account_id)).first()
            if row is None:
                raise NotFound(f"no account {account_id!r}", status=Status.account_not_found)
            tracked, posted, pending, asset, member_id = row
            if not tracked:
                from jeton.services.ledger.journal import untracked_balance

                posted = untracked_balance(conn, community_id, account_id)
        return Balance(member_id=member_id, account_id=account_id, asset=asset, posted=posted,
                       pending=pending, available=posted - pending)

    def lots(self, community_id: str, member_id: str, asset: str = "CREDIT", *,
             include_empty: bool = False) -> list[LotInfo]:
        """The member's lots in the order they would be spent (unscoped spend order)."""
        aid = wallet_id(member_id, asset)
        stmt = sa.select(lots).where(lots.c.community_id == community_id,
                                     lots.c.account_id == aid)
        if not include_empty:
            stmt = stmt.where(lots.c.remaining != 0)
        with self.store.read() as conn:
            rows = conn.execute(stmt).mappings().all()
            if not rows:
                self._require_member(conn, community_id, member_id)
        infos = [_lot_info(r) for r in rows]
        order = {lot.id: lotlib.spend_order_key(lot, None) for lot in (
            lotlib.Lot(r["lot_id"], r["remaining"], r["paid"], r["expires_at_us"], r["priority"],
                       r["scope"], r["source"]) for r in rows)}
        return sorted(infos, key=lambda info: order[info.id])

    def statement(self, community_id: str, member_id: str, asset: str = "CREDIT", *,
                  limit: int = limits.page_size_default,
                  starting_after: str | None = None) -> Page[StatementLine]:
        """Every posting on the member's wallet with the balance after it, newest first."""
        return self.account_statement(community_id, wallet_id(member_id, asset), limit=limit,
                                      starting_after=starting_after, member_id=member_id)

    def account_statement(self, community_id: str, account_id: str, *,
                          limit: int = limits.page_size_default,
                          starting_after: str | None = None,
                          member_id: str | None = None) -> Page[StatementLine]:
        limit = page_limit(limit)
        p, t = postings.c, transfers.c
        # A wallet's postings newest first by its own version (decision 0108): the order its
        # balance moved in; the cursor names the last transfer shown.
        stmt = (sa.select(p.transfer_id, t.kind, p.amount, p.balance_after, t.service, t.memo,
                          t.reason_code, t.actor, t.effective_at_us, p.account_version)
                .join(transfers, sa.and_(t.community_id == p.community_id,
                                         t.transfer_id == p.transfer_id))
                .where(*history.wallet_postings(community_id, account_id)))
        if starting_after:
            stmt = stmt.where(p.account_version < history.version_at(
                community_id, account_id, starting_after))
        stmt = stmt.order_by(p.account_version.desc()).limit(limit + 1)
        with self.store.read() as conn:
            rows = conn.execute(stmt).all()
            if not rows and member_id is not None:
                self._require_member(conn, community_id, member_id)
        data = [StatementLine(transfer_id=r[0], kind=r[1], amount=r[2], balance_after=r[3],
                              service=r[4], memo=r[5], reason_code=r[6], actor=r[7],
                              effective_at=from_us(r[8]), version=r[9]) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(data=data, has_more=more, next_cursor=data[-1].transfer_id if more else None)

    def get_transfer(self, community_id: str, transfer_id: str) -> TransferResult:
        with self.store.read() as conn:
            return read_transfer(conn, community_id, transfer_id)

    def preview_debit(self, community_id: str, member_id: str, amount: int, *,
                      asset: str = "CREDIT", service: str | None = None,
                      ) -> tuple[list[LotMoveInfo], int]:
        """Which lots would pay `amount` now, and what is available. Writes nothing."""
        with self.store.read() as conn:
            ws = WorkSet(conn, "read", community_id, self.now_us())
            ws.load([wallet_id(member_id, asset)])
            acct = ws.accounts.get(wallet_id(member_id, asset))
            if acct is None:
                self._require_member(conn, community_id, member_id)
                return [], 0
            core = [lot.core() for lot in ws.wallet_lots(acct.account_id)]
            plan = lotlib.plan_draw(core, amount, service, ws.now_us)
            available = lotlib.available_from_lots(core, service, ws.now_us)
            owed = ws.overdraft_lot(acct.account_id)
            available += (owed.remaining if owed else 0) - (acct.floor or 0)
        return ([LotMoveInfo(lot_id=lot_id, account_id=acct.account_id, amount=-take)
                 for lot_id, take in plan.draws], available)


def _lot_info(r: Any) -> LotInfo:
    return LotInfo(id=r["lot_id"], source=r["source"], paid=r["paid"], amount=r["amount"],
                   remaining=r["remaining"], cost_minor=r["cost_minor"],
                   cost_currency=r["cost_currency"],
                   expires_at=from_us(r["expires_at_us"]) if r["expires_at_us"] else None,
                   priority=r["priority"], scope=r["scope"], created_at=from_us(r["created_at_us"]))


def read_transfer(conn: Connection, community_id: str, transfer_id: str) -> TransferResult:
    row = conn.execute(sa.select(transfers).where(
        transfers.c.community_id == community_id,
        transfers.c.transfer_id == transfer_id)).mappings().first()
    if row is None:
        raise error_for(Status.transfer_not_found, f"no transfer {transfer_id!r}")
    legs = conn.execute(sa.select(postings.c.account_id, postings.c.amount,
                                  postings.c.balance_after).where(
        postings.c.community_id == community_id,
        postings.c.transfer_id == transfer_id)).all()
    moves = conn.execute(sa.select(posting_lots.c.lot_id, posting_lots.c.account_id,
                                   posting_lots.c.amount).where(
        posting_lots.c.community_id == community_id,
        posting_lots.c.transfer_id == transfer_id)).all()
    primary = None
    if row["member_id"]:
        wid = wallet_id(row["member_id"], row["asset"])
        primary = next((b for a, _, b in legs if a == wid), None)
    return TransferResult(
        id=transfer_id, kind=row["kind"], asset=row["asset"],
        amount=sum(a for _, a, _ in legs if a > 0), member_id=row["member_id"],
        service=row["service"], reverses_id=row["reverses_id"], hold_id=row["hold_id"],
        postings=[PostingInfo(account_id=a, amount=m, balance_after=b) for a, m, b in legs],
        lots=[LotMoveInfo(lot_id=lot, account_id=a, amount=m) for lot, a, m in moves],
        actor=row["actor"], reason_code=row["reason_code"], memo=row["memo"],
        metadata=json.loads(row["metadata_json"]), effective_at=from_us(row["effective_at_us"]),
        balance_after=primary)


def communities_of(store: Store) -> Iterable[str]:
    with store.read() as conn:
        return [r[0] for r in conn.execute(sa.select(communities.c.community_id))]
