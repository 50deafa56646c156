"""Metered use: hold credits for the estimated use, capture what was really used.

`start` prices the estimate like a charge (access, allowance, class price, discount) and holds
that many credits (`Ledger.hold`); the terms agreed then (the service's definition, the member's
live classes, discount and whether a class waived the price, the context naming the parties of
the splits) are kept in `metered_uses`, so a price change or a class expiring mid-call does not
change what the call costs. A use that needs no credits (free, within an allowance, or waived)
holds nothing but is finished the same way.

`finish` prices the actual quantity on those terms, counts it against the allowance, captures
the price with its splits and releases the rest of the hold, all in the capture's transaction:
`Ledger.capture` runs the ledger's hooks before it commits, and this module's hook marks the use
finished and counts the allowance there. The process that started a use keeps its row and
prices its finish from it, with the leases it read last; the capture reads both again, locked,
and a finish whose capture finds them moved is priced again from the database (decision 0106).
The hold is the ceiling: a use past the estimate is captured up to the hold and the rest is
reported as `uncharged` (start a second metered use to go on). A hold nobody finishes expires
by itself (the ledger's hold timeout) and its credits go back to the member.

Replays: `start` answers a replayed key with the stored session; `finish` answers a replayed key
with the stored receipt (the same key with another quantity is an IdempotencyConflict).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core.allowances import AfterAllowance, AllowanceUse, use_allowance
from jeton.core.catalog import Service, catalog_from_data
from jeton.core.catalog_data import service_to_data
from jeton.core.clock import from_us, to_us
from jeton.core.errors import (
    Conflict,
    IdempotencyConflict,
    InvalidRequest,
    InvariantViolation,
    JetonError,
    NotFound,
)
from jeton.core.ids import new_id
from jeton.core.prices import Quote, check_quantity, quote
from jeton.core.splits import REVENUE, REVENUE_TEXT, Target, split
from jeton.core.statuses import Status
from jeton.services.charging import leases, protection
from jeton.services.charging.catalogs import canonical
from jeton.services.charging.offers import (
    DECLINE_EVENTS,
    Evaluation,
    price_info,
    request_fields,
    split_lines,
    usable_offer,
)
from jeton.services.charging.reads import (
    LeaseTerm,
    add_allowance_use,
    allowance_used,
    lease_of,
    running_leases_read,
    snapshot_of,
    snapshot_read,
)
from jeton.services.charging.results import MeteredReceipt, MeteredSession, SplitLine
from jeton.services.ledger.results import Split, TransferResult
from jeton.services.ledger.state import PreRead, wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.tables.charging import metered_uses

if TYPE_CHECKING:
    from jeton.services.charging.service import Charging

_U = metered_uses.c
# A use's row, written with its start's hold (`WorkSet.service_rows`).
_INSERT_USE = metered_uses.insert()
# A use's row locked by its finish's capture, sent ahead with the capture's first round trip,
# and the update that finishes it, written with the capture's rows.
_LOCK_USE = sa.select(metered_uses).where(
    _U.community_id == sa.bindparam("c"), _U.metered_id == sa.bindparam("u")).with_for_update()
_COLUMNS = tuple(metered_uses.c.keys())
_STATUS = _COLUMNS.index("status")
_USE = sa.select(metered_uses).where(_U.community_id == sa.bindparam("c"),
                                     _U.metered_id == sa.bindparam("u"))
# Uses started and not yet finished that a process keeps for their finish, and communities
# whose running leases it keeps (decision 0106).
STARTED_KEPT = 10_000
_FINISH_USE = metered_uses.update().where(
    _U.community_id == sa.bindparam("b_c"), _U.metered_id == sa.bindparam("b_u"))


def _use_read(plan: _Finish) -> PreRead:
    return PreRead(f"metered_use:{plan.metered_id}", _LOCK_USE,
                   {"c": plan.community_id, "u": plan.metered_id}, cached=False)


class _CounterMoved(Exception):
    """The allowance counter or the running lease changed between pricing a finish and
    writing it: price again."""


@dataclass(slots=True)
class _Finish:
    """A finish priced and waiting for its capture's transaction (see `Metering._hook`)."""

    community_id: str
    metered_id: str
    row: dict[str, Any]
    actual: int
    key: str
    use: AllowanceUse | None
    seen: int  # the allowance count the price was computed from
    price: Quote
    capture: int
    uncharged: int
    lines: list[SplitLine]
    # The running lease the price read (decision 0093; read whenever the use can capture): the
    # capture's transaction reads it again and prices again if another runs by then.
    lease: LeaseTerm | None = None
    thread: int = field(default_factory=threading.get_ident)
    receipt: MeteredReceipt | None = None


def _capture_metadata(plan: _Finish) -> dict[str, Any]:
    meta: dict[str, Any] = {"metered_id": plan.metered_id, "quantity": plan.actual}
    if lease_id := leases.paid_lease(plan.lines):
        meta["lease_id"] = lease_id
    return meta


def derived_key(key: str, what: str) -> str:
    """The ledger key of one step of a metered use, derived from the caller's key."""
    return f"metered.{what}:{hashlib.sha256(key.encode()).hexdigest()[:48]}"


class Metering:
    def __init__(self, charging: Charging) -> None:
        self.charging = charging
        self.ledger = charging.ledger
        self.store = charging.store
        self._plans: dict[tuple[str, str], _Finish] = {}
        self._lock = threading.Lock()
        # The rows of the uses this process started and has not finished, the oldest first,
        # and the running leases last read, by community: what a finish here prices from
        # without reading them again (decision 0106). Its capture reads both again, locked,
        # and a row or lease that moved sends the finish back to the database's.
        self._started: dict[tuple[str, str], dict[str, Any]] = {}
        self._leases: dict[str, list[tuple[Any, ...]]] = {}
        self.ledger.hooks.append(self._hook)

    # ---- start ----

    def start(self, community_id: str, member_id: str, service: str, estimated_quantity: int,
              *, idempotency_key: str, context: dict[str, str] | None = None,
              session_id: str | None = None, asset: str = "CREDIT",
              timeout_s: int = limits.hold_timeout_s_default,
              actor: str = "system") -> MeteredSession:
        key = amounts.idempotency_key(idempotency_key)
        code, quantity, ctx, asset = request_fields(service, estimated_quantity, context,
                                                    session_id, asset)
        if type(timeout_s) is not int or not 1 <= timeout_s <= limits.hold_timeout_s_max:
            raise InvalidRequest(f"timeout_s must be 1-{limits.hold_timeout_s_max}",
                                 status=Status.value_invalid)
        request = {"member": member_id, "service": code, "quantity": quantity, "context": ctx,
                   "session": session_id, "asset": asset, "timeout_s": timeout_s}
        now_us = self.ledger.now_us()
        # One write: the member's snapshot goes ahead with its first round trip, as a charge's
        # does (decision 0087), and the hold and the use's row go out with its commit.
        snap_read = snapshot_read(community_id, member_id, now_us,
                                  self.charging.plan_discount_query)
        seen: list[Evaluation] = []
        written: list[dict[str, Any]] = []

        def body(ws: WorkSet) -> MeteredSession:
            seen.clear()
            written.clear()
            ev = self.charging.evaluate_use(ws.conn, community_id, member_id, code, quantity,
                                            session_id, ws.now_us, count=False,
                                            snap=snapshot_of(ws.read_ahead(snap_read)))
            seen.append(ev)
            offer = usable_offer(ev, member_id, code)
            if offer.payout or ev.service is None or offer.quote is None:
                raise InvalidRequest(f"{code} pays the member; charge it, it is not metered",
                                     status=Status.value_invalid)
            split_lines(offer.splits, member_id, ctx)  # every party is named, before holding
            if offer.charge > 0:  # the hold's own guard refuses a frozen wallet (0089)
                hold = self.ledger.place_hold(ws, member_id, offer.charge, asset=asset,
                                              service=code, timeout_s=timeout_s,
                                              meta={"metered": True})
            else:
                hold = None
                protection.refuse_frozen(ws, member_id, asset)
            expires_at = (hold.expires_at if hold is not None
                          else from_us(ws.now_us) + timedelta(seconds=timeout_s))
            use = offer.allowance
            session = MeteredSession(
                id=hold.id if hold is not None else new_id(),
                hold_id=hold.id if hold is not None else None, member_id=member_id,
                service=code, asset=asset, estimated_quantity=quantity, held=offer.charge,
                price=price_info(offer.quote), free_units=use.free if use is not None else 0,
                expires_at=expires_at, lots=hold.lots if hold is not None else [])
            written.append({
                "community_id": community_id, "metered_id": session.id,
                "member_id": member_id, "service": code, "asset": asset, "status": "active",
                "hold_id": session.hold_id, "held": offer.charge,
                "estimated_quantity": quantity,
                "definition_json": canonical(service_to_data(ev.service)),
                "classes_json": json.dumps(sorted(ev.snap.holdings.live_classes(ev.now))),
                "discount_bp": ev.discount_bp, "pay": offer.access.pay,
                "context_json": json.dumps(ctx), "session_id": session_id,
                "actual_quantity": None, "finish_key": None, "receipt_json": None,
                "started_at_us": ws.now_us, "expires_at_us": to_us(expires_at),
                "finished_at_us": None})
            ws.service_rows.append((_INSERT_USE, written))
            return session

        try:
            started = self.ledger.write_once(
                community_id, key, "metered.start", request, body, MeteredSession,
                now_us=now_us, accounts=[wallet_id(member_id, asset)], member_id=member_id,
                asset=asset, reads=[snap_read])
        except JetonError as exc:
            # A frozen member's start writes nothing, not even the decline's event
            # (docs/api/wallet-protection.md), as when it was refused before the write.
            if exc.status in DECLINE_EVENTS and exc.status is not Status.wallet_frozen:
                raise self.charging.declined(community_id, member_id, code, quantity, asset,
                                              key, exc, seen[0] if seen else None) from None
            raise
        if started.hold_id is not None and self.store.dialect == "postgresql":
            self.ledger.keep_hold_owner(community_id, started.hold_id,
                                        (wallet_id(member_id, asset), member_id, asset))
        if written and not started.replayed:
            self._remember(written[0])
        return started

    def _remember(self, row: dict[str, Any]) -> None:
        with self._lock:
            if len(self._started) >= STARTED_KEPT:  # the oldest first
                self._started.pop(next(iter(self._started)))
            self._started[(row["community_id"], row["metered_id"])] = row

    def _keep_leases(self, community_id: str, running: list[tuple[Any, ...]]) -> None:
        if len(self._leases) >= STARTED_KEPT and community_id not in self._leases:
            self._leases.clear()  # a process serving that many communities reads them again
        self._leases[community_id] = running

    def forget_started(self) -> None:
        """Forget the uses started here: each finish reads its use as another process's
        would (tests of a finish made elsewhere)."""
        with self._lock:
            self._started.clear()
            self._leases.clear()

    # ---- finish ----

    def finish(self, community_id: str, metered_id: str, actual_quantity: int, *,
               idempotency_key: str, actor: str = "system") -> MeteredReceipt:
        key = amounts.idempotency_key(idempotency_key)
        actual = check_quantity(actual_quantity, "actual quantity")
        with self._lock:
            row = self._started.pop((community_id, metered_id), None)
        for _ in range(limits.write_retries_max):
            plan: _Finish | MeteredReceipt | None = (
                self._price_remembered(row, actual, key) if row is not None else None)
            remembered, row = plan is not None, None  # a remembered row serves once
            if plan is None:
                plan = self._price(community_id, metered_id, actual, key)
            if isinstance(plan, MeteredReceipt):
                return plan
            try:
                return self._settle_and_capture(plan, actor)
            except _CounterMoved:
                continue  # another use of the allowance committed first: price again
            except JetonError:
                if not remembered:
                    raise
                # Priced from the row this process remembered, the use was finished or its
                # hold settled elsewhere meanwhile: the database's row answers as it would
                # have (a replay, a conflict, an expiry).
        raise Conflict("the allowance of this service is too busy to finish the use; retry",
                       status=Status.conflict)

    def _price(self, community_id: str, metered_id: str, actual: int,
               key: str) -> _Finish | MeteredReceipt:
        now_us = self.ledger.now_us()
        leases_read = running_leases_read(community_id)
        # The use's row and the running leases in one round trip (PostgreSQL).
        found, running = self.store.read_together([
            (_USE, {"c": community_id, "u": metered_id}),
            (leases_read.stmt, leases_read.params)])
        if not found:
            raise NotFound(f"no metered use {metered_id!r}", status=Status.hold_not_found)
        self._keep_leases(community_id, running)
        row = dict(zip(_COLUMNS, found[0], strict=True))
        if row["status"] == "finished":
            return self._replay(community_id, row, actual, key)
        if row["expires_at_us"] <= now_us:
            raise Conflict(f"metered use {metered_id} has expired; its hold was released",
                           status=Status.hold_expired)
        service = _service(row["service"], row["definition_json"])
        use = None
        seen = 0
        if service.allowance is not None and actual > 0:
            # Past the allowance a started use is charged: it cannot be refused afterwards.
            allowance = replace(service.allowance, after=AfterAllowance.charge)
            use = use_allowance(allowance, 0, actual, from_us(now_us), row["session_id"])
            with self.store.read() as conn:
                seen = allowance_used(conn, community_id, row["member_id"], service.code,
                                      use.window)
            use = use_allowance(allowance, seen, actual, from_us(now_us), row["session_id"])
        return self._plan(row, service, actual, key, use, seen, running)

    def _price_remembered(self, row: dict[str, Any], actual: int, key: str) -> _Finish | None:
        """A finish priced from the row its start left in this process and the leases last
        read, or None where that cannot be done without the database (the use has expired,
        its service counts an allowance, no leases were read yet): `_price` does it."""
        running = self._leases.get(row["community_id"])
        service = _service(row["service"], row["definition_json"])
        if (row["expires_at_us"] <= self.ledger.now_us() or running is None
                or (service.allowance is not None and actual > 0)):
            return None
        return self._plan(dict(row), service, actual, key, None, 0, running)

    def _plan(self, row: dict[str, Any], service: Service, actual: int, key: str,
              use: AllowanceUse | None, seen: int,
              running: Sequence[tuple[Any, ...]]) -> _Finish:
        # A use that can capture nothing (free, waived, nothing held) pays no share.
        term = lease_of(running, service.code) if row["pay"] and row["held"] else None
        community_id, metered_id = row["community_id"], row["metered_id"]
        priced = use.priced if use is not None else actual
        classes = frozenset(json.loads(row["classes_json"]))
        price = quote(service.price, priced, classes, row["discount_bp"])
        amount = max(price.credits, 0) if row["pay"] else 0
        capture = min(amount, row["held"])
        parts: list[tuple[Target, int]] = []
        if capture:
            try:
                parts = split(capture, service.splits)
            except InvalidRequest:
                # Capped under the split's fixed fees: what was captured goes to revenue.
                parts = [(REVENUE, capture)]
        # The lease running as the use is captured pays its share (decision 0093).
        lines = leases.with_share(
            split_lines(parts, row["member_id"], json.loads(row["context_json"])), term,
            row["member_id"], capture)
        return _Finish(community_id=community_id, metered_id=metered_id, row=row, actual=actual,
                       key=key, use=use, seen=seen, price=price, capture=capture,
                       uncharged=amount - capture, lines=lines, lease=term)

    def _replay(self, community_id: str, row: dict[str, Any], actual: int,
                key: str) -> MeteredReceipt:
        if row["finish_key"] != key:
            raise Conflict(f"metered use {row['metered_id']} is already finished",
                           status=Status.hold_not_active)
        if row["actual_quantity"] != actual:
            raise IdempotencyConflict(
                f"idempotency key {key!r} finished this use with another quantity", key=key)
        receipt = MeteredReceipt.model_validate_json(row["receipt_json"])
        if receipt.hold_id is not None and receipt.captured == 0:
            self._release(community_id, receipt.hold_id, key)  # in case a crash left it held
        return receipt.model_copy(update={"replayed": True})

    def _settle_and_capture(self, plan: _Finish, actor: str) -> MeteredReceipt:
        hold_id = plan.row["hold_id"]
        if hold_id is None or plan.capture == 0:
            receipt = self.store.run_write(lambda conn: self._settle(conn, plan, None))
            if hold_id is not None:
                self._release(plan.community_id, hold_id, plan.key)
            return receipt
        slot = (plan.community_id, hold_id)
        with self._lock:
            self._plans[slot] = plan
        try:
            result = self.ledger.capture(
                plan.community_id, hold_id, plan.capture,
                idempotency_key=derived_key(plan.key, "capture"), final=True,
                splits=[Split(member=s.member, account=s.account, amount=s.amount)
                        for s in plan.lines if s.target != REVENUE_TEXT],
                actor=actor, reason_code="metered",
                metadata=_capture_metadata(plan),
                reads=[_use_read(plan), running_leases_read(plan.community_id)])
        finally:
            with self._lock:
                if self._plans.get(slot) is plan:
                    del self._plans[slot]
        if result.replayed or plan.receipt is None:
            with self.store.read() as conn:
                stored = conn.execute(sa.select(_U.receipt_json).where(
                    _U.community_id == plan.community_id,
                    _U.metered_id == plan.metered_id)).scalar()
            if stored is None:
                raise InvariantViolation(f"metered use {plan.metered_id} was captured but not "
                                         f"finished")
            return MeteredReceipt.model_validate_json(stored).model_copy(
                update={"replayed": True})
        return plan.receipt

    def _release(self, community_id: str, hold_id: str, key: str) -> None:
        try:
            self.ledger.void(community_id, hold_id, idempotency_key=derived_key(key, "void"))
        except Conflict as exc:
            if exc.status is not Status.hold_not_active:
                raise  # expired or voided already: its credits are back either way

    def _hook(self, ws: WorkSet, results: list[TransferResult]) -> None:
        """Ledger hook: inside a capture's transaction, finish the metered use it settles."""
        if not self._plans:
            return
        for result in results:
            if result.kind != "capture" or result.hold_id is None:
                continue
            with self._lock:
                plan = self._plans.get((ws.community_id, result.hold_id))
            if plan is not None and plan.thread == self.ledger.store.caller_ident():
                plan.receipt = self._settle(ws.conn, plan, result, ws)

    def _settle(self, conn: Connection, plan: _Finish, transfer: TransferResult | None,
                ws: WorkSet | None = None) -> MeteredReceipt:
        """Mark the use finished with its receipt and count the allowance, on `conn`: in the
        capture's write `ws` (`transfer`), by the rows it sent ahead, the use's update going
        out with its flush. Raises `_CounterMoved` if the allowance's count or the running
        lease is no longer the one the price was made from (a use or a lease committed
        between): the finish prices again."""
        row = plan.row
        if ws is not None:
            found = ws.read_ahead(_use_read(plan))
            if found is None or found[_STATUS] != "active":
                raise Conflict(f"metered use {plan.metered_id} is already finished",
                               status=Status.hold_not_active)
            # A capture needs a use that pays and held credits: its price read the lease.
            running = ws.read_ahead(running_leases_read(plan.community_id))
            self._keep_leases(plan.community_id, running)
            if lease_of(running, row["service"]) != plan.lease:
                raise _CounterMoved()
        now_us = self.ledger.now_us()
        wid = wallet_id(row["member_id"], row["asset"])
        receipt = MeteredReceipt(
            id=plan.metered_id, hold_id=row["hold_id"],
            transfer_id=transfer.id if transfer is not None else None,
            member_id=row["member_id"], service=row["service"], asset=row["asset"],
            estimated_quantity=row["estimated_quantity"], actual_quantity=plan.actual,
            price=price_info(plan.price), held=row["held"], captured=plan.capture,
            released=row["held"] - plan.capture, uncharged=plan.uncharged,
            free_units=plan.use.free if plan.use is not None else 0,
            splits=plan.lines,
            lots=[m for m in transfer.lots if m.account_id == wid] if transfer else [],
            balance_after=transfer.balance_after if transfer is not None else None,
            finished_at=from_us(now_us))
        finished = {"status": "finished", "actual_quantity": plan.actual,
                    "finish_key": plan.key, "receipt_json": receipt.model_dump_json(),
                    "finished_at_us": now_us}
        if ws is not None:  # locked and found active above
            ws.service_rows.append((_FINISH_USE, [
                {**finished, "b_c": plan.community_id, "b_u": plan.metered_id}]))
        elif conn.execute(metered_uses.update().where(
                _U.community_id == plan.community_id, _U.metered_id == plan.metered_id,
                _U.status == "active").values(**finished)).rowcount != 1:
            raise Conflict(f"metered use {plan.metered_id} is already finished",
                           status=Status.hold_not_active)
        if plan.use is not None:
            before = add_allowance_use(conn, plan.community_id, row["member_id"],
                                       row["service"], plan.use.window, plan.actual, now_us)
            if before != plan.seen:
                raise _CounterMoved()
        return receipt


def _service(code: str, definition_json: str) -> Service:
    parsed = catalog_from_data({"services": {code: json.loads(definition_json)}}).catalog
    if parsed is None:
        raise InvariantViolation(f"the stored definition of {code!r} does not check")
    return parsed.services[code]


