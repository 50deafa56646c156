"""Expiry: what is left in a lot past its expiry goes to the breakage account.

Before a wallet's lots go, each of `expiry_hooks` may take some of them (a plan's rollover moves
part of them into a new lot, in a transfer of its own in the same transaction); the rest expire
as always."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.clock import from_us
from jeton.core.transfers import TransferDraft, TransferKind
from jeton.services.ledger.base import LedgerBase
from jeton.services.ledger.state import Header, system_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.tables.ledger import (
    lots,
)


class LedgerExpiry(LedgerBase):
    """Lots past their expiry go to breakage."""

    def expire_lots(self, community_id: str) -> int:
        """Move what is left of every expired lot to breakage. Returns the lots expired."""
        now = self.now_us()
        total = 0
        while True:
            def tx(conn: Connection) -> int:
                due = conn.execute(sa.select(lots.c.lot_id, lots.c.account_id).where(
                    lots.c.community_id == community_id, lots.c.remaining > 0,
                    lots.c.expires_at_us.is_not(None), lots.c.expires_at_us <= now,
                ).order_by(lots.c.expires_at_us).limit(limits.job_batch_size)).all()
                if not due:
                    return 0
                ws = WorkSet(conn, self.store.dialect, community_id, now)
                by_account: dict[str, list[str]] = {}
                for lot_id, account_id in due:
                    by_account.setdefault(account_id, []).append(lot_id)
                ws.load(by_account)
                assets_seen = {ws.accounts[a].asset for a in by_account}
                ws.load([system_id("breakage", a) for a in assets_seen], with_lots=False)
                count = 0
                for account_id, lot_ids in sorted(by_account.items()):
                    wallet = ws.accounts[account_id]
                    taken: set[str] = set()
                    for hook in self.expiry_hooks:
                        left = [ws.lots[i] for i in lot_ids
                                if i not in taken and ws.lots[i].remaining > 0]
                        if left:
                            taken |= hook(ws, wallet, left)
                    count += len(taken)
                    draft = TransferDraft(TransferKind.expiry, wallet.asset)
                    expired = []
                    for lot_id in lot_ids:
                        lot = ws.lots[lot_id]
                        if lot.remaining <= 0 or lot_id in taken:
                            continue
                        expired.append({"lot_id": lot_id, "amount": lot.remaining,
                                        "expired_at": from_us(lot.expires_at_us or now)})
                        draft.move_lot(account_id, lot_id, -lot.remaining)
                        draft.add(account_id, -lot.remaining)
                        draft.add(system_id("breakage", wallet.asset), lot.remaining)
                        lot.remaining = 0
                        lot.dirty = True
                        count += 1
                    if not expired:
                        continue
                    header = Header(TransferKind.expiry, wallet.asset, member_id=wallet.member_id,
                                    actor="system:expiry", reason_code="expiry")
                    result = ws.commit_transfer(header, draft, wallet)
                    ws.emit("credits.expired", wallet.member_id, {
                        "member_id": wallet.member_id, "asset": wallet.asset,
                        "amount": result.amount, "lots": expired, "transfer_id": result.id})
                self.run_hooks(ws)
                ws.flush()
                return count

            done = self.store.run_write(tx)
            total += done
            if done == 0:
                return total
