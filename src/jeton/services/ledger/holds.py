"""Holds: authorize, capture any part, void the rest; a hold times out by itself."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core import lots as lotlib
from jeton.core.clock import from_us
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.core.transfers import TransferDraft, TransferKind
from jeton.services.ledger import statements as q
from jeton.services.ledger.base import (
    LedgerBase,
    as_split,
    checked_metadata,
    hold_lot_update_row,
    hold_result,
    hold_update_row,
)
from jeton.services.ledger.results import (
    HoldResult,
    LotMoveInfo,
    Split,
)
from jeton.services.ledger.state import (
    Declined,
    Header,
    LockBy,
    LotSpec,
    MemberBy,
    PreRead,
    system_id,
    wallet_id,
)
from jeton.services.ledger.workset import WorkSet
from jeton.store.tables.ledger import (
    accounts,
    hold_lots,
    holds,
    lots,
)

_OF_HOLD = (holds.c.community_id == sa.bindparam("c"), holds.c.hold_id == sa.bindparam("h"))
_HOLD_OWNER = sa.select(holds.c.account_id, holds.c.member_id, holds.c.asset).where(*_OF_HOLD)
_LOCK_HOLD = sa.select(holds).where(*_OF_HOLD).with_for_update()
_OF_HOLDS_LOTS = (hold_lots.c.community_id == sa.bindparam("c"),
                  hold_lots.c.hold_id == sa.bindparam("h"))
_HOLD_LOTS = sa.select(hold_lots).where(*_OF_HOLDS_LOTS).order_by(hold_lots.c.seq)
# The lots a hold reserved, drained ones included (a capture or a void names them by id).
_LOTS_OF_HOLD = q.lots_in(sa.select(hold_lots.c.lot_id).where(*_OF_HOLDS_LOTS))
# A hold's wallet, member and asset by the hold's id, for a capture or void in a process that
# does not know them (`LedgerHolds._settle_ahead`): its wallet locked, with its live lots.
_HOLDS_WALLET = sa.select(holds.c.account_id).where(*_OF_HOLD)
_LOCK_HOLDS_WALLET = q.lock_accounts_in(_HOLDS_WALLET)
_LIVE_LOTS_OF_HOLDS_WALLET = sa.select(*q.LOT_COLS).where(
    lots.c.community_id == sa.bindparam("c"),
    lots.c.account_id == _HOLDS_WALLET.scalar_subquery(),
    lots.c.remaining != sa.literal_column("0"))
_HOLDS_MEMBER = sa.select(holds.c.member_id).where(*_OF_HOLD).scalar_subquery()
_HOLDS_ASSET = sa.select(holds.c.asset).where(*_OF_HOLD).scalar_subquery()


@functools.cache
def _with_split_wallets(n: int) -> tuple[Any, Any, Any]:
    """A capture by the hold's id that pays `n` members (parameters `m0`...): the hold's wallet
    and theirs in the hold's asset (found by member and asset, `ix_accounts_member`, not by an
    id built in SQL) locked in the one order every write locks; their live lots; and the lots
    a credit to them may merge into (`statements.credit_lots_of`: its overdraft lot is live)."""
    a = accounts.c
    ids = sa.union_all(_HOLDS_WALLET, sa.select(a.account_id).where(
        a.community_id == sa.bindparam("c"),
        a.member_id.in_([sa.bindparam(f"m{i}") for i in range(n)]), a.asset == _HOLDS_ASSET))
    of_them = (lots.c.community_id == sa.bindparam("c"),
               lots.c.account_id.in_(ids.scalar_subquery()))
    return (q.lock_accounts_in(ids),
            sa.select(*q.LOT_COLS).where(*of_them, lots.c.remaining != sa.literal_column("0")),
            sa.select(*q.LOT_COLS).where(*of_them, lots.c.merge_key.is_not(None)))


_HOLD_COLUMNS = {name: i for i, name in enumerate(holds.c.keys())}
OWNERS_KEPT = 10_000  # holds whose wallet a process remembers (`LedgerHolds.hold_owner`)


class LedgerHolds(LedgerBase):
    """Two-phase movements: hold credits, capture part of them, void the rest; timeouts."""

    def hold(self, community_id: str, member_id: str, amount: int, *, idempotency_key: str,
             asset: str = "CREDIT", service: str | None = None,
             timeout_s: int = limits.hold_timeout_s_default, actor: str = "system",
             metadata: dict[str, Any] | None = None) -> HoldResult:
        """Set credits aside for metered use; they count against the available balance now."""
        amount = amounts.positive_amount(amount)
        key = amounts.idempotency_key(idempotency_key)
        if type(timeout_s) is not int or not 1 <= timeout_s <= limits.hold_timeout_s_max:
            raise InvalidRequest(f"timeout_s must be 1-{limits.hold_timeout_s_max}",
                                 status=Status.value_invalid)
        if service is not None:
            amounts.service_code(service)
        meta = checked_metadata(metadata)
        request = {"member": member_id, "amount": amount, "asset": asset, "service": service,
                   "timeout_s": timeout_s, "metadata": meta}

        def body(ws: WorkSet) -> HoldResult:
            return self.place_hold(ws, member_id, amount, asset=asset, service=service,
                                   timeout_s=timeout_s, meta=meta)

        placed = self.write_once(community_id, key, "hold", request, body, HoldResult,
                                 accounts=[wallet_id(member_id, asset)], member_id=member_id,
                                 asset=asset)
        if self.store.dialect == "postgresql":  # for its capture or void (`hold_owner`)
            self.keep_hold_owner(community_id, placed.id,
                                 (wallet_id(member_id, asset), member_id, asset))
        return placed

    def place_hold(self, ws: WorkSet, member_id: str, amount: int, *, asset: str,
                   service: str | None, timeout_s: int, meta: dict[str, Any]) -> HoldResult:
        """A hold's rows in a write's working set (checked values): `hold`'s body, and a
        metered use's start, which places its hold in its own write."""
        community_id = ws.community_id
        wallet = self._wallet(ws, member_id, asset)
        core = [lot.core() for lot in ws.wallet_lots(wallet.account_id)]
        plan = lotlib.plan_draw(core, amount, service, ws.now_us)
        if plan.shortfall and self._release_expired_holds(ws, wallet):
            core = [lot.core() for lot in ws.wallet_lots(wallet.account_id)]
            plan = lotlib.plan_draw(core, amount, service, ws.now_us)
        if plan.shortfall:
            raise Declined(Status.insufficient_credits,
                           f"member {member_id!r} has {plan.covered} {asset} available, "
                           f"{amount} required", balance=plan.covered, required=amount)
        hold_id = new_id()
        expires_us = ws.now_us + timeout_s * 1_000_000
        moves = []
        for seq, (lot_id, take) in enumerate(plan.draws):
            lot = ws.lots[lot_id]
            lot.remaining -= take
            lot.dirty = True
            ws.hold_lot_inserts.append({
                "community_id": community_id, "hold_id": hold_id, "lot_id": lot_id,
                "seq": seq, "reserved": take, "used": 0, "released": 0})
            moves.append(LotMoveInfo(lot_id=lot_id, account_id=wallet.account_id, amount=-take))
        wallet.pending += amount
        wallet.dirty = True
        ws.hold_inserts.append({
            "community_id": community_id, "hold_id": hold_id,
            "account_id": wallet.account_id, "member_id": member_id, "asset": asset,
            "amount": amount, "captured": 0, "voided": 0, "status": "active",
            "service": service, "metadata_json": json.dumps(meta),
            "expires_at_us": expires_us, "created_at_us": ws.now_us, "settled_at_us": None})
        return HoldResult(id=hold_id, member_id=member_id, asset=asset, amount=amount,
                          captured=0, voided=0, status="active", service=service,
                          expires_at=from_us(expires_us), created_at=from_us(ws.now_us),
                          lots=moves)

    # ---- a hold's wallet, known before its capture or void (PostgreSQL) ----

    def hold_owner(self, community_id: str, hold_id: str) -> tuple[str, str, str] | None:
        """The wallet, member and asset of a hold, which never change once it is placed: kept
        by the process that placed or met it, else read in one round trip of its own
        (PostgreSQL). None for no such hold."""
        found = self.hold_owners.get((community_id, hold_id))
        if found is None:
            row = self.store.point_read(_HOLD_OWNER, {"c": community_id, "h": hold_id})
            if row is None:
                return None
            found = (str(row[0]), str(row[1]), str(row[2]))
            self.keep_hold_owner(community_id, hold_id, found)
        return found

    def keep_hold_owner(self, community_id: str, hold_id: str,
                        owner: tuple[str, str, str]) -> None:
        """Remember a hold's wallet, member and asset (PostgreSQL: for its capture or void)."""
        kept = self.hold_owners
        if len(kept) >= OWNERS_KEPT:  # the oldest first (a dict keeps insertion order)
            with contextlib.suppress(RuntimeError, StopIteration):  # another thread's change
                kept.pop(next(iter(kept)), None)
        kept[(community_id, hold_id)] = owner

    def _settle_ahead(self, community_id: str, hold_id: str,
                      splits: Sequence[Split] | None = None, to_account: str | None = None,
                      ) -> dict[str, Any]:
        """`write_once`'s arguments that make a capture or void of a hold two round trips on
        PostgreSQL: its wallet (and for a capture, given its `splits`, the accounts it pays:
        `to_account` or revenue, and the splits') locked and read in the first, with the
        hold's row locked after it, its reservations and their lots.

        A process that does not know the hold's wallet (another placed it) names it by the
        hold: the wallet is locked through the hold's row, its live lots read, and the hooks'
        reads find the member and asset there too. Splits to members name their wallets by
        member and the hold's asset, locked with the hold's in the one order every write
        locks (decision 0104)."""
        if self.store.dialect != "postgresql":  # SQLite: the write reads it in its transaction
            return {}
        params = {"c": community_id, "h": hold_id}
        hold_reads = [PreRead(f"hold:{hold_id}", _LOCK_HOLD, params),
                      PreRead(f"hold_lots:{hold_id}", _HOLD_LOTS, params, all_rows=True)]
        if (community_id, hold_id) not in self.hold_owners:
            members = sorted({s.member for s in splits or () if s.member})
            by_hold = {**params, **{f"m{i}": m for i, m in enumerate(members)}}
            if members:
                lock, *wallet_lots = _with_split_wallets(len(members))
            else:
                lock, wallet_lots = _LOCK_HOLDS_WALLET, [_LIVE_LOTS_OF_HOLDS_WALLET]
            return {"lock_by": LockBy(lock, by_hold, with_lots=True, credit_lots=bool(members)),
                    "member_by": MemberBy(_HOLDS_MEMBER, _HOLDS_ASSET, params,
                                          lambda rows: self._owner_read(community_id, hold_id,
                                                                        rows)),
                    "reads": hold_reads,
                    "lot_reads": [*((stmt, by_hold) for stmt in wallet_lots),
                                  (_LOTS_OF_HOLD, params)]}
        owner = self.hold_owner(community_id, hold_id)
        if owner is None:  # no such hold: the write finds out
            return {}
        account_id, member_id, asset = owner
        others = [] if splits is None else [
            system_id(to_account or "revenue", asset),
            *(wallet_id(s.member, asset) if s.member else system_id(s.account or "", asset)
              for s in splits)]
        return {"accounts": [account_id, *others], "member_id": member_id, "asset": asset,
                "reads": hold_reads, "lot_reads": [(_LOTS_OF_HOLD, params)]}

    def _owner_read(self, community_id: str, hold_id: str,
                    rows: dict[str, Any]) -> tuple[str, str] | None:
        """The member and asset of the hold row the first round trip locked (kept for a later
        capture of the same hold), or None: no such hold."""
        row = rows.get(f"hold:{hold_id}")
        if row is None:
            return None
        member_id, asset = row[_HOLD_COLUMNS["member_id"]], row[_HOLD_COLUMNS["asset"]]
        self.keep_hold_owner(community_id, hold_id,
                             (row[_HOLD_COLUMNS["account_id"]], member_id, asset))
        return member_id, asset

    def capture(self, community_id: str, hold_id: str, amount: int, *, idempotency_key: str,
                final: bool = True, splits: Sequence[Split | dict[str, Any]] = (),
                to_account: str | None = None, actor: str = "system",
                reason_code: str = "capture", memo: str = "",
                metadata: dict[str, Any] | None = None,
                reads: Sequence[PreRead] = ()) -> HoldResult:
        """Spend part (or all) of a hold. With `final` (the default) the rest is released.
        `reads`: what a hook of the caller's will read in the capture's transaction, sent
        ahead with its first round trip (a metered use's row and the running leases)."""
        amount = amounts.positive_amount(amount)
        key = amounts.idempotency_key(idempotency_key)
        split_list = [as_split(s) for s in splits]
        meta = checked_metadata(metadata)
        request = {"hold": hold_id, "amount": amount, "final": final,
                   "splits": [s.model_dump() for s in split_list], "to": to_account,
                   "memo": memo, "metadata": meta}

        def body(ws: WorkSet) -> HoldResult:
            hold, wallet = self._lock_hold(ws, hold_id)
            if hold["status"] != "active":
                raise Declined(Status.hold_not_active, f"hold {hold_id} is {hold['status']}")
            if hold["expires_at_us"] <= ws.now_us:
                raise Declined(Status.hold_expired, f"hold {hold_id} has expired")
            open_amount = hold["amount"] - hold["captured"] - hold["voided"]
            if amount > open_amount:
                raise Declined(Status.capture_exceeds_hold,
                               f"capture of {amount} exceeds the {open_amount} left on the hold",
                               required=amount, balance=open_amount)
            if sum(s.amount for s in split_list) > amount:
                raise Declined(Status.split_invalid, "splits exceed the amount captured")
            header = Header(TransferKind.capture, hold["asset"], member_id=hold["member_id"],
                            service=hold["service"], hold_id=hold_id, actor=actor,
                            reason_code=reason_code, memo=memo, metadata=meta,
                            idempotency_key=key)
            revenue = system_id(to_account or "revenue", hold["asset"])
            # Named accounts of the splits (an app-store fee) are read with revenue.
            ws.load([revenue, *(system_id(s.account, hold["asset"]) for s in split_list
                                if s.account)], with_lots=False)
            if revenue not in ws.accounts:
                self._missing_system_account(ws, hold["asset"], revenue)
            draft = TransferDraft(header.kind, hold["asset"])
            left = amount
            for hl in self._hold_lots(ws, hold_id):
                free = hl["reserved"] - hl["used"] - hl["released"]
                take = min(free, left)
                if take:
                    hl["used"] += take
                    ws.hold_lot_updates[(hold_id, hl["lot_id"])] = hold_lot_update_row(ws, hl)
                    draft.move_lot(wallet.account_id, hl["lot_id"], -take)
                    left -= take
            draft.add(wallet.account_id, -amount)
            rest = amount
            for split in split_list:
                target = (ws.ensure_wallet(split.member, hold["asset"]) if split.member
                          else ws.account(system_id(split.account or "", hold["asset"])))
                if target.kind == "wallet":
                    ws.credit(draft, target, split.amount, LotSpec(source="royalty"))
                else:
                    draft.add(target.account_id, split.amount)
                rest -= split.amount
            if rest:
                draft.add(revenue, rest)
            wallet.pending -= amount
            wallet.dirty = True
            hold["captured"] += amount
            if final:
                self._release_hold(ws, hold, wallet, "captured")
            elif hold["captured"] + hold["voided"] == hold["amount"]:
                hold["status"] = "captured"
                hold["settled_at_us"] = ws.now_us
            ws.hold_updates[hold_id] = hold_update_row(ws, hold)
            result = ws.commit_transfer(header, draft, wallet)
            return hold_result(hold, transfer=result)

        ahead = self._settle_ahead(community_id, hold_id, split_list, to_account)
        ahead["reads"] = [*ahead.get("reads", ()), *reads]
        return self.write_once(community_id, key, "capture", request, body, HoldResult, **ahead)

    def void(self, community_id: str, hold_id: str, *, idempotency_key: str,
             actor: str = "system") -> HoldResult:
        """Release what is left of a hold back to the lots it came from."""
        key = amounts.idempotency_key(idempotency_key)

        def body(ws: WorkSet) -> HoldResult:
            hold, wallet = self._lock_hold(ws, hold_id)
            if hold["status"] != "active":
                raise Declined(Status.hold_not_active, f"hold {hold_id} is {hold['status']}")
            self._release_hold(ws, hold, wallet, "voided")
            ws.hold_updates[hold_id] = hold_update_row(ws, hold)
            return hold_result(hold)

        return self.write_once(community_id, key, "void", {"hold": hold_id}, body, HoldResult,
                               **self._settle_ahead(community_id, hold_id))

    def get_hold(self, community_id: str, hold_id: str) -> HoldResult:
        with self.store.read() as conn:
            row = conn.execute(sa.select(holds).where(
                holds.c.community_id == community_id,
                holds.c.hold_id == hold_id)).mappings().first()
        if row is None:
            raise NotFound(f"no hold {hold_id!r}", status=Status.hold_not_found)
        return hold_result(dict(row))

    def expire_holds(self, community_id: str) -> int:
        """Release holds whose timeout has passed. Returns the holds expired."""
        now = self.now_us()

        def tx(conn: Connection) -> int:
            due = conn.execute(sa.select(holds.c.hold_id).where(
                holds.c.community_id == community_id, holds.c.status == "active",
                holds.c.expires_at_us <= now).limit(limits.job_batch_size)).all()
            ws = WorkSet(conn, self.store.dialect, community_id, now)
            count = 0
            for (hold_id,) in due:
                hold, wallet = self._lock_hold(ws, hold_id)
                if hold["status"] != "active":
                    continue
                self._release_hold(ws, hold, wallet, "expired")
                ws.hold_updates[hold_id] = hold_update_row(ws, hold)
                count += 1
            ws.flush()
            return count

        total = 0
        while (done := self.store.run_write(tx)):
            total += done
        return total
