"""Capped rollover: part of a plan's unused cycle credits roll into the next cycle.

The plan's terms are in the catalog file (`[plans.<id>.rollover]`, core/rollover.py): a share
and/or a cap, and how many times a credit may roll. Each lot a plan's cycle grants is noted in
`plan_credit_lots` with its subscription and cycle (`note_cycle_lot`). When such a lot reaches
its expiry, the ledger's expiry job asks `RolloverHook` first (decision 0060):

- the lots of one subscription that expire together (the cycle's grant, and credits rolled
  into that cycle before, if they may roll again) are taken together: the share and the cap
  apply to what they have left, taken from paid lots first, then from the credits that rolled
  the fewest times;
- the rolled credits become a new lot that expires at the end of the next cycle, with the paid
  or free status of the lots they came from and their cost basis (the cost of the credits
  rolled, in proportion), noted with one more roll;
- the rest goes to breakage in the same transfer (kind `expiry`, reason `rollover`), so what
  does not roll expires exactly as before.

Nothing rolls for a subscription that is canceled or set to cancel at the period's end (there is
no next cycle), for a plan without rollover terms in the active catalog, or for credits that have
rolled `cycles` times already: those lots expire as always (`credits.expired`). Events:
`credits.rolled_over` (what rolled, the new lot and its expiry) and `credits.rollover_forfeited`
(what the share or the cap left behind).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from jeton.core.clock import from_us
from jeton.core.rollover import Rollover
from jeton.core.transfers import TransferDraft, TransferKind
from jeton.services.funding.renewals import cycle_bounds, plan_row
from jeton.services.ledger.state import Acct, Header, LotSpec, LotState, system_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.sql import insert_ignore
from jeton.store.tables.funding import plan_credit_lots, subscriptions

if TYPE_CHECKING:
    from jeton.app import Jeton

_L = plan_credit_lots.c


def note_cycle_lot(ws: WorkSet, lot_id: str, subscription_id: str, plan_id: str,
                   cycle_no: int, rolls: int = 0) -> None:
    """Remember that `lot_id` holds credits of a plan's cycle (inside the grant's transaction)."""
    ws.conn.execute(insert_ignore(ws.dialect, plan_credit_lots, ["community_id", "lot_id"]), {
        "community_id": ws.community_id, "lot_id": lot_id, "subscription_id": subscription_id,
        "plan_id": plan_id, "cycle_no": cycle_no, "rolls": rolls,
        "created_at_us": ws.now_us})


class RolloverHook:
    """The ledger's expiry hook for one Jeton (it reads that Jeton's active catalogs)."""

    def __init__(self, j: Jeton) -> None:
        self.j = j

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RolloverHook) and other.j is self.j

    def __hash__(self) -> int:
        return id(self.j)

    def __call__(self, ws: WorkSet, wallet: Acct, lots: list[LotState]) -> set[str]:
        notes = {row.lot_id: row for row in ws.conn.execute(sa.select(plan_credit_lots).where(
            _L.community_id == ws.community_id, _L.lot_id.in_(sorted(lt.id for lt in lots))))}
        if not notes:
            return set()
        catalogs = self.j.charging.catalogs
        catalog = catalogs.active(ws.conn, ws.community_id,
                                  catalogs.head(ws.conn, ws.community_id))
        taken: set[str] = set()
        by_sub: dict[str, list[LotState]] = {}
        for lot in lots:
            note = notes.get(lot.id)
            if note is None:
                continue
            terms = catalog.plans.get(note.plan_id)
            if terms is None or terms.rollover is None or note.rolls >= terms.rollover.cycles:
                continue
            by_sub.setdefault(note.subscription_id, []).append(lot)
        for sub_id, group in sorted(by_sub.items()):
            note = notes[group[0].id]
            terms = catalog.plans[note.plan_id]
            if terms.rollover is not None and self._roll(ws, wallet, sub_id, group, notes,
                                                         terms.rollover):
                taken.update(lot.id for lot in group)
        return taken

    def _roll(self, ws: WorkSet, wallet: Acct, sub_id: str, group: list[LotState],
              notes: dict[str, Any], rule: Rollover) -> bool:
        sub = ws.conn.execute(sa.select(subscriptions).where(
            subscriptions.c.community_id == ws.community_id,
            subscriptions.c.subscription_id == sub_id)).mappings().first()
        if sub is None or sub["status"] == "canceled":
            return False  # no next cycle to roll into
        plan = plan_row(ws.conn, ws.community_id, sub["plan_id"])
        if plan is None:
            return False
        cycle_no = max(notes[lot.id].cycle_no for lot in group) + 1
        _, ends_us = cycle_bounds(plan, sub["anchor_at_us"], cycle_no)
        if ends_us <= ws.now_us:
            return False  # the next cycle is over too (the job did not run): nothing to roll
        if sub["cancel_at_us"] is not None and sub["cancel_at_us"] < ends_us:
            return False  # set to stop before the next cycle ends
        unused = sum(lot.remaining for lot in group)
        budget = rule.rolled(unused)
        asset = wallet.asset
        draft = TransferDraft(TransferKind.expiry, asset)
        rolled: list[dict[str, Any]] = []
        left = budget
        # Paid credits roll first (they are what the member paid for), then the credits that
        # rolled the fewest times (they have the most rolls left); each kind is a new lot.
        kinds = sorted({(not lot.paid, notes[lot.id].rolls) for lot in group})
        for unpaid, rolls in kinds:
            part = [lot for lot in group
                    if lot.paid is not unpaid and notes[lot.id].rolls == rolls]
            amount = min(left, sum(lot.remaining for lot in part))
            cost = _cost_of(part, amount)
            currency = next((lot.cost_currency for lot in part if lot.cost_currency), None)
            for lot in part:
                draft.move_lot(wallet.account_id, lot.id, -lot.remaining)
                draft.add(wallet.account_id, -lot.remaining)
                lot.remaining = 0
                lot.dirty = True
            if amount > 0:
                ws.credit(draft, wallet, amount, LotSpec(
                    source="rollover", paid=not unpaid, cost_minor=cost,
                    cost_currency=currency if cost else None, expires_at_us=ends_us))
                new_lot = draft.lot_moves[-1][1]
                note_cycle_lot(ws, new_lot, sub_id, plan["plan_id"], cycle_no, rolls + 1)
                rolled.append({"lot_id": new_lot, "amount": amount, "paid": not unpaid,
                               "cost_minor": cost, "rolls": rolls + 1})
            left -= amount
        forfeited = unused - budget
        if forfeited:
            draft.add(system_id("breakage", asset), forfeited)
        header = Header(TransferKind.expiry, asset, member_id=wallet.member_id,
                        actor="system:rollover", reason_code="rollover",
                        metadata={"subscription_id": sub_id, "plan_id": plan["plan_id"]})
        result = ws.commit_transfer(header, draft, wallet)
        base = {"member_id": wallet.member_id, "asset": asset, "subscription_id": sub_id,
                "plan_id": plan["plan_id"], "transfer_id": result.id}
        if budget:
            ws.emit("credits.rolled_over", wallet.member_id, {
                **base, "amount": budget, "unused": unused, "lots": rolled,
                "expires_at": from_us(ends_us)})
        if forfeited:
            ws.emit("credits.rollover_forfeited", wallet.member_id, {
                **base, "amount": forfeited, "unused": unused,
                "share_percent": rule.share_percent, "cap": rule.cap})
        return True


def _cost_of(lots: list[LotState], credits: int) -> int:
    """The cost basis of `credits` of these lots' remaining credits: each lot's cost per credit
    (cost_minor / amount), applied in proportion, rounded down."""
    remaining = sum(lot.remaining for lot in lots)
    if credits <= 0 or remaining <= 0:
        return 0
    cost_left = sum(lot.cost_minor * lot.remaining // lot.amount for lot in lots if lot.amount)
    return cost_left * credits // remaining
