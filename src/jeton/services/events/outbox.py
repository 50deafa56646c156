"""Events: what happened, written to the `events` outbox in the same transaction as the change.

A committed change has its event and a rolled-back one has none, so a host app never hears of
a charge that did not happen nor misses one that did. `services/events/endpoints.py` delivers events
as signed webhooks; `/v1/events` lists them.

Who writes which event:
- the ledger's write path, through `Events.hook` (installed on `Ledger.hooks`): charge.succeeded
  (spend, capture), transfer.completed, refund.created (a reversal), balance.low (once per
  crossing of the member's threshold), balance.depleted (the available balance reached 0);
- the ledger's expiry job: credits.expired; this module's job: credits.expiring;
- every other service, for what it owns, with `emit_event(ws_or_conn, ...)` inside its own
  transaction, or `Events.record(...)` in a transaction of its own for something that writes
  nothing else (a declined charge).

charge.succeeded and transfer.completed happen on nearly every request of a busy community and
only repeat what the journal already holds (the transfer), so each is written only while some
enabled endpoint of the community subscribes to it (or to every type; decision 0085); every
other event is always written (a decline leaves no other trace, and owners read declines on
the dashboard). The write path learns who subscribes from a per-process cache
(`limits.event_subscriptions_cache_s`), so it costs no query per charge.

Payloads (the `data` of a webhook), by type:

    balance.low         member_id, asset, available, threshold, level, transfer_id
    balance.depleted    member_id, asset, available, transfer_id
    charge.succeeded    transfer_id, member_id, asset, amount, service, hold_id, balance_after,
                        metadata
    transfer.completed  transfer_id, from_member, to_member, asset, amount, fee
    refund.created      transfer_id, reverses_id, member_id, asset, amount, reason_code, memo
    credits.expiring    member_id, asset, lot_id, amount, expires_at, paid, source, scope
    credits.expired     member_id, asset, amount, lots [{lot_id, amount, expired_at}],
                        transfer_id
    credits.rolled_over member_id, asset, subscription_id, plan_id, transfer_id, amount, unused,
                        lots [{lot_id, amount, paid, cost_minor, rolls}], expires_at
    credits.rollover_forfeited  member_id, asset, subscription_id, plan_id, transfer_id,
                        amount, unused, share_percent, cap

The other types are listed in `EVENT_TYPES`; the services that own them define their payloads.
Amounts are integers in the asset's minor unit, instants ISO 8601 in UTC.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.clock import Clock, from_us, to_us
from jeton.core.errors import InvalidRequest, NotFound, invariant
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.events.results import EventInfo, LowBalanceAlert
from jeton.services.ledger.results import Page, TransferResult
from jeton.services.ledger.state import Acct, CreditNeedsLock, wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update
from jeton.store.engine import Store
from jeton.store.sql import insert_ignore
from jeton.store.tables.ledger import accounts, events, lots, members
from jeton.store.tables.webhooks import (
    balance_alert_levels,
    event_settings,
    expiring_lot_notices,
    member_alerts,
    webhook_endpoints,
)

EVENT_TYPES: Mapping[str, str] = {
    "affiliate.codes_created": "a member bought affiliate codes",
    "badge.awarded": "a member earned a badge",
    "balance.depleted": "a member's available balance reached zero",
    "balance.low": "a member's available balance fell below their low-balance threshold",
    "bill.issued": "a post-pay bill was issued to a member on a credit line",
    "bill.paid": "a post-pay bill was paid and the member's wallet repaid",
    "bill.payment_failed": "paying a post-pay bill failed (a declined card, a failed checkout)",
    "charge.declined": "a charge was refused (not enough credits, no access, a limit)",
    "challenge.completed": "a member completed a challenge in its window",
    "charge.succeeded": "credits were spent: a charge or the capture of a hold",
    "coupon.redeemed": "a member redeemed a coupon",
    "credits.expired": "credits of a member expired and went to breakage",
    "credits.rolled_over": "a plan's unused cycle credits rolled into the next cycle",
    "credits.rollover_forfeited": "unused cycle credits past a plan's rollover share or cap "
                                  "went to breakage",
    "credits.expiring": "a lot of a member's credits will expire soon",
    "level.reached": "a member's lifetime points reached a new level",
    "member.created": "a member was registered",
    "member.limit_tripped": "a member tripped a spending limit repeatedly today",
    "purchase.completed": "a payment was confirmed and its credits granted",
    "purchase.refund_failed": "the provider could not refund a purchase",
    "purchase.refunded": "a purchase was refunded (money back, credits taken back)",
    "recharge.cap_reached": "an auto-recharge was skipped: the member's monthly cap is reached",
    "recharge.failed": "an auto-recharge could not be charged",
    "recharge.succeeded": "an auto-recharge was charged and its credits granted",
    "refund.created": "a transfer was reversed",
    "subscription.cancel_scheduled": "a subscription will end at the end of its cycle",
    "subscription.canceled": "a subscription ended",
    "subscription.cycle_started": "a plan renewed and granted its credits for the new cycle",
    "subscription.renewal_failed": "a plan's renewal payment failed (it will be retried)",
    "transfer.completed": "a member transferred credits to another member",
    "wallet.frozen": "staff froze a member's wallet",
    "wallet.unfrozen": "staff unfroze a member's wallet",
}
# Written only while an enabled endpoint subscribes to them (see the module docstring).
NOISY_TYPES = frozenset({"charge.succeeded", "transfer.completed"})
ALL_TYPES = "*"

# Built once: the write path runs them on every charge of a community with thresholds.
_SELECT_ALERTS = sa.select(
    member_alerts.c.member_id, member_alerts.c.asset, member_alerts.c.low_threshold,
    member_alerts.c.low_armed,
).where(member_alerts.c.community_id == sa.bindparam("b_community"),
        member_alerts.c.member_id.in_(sa.bindparam("b_members", expanding=True)))
_FLIP_ALERTS = member_alerts.update().where(
    member_alerts.c.community_id == sa.bindparam("b_community"),
    member_alerts.c.member_id == sa.bindparam("b_member"),
    member_alerts.c.asset == sa.bindparam("b_asset"))
_LEVELS = balance_alert_levels.c
_SELECT_LEVELS = sa.select(_LEVELS.member_id, _LEVELS.asset, _LEVELS.threshold, _LEVELS.armed,
                           _LEVELS.level).where(
    _LEVELS.community_id == sa.bindparam("b_community"),
    _LEVELS.member_id.in_(sa.bindparam("b_members", expanding=True)))
_FLIP_LEVELS = balance_alert_levels.update().where(
    _LEVELS.community_id == sa.bindparam("b_community"),
    _LEVELS.member_id == sa.bindparam("b_member"), _LEVELS.asset == sa.bindparam("b_asset"),
    _LEVELS.level == sa.bindparam("b_level"))
_EVENT_COLS = (events.c.event_id, events.c.type, events.c.member_id, events.c.payload_json,
               events.c.created_at_us)


def emit_event(target: WorkSet | Connection, community_id: str, type_: str,
               member_id: str | None, payload: Mapping[str, Any], *,
               now_us: int | None = None) -> str:
    """Write an event in the caller's transaction; returns its id.

    `target` is the WorkSet of a ledger write (the event is flushed with it) or the Connection
    of any other write transaction (`now_us`, business time, is then required). Either way the
    event exists if and only if that transaction commits.
    """
    invariant(type_ in EVENT_TYPES, f"unknown event type {type_!r}: add it to EVENT_TYPES")
    invariant(isinstance(payload, Mapping), "an event payload is an object")
    if isinstance(target, WorkSet):
        invariant(target.community_id == community_id, "an event of another community")
        target.emit(type_, member_id, dict(payload))
        event_id: str = target.event_rows[-1]["event_id"]
        return event_id
    if now_us is None:
        raise TypeError("emit_event on a Connection needs now_us (business time)")
    event_id = new_id()
    target.execute(events.insert().values(
        community_id=community_id, event_id=event_id, type=type_, member_id=member_id,
        payload_json=json.dumps(dict(payload), default=str), created_at_us=now_us))
    return event_id


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """What a community's enabled endpoints want, and whether it has low-balance alerts."""

    types: frozenset[str]
    has_alerts: bool
    loaded_at: float

    def wants(self, type_: str) -> bool:
        return ALL_TYPES in self.types or type_ in self.types


class Events:
    """Events of one store: the ledger hook, recording, listing, alerts, credits.expiring."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._cache: dict[str, Subscriptions] = {}

    def now_us(self) -> int:
        return to_us(self.clock.now())

    # ---- who listens (cached) ----

    def subscriptions(self, conn: Connection, community_id: str) -> Subscriptions:
        found = self._cache.get(community_id)
        now = time.monotonic()
        if found is not None and now - found.loaded_at < limits.event_subscriptions_cache_s:
            return found
        types: set[str] = set()
        for (raw,) in conn.execute(sa.select(webhook_endpoints.c.event_types_json).where(
                webhook_endpoints.c.community_id == community_id,
                webhook_endpoints.c.enabled.is_(True))):
            types.update(json.loads(raw) if raw is not None else [ALL_TYPES])
        has_alerts = any(conn.execute(sa.select(table.c.member_id).where(
            table.c.community_id == community_id).limit(1)).first() is not None
            for table in (member_alerts, balance_alert_levels))
        found = Subscriptions(frozenset(types), has_alerts, now)
        self._cache[community_id] = found
        return found

    def invalidate(self, community_id: str) -> None:
        """Forget what is cached for a community (after its endpoints or alerts change)."""
        self._cache.pop(community_id, None)

    def cached_subscriptions(self, community_id: str) -> Subscriptions:
        """`subscriptions` outside any transaction (a read of its own on a cache miss)."""
        found = self._cache.get(community_id)
        if found is None or (time.monotonic() - found.loaded_at
                             >= limits.event_subscriptions_cache_s):
            with self.store.read() as conn:
                found = self.subscriptions(conn, community_id)
        return found

    def wants(self, community_id: str, type_: str) -> bool:
        """Whether an event of this type would be written now (always, unless noisy)."""
        return type_ not in NOISY_TYPES or self.cached_subscriptions(community_id).wants(type_)

    # ---- writing ----

    def record(self, community_id: str, type_: str, member_id: str | None,
               payload: Mapping[str, Any]) -> str | None:
        """Write one event in a transaction of its own: for what happens outside any other
        write (charge.declined writes no ledger rows). Returns the event id, or None when a
        noisy type has no subscriber and was not written."""
        invariant(type_ in EVENT_TYPES, f"unknown event type {type_!r}: add it to EVENT_TYPES")
        if not self.wants(community_id, type_):
            return None
        now = self.now_us()

        def tx(conn: Connection) -> str:
            return emit_event(conn, community_id, type_, member_id, payload, now_us=now)

        return self.store.run_write(tx)

    def hook(self, ws: WorkSet, results: list[TransferResult]) -> None:
        """The `Ledger.hooks` entry: runs inside every ledger write, before its flush.

        Costs no statement unless something happens: events go out with the write's own flush
        (one INSERT for all of them), and `member_alerts` is read (one SELECT for the whole
        batch) only in a community that has low-balance thresholds.
        """
        subs = self.subscriptions(ws.conn, ws.community_id)
        nets: dict[str, int] = {}
        last_debit: dict[str, str] = {}
        for r in results:
            for p in r.postings:
                nets[p.account_id] = nets.get(p.account_id, 0) + p.amount
                if p.amount < 0:
                    last_debit[p.account_id] = r.id
            if r.kind in ("spend", "capture"):
                if subs.wants("charge.succeeded"):
                    ws.emit("charge.succeeded", r.member_id, _charge(r))
            elif r.kind == "transfer":
                if subs.wants("transfer.completed"):
                    ws.emit("transfer.completed", r.member_id, _transfer(r))
            elif r.kind == "reversal":
                ws.emit("refund.created", r.member_id, {
                    "transfer_id": r.id, "reverses_id": r.reverses_id, "member_id": r.member_id,
                    "asset": r.asset, "amount": r.amount, "reason_code": r.reason_code,
                    "memo": r.memo})
        wallets: dict[tuple[str, str], Acct] = {}
        credited: dict[tuple[str, str], Acct] = {}  # credited unlocked: never depleted by it
        for account_id in nets:
            acct = ws.accounts.get(account_id)
            if acct is not None and acct.kind == "wallet" and acct.member_id is not None \
                    and acct.floor is not None:
                into = credited if account_id in ws.unlocked else wallets
                into[(acct.member_id, acct.asset)] = acct
        if not wallets and not (credited and subs.has_alerts):
            return
        available = {key: a.posted - a.pending - (a.floor or 0) for key, a in wallets.items()}
        for key, acct in wallets.items():
            net = nets[acct.account_id]
            if net < 0 and available[key] <= 0 < available[key] - net:
                ws.emit("balance.depleted", acct.member_id, {
                    "member_id": acct.member_id, "asset": acct.asset,
                    "available": available[key],
                    "transfer_id": last_debit.get(acct.account_id)})
        if subs.has_alerts:
            self._low_balance(ws, wallets, available, last_debit, credited)

    def _low_balance(self, ws: WorkSet, wallets: dict[tuple[str, str], Any],
                     available: dict[tuple[str, str], int], last_debit: dict[str, str],
                     credited: dict[tuple[str, str], Any]) -> None:
        """Send `balance.low` and re-arm alerts. A wallet credited without its lock whose
        member has an alert needs the lock after all (a credit may re-arm it, by the balance
        after the credit): `CreditNeedsLock`."""
        members = {k[0] for k in wallets} | {k[0] for k in credited}
        params = {"b_community": ws.community_id, "b_members": sorted(members)}
        single = [(*row, None) for row in ws.conn.execute(_SELECT_ALERTS, params).all()]
        # Levels, highest threshold first: a fall through several sends them in that order.
        levels = sorted(ws.conn.execute(_SELECT_LEVELS, params).all(), key=lambda r: -r[2])
        flips, level_flips = [], []
        for member_id, asset, threshold, armed, level in single + levels:
            key = (member_id, asset)
            if key in credited:
                raise CreditNeedsLock("a low-balance alert", credited[key].account_id)
            if key not in wallets:
                continue
            below = available[key] < threshold
            if armed and below:
                ws.emit("balance.low", member_id, {
                    "member_id": member_id, "asset": asset, "available": available[key],
                    "threshold": threshold, "level": level,
                    "transfer_id": last_debit.get(wallets[key].account_id)})
            if armed == below:  # armed and now below, or disarmed and back at the threshold
                flip = {"b_community": ws.community_id, "b_member": member_id,
                        "b_asset": asset, "updated_at_us": ws.now_us}
                if level is None:
                    flips.append({**flip, "low_armed": not below})
                else:
                    level_flips.append({**flip, "b_level": level, "armed": not below})
        if flips:
            ws.conn.execute(_FLIP_ALERTS, flips)
        if level_flips:
            ws.conn.execute(_FLIP_LEVELS, level_flips)

    # ---- reading ----

    def list_events(self, community_id: str, *, type: str | None = None,
                    member_id: str | None = None, limit: int = limits.page_size_default,
                    starting_after: str | None = None) -> Page[EventInfo]:
        """Events, newest first."""
        limit = _page_limit(limit)
        stmt = sa.select(*_EVENT_COLS).where(events.c.community_id == community_id)
        if type is not None:
            stmt = stmt.where(events.c.type == type)
        if member_id is not None:
            stmt = stmt.where(events.c.member_id == member_id)
        if starting_after:
            stmt = stmt.where(events.c.event_id < starting_after)
        with self.store.read() as conn:
            rows = conn.execute(stmt.order_by(events.c.event_id.desc()).limit(limit + 1)).all()
        data = [EventInfo.from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)

    def get_event(self, community_id: str, event_id: str) -> EventInfo:
        with self.store.read() as conn:
            row = conn.execute(sa.select(*_EVENT_COLS).where(
                events.c.community_id == community_id, events.c.event_id == event_id)).first()
        if row is None:
            raise NotFound(f"no event {event_id!r}", status=Status.not_found)
        return EventInfo.from_row(row)

    # ---- low-balance alerts ----

    def set_low_balance_threshold(self, community_id: str, member_id: str,
                                  threshold: int | None, *,
                                  asset: str = "CREDIT") -> LowBalanceAlert | None:
        """balance.low is sent when the member's available balance falls below `threshold`,
        once per crossing. None removes the alert. A balance already below the new threshold
        sends nothing until it has been back at the threshold or above."""
        if threshold is not None and (type(threshold) is not int
                                      or not 0 < threshold <= limits.amount_max):
            raise InvalidRequest("threshold must be a positive integer",
                                 status=Status.amount_invalid)
        now = self.now_us()
        m = member_alerts.c

        def tx(conn: Connection) -> LowBalanceAlert | None:
            found = conn.execute(sa.select(members.c.member_id).where(
                members.c.community_id == community_id,
                members.c.member_id == member_id)).first()
            if found is None:
                raise NotFound(f"no member {member_id!r}", status=Status.member_not_found)
            key = (m.community_id == community_id, m.member_id == member_id, m.asset == asset)
            if threshold is None:
                conn.execute(member_alerts.delete().where(*key))
                return None
            # The wallet's lock orders this against the ledger writes that flip `low_armed`.
            row: Any = conn.execute(for_update(sa.select(
                accounts.c.posted, accounts.c.pending, accounts.c.floor).where(
                accounts.c.community_id == community_id,
                accounts.c.account_id == wallet_id(member_id, asset)),
                self.store.dialect)).first()
            available = row[0] - row[1] - (row[2] or 0) if row is not None else 0
            armed = available >= threshold
            values = {"low_threshold": threshold, "low_armed": armed, "updated_at_us": now}
            if conn.execute(member_alerts.update().where(*key).values(**values)).rowcount == 0:
                conn.execute(member_alerts.insert().values(
                    community_id=community_id, member_id=member_id, asset=asset, **values))
            return LowBalanceAlert(member_id=member_id, asset=asset, threshold=threshold,
                                   armed=armed)

        result = self.store.run_write(tx)
        self.invalidate(community_id)
        return result

    def low_balance_alert(self, community_id: str, member_id: str, *,
                          asset: str = "CREDIT") -> LowBalanceAlert | None:
        """The member's alert, or None when none is set (404 when there is no such member)."""
        m = member_alerts.c
        with self.store.read() as conn:
            row = conn.execute(sa.select(m.low_threshold, m.low_armed).where(
                m.community_id == community_id, m.member_id == member_id,
                m.asset == asset)).first()
            if row is None and conn.execute(sa.select(members.c.member_id).where(
                    members.c.community_id == community_id,
                    members.c.member_id == member_id)).first() is None:
                raise NotFound(f"no member {member_id!r}", status=Status.member_not_found)
        if row is None:
            return None
        return LowBalanceAlert(member_id=member_id, asset=asset, threshold=row[0],
                               armed=bool(row[1]))

    # ---- credits.expiring ----

    def expiring_notice_days(self, community_id: str) -> int:
        with self.store.read() as conn:
            days = conn.execute(sa.select(event_settings.c.expiring_notice_days).where(
                event_settings.c.community_id == community_id)).scalar()
        return int(days) if days is not None else limits.credits_expiring_notice_days_default

    def set_expiring_notice_days(self, community_id: str, days: int | None) -> int:
        """How many days ahead credits.expiring is sent (None: the default). Returns it."""
        if days is not None and (type(days) is not int
                                 or not 1 <= days <= limits.credits_expiring_notice_days_max):
            raise InvalidRequest(
                f"days must be 1-{limits.credits_expiring_notice_days_max}",
                status=Status.value_invalid)
        now = self.now_us()

        def tx(conn: Connection) -> None:
            conn.execute(insert_ignore(self.store.dialect, event_settings, ["community_id"]),
                         {"community_id": community_id, "expiring_notice_days": days,
                          "updated_at_us": now})
            conn.execute(event_settings.update().where(
                event_settings.c.community_id == community_id).values(
                expiring_notice_days=days, updated_at_us=now))

        self.store.run_write(tx)
        return days if days is not None else limits.credits_expiring_notice_days_default

    def announce_expiring(self, community_id: str) -> int:
        """credits.expiring for every lot that expires within the notice period and was not
        announced yet (once per lot). Returns the lots announced."""
        days = self.expiring_notice_days(community_id)
        now = self.now_us()
        until = now + days * 86_400_000_000
        L, A, N = lots.c, accounts.c, expiring_lot_notices.c
        stmt = (sa.select(L.lot_id, L.remaining, L.expires_at_us, L.paid, L.source, L.scope,
                          A.member_id, A.asset)
                .select_from(lots.join(accounts, sa.and_(
                    A.community_id == L.community_id, A.account_id == L.account_id))
                    .outerjoin(expiring_lot_notices, sa.and_(
                        N.community_id == L.community_id, N.lot_id == L.lot_id)))
                .where(L.community_id == community_id, L.remaining > 0,
                       L.expires_at_us.is_not(None), L.expires_at_us > now,
                       L.expires_at_us <= until, N.lot_id.is_(None), A.member_id.is_not(None))
                .order_by(L.expires_at_us, L.lot_id).limit(limits.credits_expiring_batch_size))

        def tx(conn: Connection) -> tuple[int, bool]:
            rows = conn.execute(stmt).all()
            # Lots past their expiry are never announced again: their notices can go.
            conn.execute(expiring_lot_notices.delete().where(
                N.community_id == community_id, N.expires_at_us <= now))
            if not rows:
                return 0, False
            notices = {r[0]: (new_id(), r[2]) for r in rows}
            # Claim the lots first: a concurrent run that claimed one already keeps it.
            claimed = {lot_id for (lot_id,) in conn.execute(
                insert_ignore(self.store.dialect, expiring_lot_notices,
                              ["community_id", "lot_id"])
                .values([{"community_id": community_id, "lot_id": lot_id, "event_id": eid,
                          "expires_at_us": expires_us, "notified_at_us": now}
                         for lot_id, (eid, expires_us) in notices.items()])
                .returning(N.lot_id))}
            event_rows = [{
                "community_id": community_id, "event_id": notices[r[0]][0],
                "type": "credits.expiring", "member_id": r[6], "created_at_us": now,
                "payload_json": json.dumps({
                    "member_id": r[6], "asset": r[7], "lot_id": r[0], "amount": r[1],
                    "expires_at": from_us(r[2]).isoformat(), "paid": bool(r[3]),
                    "source": r[4], "scope": r[5]})}
                for r in rows if r[0] in claimed]
            if event_rows:
                conn.execute(events.insert(), event_rows)
            return len(event_rows), len(rows) == limits.credits_expiring_batch_size

        with self.store.read() as conn:  # the common case, nothing to say, takes no write lock
            if not conn.execute(stmt.limit(1)).first():
                return 0
        total = 0
        while True:
            count, more = self.store.run_write(tx)
            total += count
            if not more:
                return total


def _charge(r: TransferResult) -> dict[str, Any]:
    return {"transfer_id": r.id, "member_id": r.member_id, "asset": r.asset, "amount": r.amount,
            "service": r.service, "hold_id": r.hold_id, "balance_after": r.balance_after,
            "metadata": r.metadata}


def _transfer(r: TransferResult) -> dict[str, Any]:
    to_member = r.metadata.get("to_member")
    received = 0
    if isinstance(to_member, str):
        target = wallet_id(to_member, r.asset)
        received = sum(p.amount for p in r.postings if p.account_id == target)
    return {"transfer_id": r.id, "from_member": r.member_id, "to_member": to_member,
            "asset": r.asset, "amount": received, "fee": r.amount - received}


def _page_limit(limit: int) -> int:
    if type(limit) is not int or not 1 <= limit <= limits.page_size_max:
        raise InvalidRequest(f"limit must be 1-{limits.page_size_max}", status=Status.value_invalid)
    return limit
