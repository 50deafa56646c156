"""Velocity limits: credits a member may spend per hour and per UTC day, set by the owner.

A limit applies to every service (`service` None, stored as scope '*') or to one service, and
may be tighter for new members (those who joined less than `new_member_days` ago). Windows are
fixed: the clock hour and the UTC day (docs/decisions/0055). A spend or capture that would take
the member past a limit is refused with `velocity_limit_exceeded`, the limit, what was spent in
the window and `retry_after`, the instant the window ends.

Exact under concurrency: `check_and_count` runs as part of a ledger hook (protection.py) inside
the spend's own transaction, after the ledger has locked the member's wallet row. Every debit of
a wallet takes that lock, so the spends of one member read and raise their counters one after
the other, and a spend that rolls back (declined or failed later) counts nothing.

Only what leaves the member's own wallet counts: credits paid by an outside funding source, free
allowance units and transfers to other members (which have their own limits) do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core.clock import from_us, to_us
from jeton.core.errors import InvalidRequest, VelocityLimitExceeded
from jeton.core.statuses import Status
from jeton.services.access.audit import record_audit
from jeton.services.charging.results import SpendingLimits, VelocityLimit
from jeton.services.ledger.results import TransferResult
from jeton.services.ledger.state import wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update
from jeton.store.sql import insert_ignore
from jeton.store.tables.ledger import members
from jeton.store.tables.protection import spending_settings, velocity_counters, velocity_limits

if TYPE_CHECKING:
    from jeton.app import Jeton

SPEND_KINDS = frozenset({"spend", "capture"})
ALL = "*"
HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000
PERIODS = (("hour", HOUR_US), ("day", DAY_US))
ALERT_AFTER_TRIPS_DEFAULT = limits.alert_after_trips_default
VELOCITY_LIMITS_MAX = limits.velocity_limits_max
NEW_MEMBER_DAYS_MAX = limits.new_member_days_max
ALERT_AFTER_TRIPS_MAX = limits.alert_after_trips_max


# ---- the check, inside the write ----


def check_and_count(ws: WorkSet, results: list[TransferResult]) -> None:
    """Refuse the write if a spend in it takes its member past a limit, else count it."""
    if not results:
        return
    assets = sorted({r.asset for r in results})
    v = velocity_limits.c
    rules = {(row.asset, row.scope): row for row in ws.conn.execute(
        sa.select(velocity_limits).where(v.community_id == ws.community_id,
                                         v.asset.in_(assets))).all()}
    if not rules:
        return
    spent: dict[tuple[str, str, str], int] = {}
    for r in results:
        member = r.member_id or ""
        out = -sum(p.amount for p in r.postings if p.account_id == wallet_id(member, r.asset))
        if out <= 0:
            continue
        for scope in (ALL, r.service):
            if scope is not None and (r.asset, scope) in rules:
                spent[(member, r.asset, scope)] = spent.get((member, r.asset, scope), 0) + out
    if not spent:
        return
    who = sorted({m for m, _, _ in spent})
    new = _new_members(ws, who) if any(
        row.new_member_per_hour is not None or row.new_member_per_day is not None
        for row in rules.values()) else set()
    counters = read_counters(ws, who, assets)
    writes: list[CounterWrite] = []
    for (member, asset, scope), amount in sorted(spent.items()):
        rule = rules[(asset, scope)]
        for period, _span_us in PERIODS:
            limit = _limit(rule, period, member in new)
            if limit is None:
                continue
            start_us, end_us = window(ws.now_us, period)
            row = counters.get((member, asset, scope, period))
            before = row.spent if row is not None and row.window_start_us == start_us else 0
            if before + amount > limit:
                where = "" if scope == ALL else f" on {scope}"
                never = amount > limit  # no window lets it through: no time to retry at
                why = (f"; {amount} is more than the whole limit, so no {period} lets it through"
                       if never else f" and has spent {before}; {amount} more is refused until "
                       f"{from_us(end_us):%H:%M} UTC")
                raise VelocityLimitExceeded(
                    f"{member!r} may spend {limit} {asset}{where} per {period}{why}",
                    member=member, asset=asset, service=None if scope == ALL else scope,
                    period=period, limit=limit, used=before, required=amount,
                    retry_after=None if never else from_us(end_us))
            writes.append(CounterWrite(member, asset, scope, period, start_us, before + amount,
                                       row is not None))
    save_counters(ws, writes)


# ---- windows and counters, shared with the API keys' budgets (key_budgets.py) ----


def window(now_us: int, period: str) -> tuple[int, int]:
    """The fixed window of `period` (hour, day or month, in UTC) holding `now_us`: its start
    and its end, in microseconds."""
    if period == "month":
        d = from_us(now_us)
        start = datetime(d.year, d.month, 1, tzinfo=UTC)
        end = datetime(d.year + d.month // 12, d.month % 12 + 1, 1, tzinfo=UTC)
        return to_us(start), to_us(end)
    span_us = dict(PERIODS)[period]
    start_us = now_us - now_us % span_us
    return start_us, start_us + span_us


@dataclass(frozen=True, slots=True)
class CounterWrite:
    """A counter's new figure for the window starting at `window_start_us`."""

    member_id: str
    asset: str
    scope: str
    period: str
    window_start_us: int
    spent: int
    exists: bool


def read_counters(ws: WorkSet, member_ids: list[str], assets: list[str], *,
                  scopes: list[str] | None = None,
                  lock: bool = False) -> dict[tuple[str, str, str, str], Any]:
    """The counters of these members (and scopes), by (member, asset, scope, period). `lock`
    takes their row locks on PostgreSQL, for counters no wallet lock already serializes."""
    c = velocity_counters.c
    stmt = sa.select(velocity_counters).where(
        c.community_id == ws.community_id, c.member_id.in_(member_ids), c.asset.in_(assets))
    if scopes is not None:
        stmt = stmt.where(c.scope.in_(scopes))
    if lock:
        stmt = for_update(stmt.order_by(c.member_id, c.asset, c.scope, c.period), ws.dialect)
    return {(row.member_id, row.asset, row.scope, row.period): row
            for row in ws.conn.execute(stmt).all()}


def save_counters(ws: WorkSet, writes: list[CounterWrite]) -> None:
    c = velocity_counters.c
    for w in writes:
        if w.exists:
            ws.conn.execute(velocity_counters.update().where(
                c.community_id == ws.community_id, c.member_id == w.member_id,
                c.asset == w.asset, c.scope == w.scope, c.period == w.period).values(
                window_start_us=w.window_start_us, spent=w.spent))
        else:
            ws.conn.execute(velocity_counters.insert().values(
                community_id=ws.community_id, member_id=w.member_id, asset=w.asset,
                scope=w.scope, period=w.period, window_start_us=w.window_start_us,
                spent=w.spent))


def _limit(rule: Any, period: str, is_new: bool) -> int | None:
    base: int | None = getattr(rule, f"per_{period}")
    tight: int | None = getattr(rule, f"new_member_per_{period}") if is_new else None
    found = [v for v in (base, tight) if v is not None]
    return min(found) if found else None


def _new_members(ws: WorkSet, who: list[str]) -> set[str]:
    days = ws.conn.execute(sa.select(spending_settings.c.new_member_days).where(
        spending_settings.c.community_id == ws.community_id)).scalar()
    if not days:
        return set()
    since_us = ws.now_us - int(days) * DAY_US
    return {m for (m,) in ws.conn.execute(sa.select(members.c.member_id).where(
        members.c.community_id == ws.community_id, members.c.member_id.in_(who),
        members.c.created_at_us > since_us)).all()}


# ---- what the owner sets ----


def set_velocity_limit(j: Jeton, community_id: str, *, service: str | None = None,
                       per_hour: int | None = None, per_day: int | None = None,
                       new_member_per_hour: int | None = None,
                       new_member_per_day: int | None = None, asset: str = "CREDIT",
                       actor: str | None = None) -> VelocityLimit:
    """Set the limit on one service (or all, `service` None); every figure None removes it."""
    figures = {"per_hour": per_hour, "per_day": per_day,
               "new_member_per_hour": new_member_per_hour,
               "new_member_per_day": new_member_per_day}
    for what, value in figures.items():
        if value is not None and amounts.whole_amount(value, what) < 0:
            raise InvalidRequest(f"{what} must not be negative", status=Status.amount_invalid)
    if service is not None and (not isinstance(service, str) or not 0 < len(service) <= 100
                                or service == ALL):
        raise InvalidRequest("service must be a service code of 1-100 characters",
                             status=Status.value_invalid)
    asset = amounts.asset_code(asset)
    scope = service or ALL
    now_us = j.ledger.now_us()
    limit = VelocityLimit(asset=asset, service=service, **figures)
    v = velocity_limits.c

    def tx(conn: Connection) -> None:
        key = (v.community_id == community_id, v.asset == asset, v.scope == scope)
        conn.execute(velocity_limits.delete().where(*key))
        if any(v is not None for v in figures.values()):
            count = conn.execute(sa.select(sa.func.count()).select_from(velocity_limits).where(
                v.community_id == community_id)).scalar_one()
            if count >= VELOCITY_LIMITS_MAX:
                raise InvalidRequest(f"at most {VELOCITY_LIMITS_MAX} velocity limits",
                                     status=Status.value_invalid)
            conn.execute(velocity_limits.insert().values(
                community_id=community_id, asset=asset, scope=scope, updated_at_us=now_us,
                **figures))
        record_audit(conn, community_id, actor, "spending_limits.changed",
                     target=scope, detail=limit.model_dump())

    j.store.run_write(tx)
    return limit


def set_spending_settings(j: Jeton, community_id: str, *, new_member_days: int | None = None,
                          alert_after_trips: int | None = None,
                          actor: str | None = None) -> SpendingLimits:
    """Who counts as a new member, and how many trips in a day alert the owner."""
    if new_member_days is not None and (type(new_member_days) is not int
                                        or not 0 <= new_member_days <= NEW_MEMBER_DAYS_MAX):
        raise InvalidRequest(f"new_member_days must be 0-{NEW_MEMBER_DAYS_MAX}",
                             status=Status.value_invalid)
    if alert_after_trips is not None and (type(alert_after_trips) is not int
                                          or not 1 <= alert_after_trips <= ALERT_AFTER_TRIPS_MAX):
        raise InvalidRequest(f"alert_after_trips must be 1-{ALERT_AFTER_TRIPS_MAX}",
                             status=Status.value_invalid)
    now_us = j.ledger.now_us()
    s = spending_settings.c

    def tx(conn: Connection) -> None:
        conn.execute(insert_ignore(conn.dialect.name, spending_settings, ["community_id"]), {
            "community_id": community_id, "new_member_days": 0,
            "alert_after_trips": ALERT_AFTER_TRIPS_DEFAULT, "updated_at_us": now_us})
        changes: dict[str, Any] = {"updated_at_us": now_us}
        if new_member_days is not None:
            changes["new_member_days"] = new_member_days
        if alert_after_trips is not None:
            changes["alert_after_trips"] = alert_after_trips
        conn.execute(spending_settings.update().where(s.community_id == community_id)
                     .values(**changes))
        record_audit(conn, community_id, actor, "spending_settings.changed",
                     detail={k: v for k, v in changes.items() if k != "updated_at_us"})

    j.store.run_write(tx)
    return get_spending_limits(j, community_id)


def get_spending_limits(j: Jeton, community_id: str) -> SpendingLimits:
    v, s = velocity_limits.c, spending_settings.c
    with j.store.read() as conn:
        settings = conn.execute(sa.select(s.new_member_days, s.alert_after_trips).where(
            s.community_id == community_id)).first()
        rows = conn.execute(sa.select(velocity_limits).where(v.community_id == community_id)
                            .order_by(v.asset, v.scope)).all()
    return SpendingLimits(
        new_member_days=settings.new_member_days if settings else 0,
        alert_after_trips=settings.alert_after_trips if settings else ALERT_AFTER_TRIPS_DEFAULT,
        limits=[VelocityLimit(asset=r.asset, service=None if r.scope == ALL else r.scope,
                              per_hour=r.per_hour, per_day=r.per_day,
                              new_member_per_hour=r.new_member_per_hour,
                              new_member_per_day=r.new_member_per_day) for r in rows])
