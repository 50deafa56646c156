"""Spending budgets of API keys: what a key may spend on members' behalf per period.

An owner hands a key to an AI agent or a partner app and caps what it can spend of members'
credits: `per_key` credits per hour, UTC day or UTC month for every member together, and/or
`per_member` for each member (docs/decisions/0062). A spend or capture made with the key (its
transfer's actor is `api_key:<id>`, as every HTTP call with the key records) that would pass
either figure is declined with `key_budget_exceeded`, the limit, what was used, and
`retry_after`, the end of the window. Nothing is written and the idempotency key stays free.

It is velocity limits' machinery (velocity.py, decision 0055) with the key as the scope: the
check runs in protection's ledger hook, inside the spend's own transaction, and the counters
are rows of `velocity_counters` under scope `key:<id>`. A member's row is serialized by the
member's wallet lock like any velocity counter; the key's overall row (member `*`) is shared by
every member's spends, so it is created if missing and then locked `FOR UPDATE` (after the
wallets: the lock order is always wallets, then the key's row). That makes budgets exact under
concurrency. Keys without a budget pay nothing: the hook's one pre-read already says whether the
community has any budget at all, and only then are the budgets of the acting key read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core.clock import from_us
from jeton.core.errors import InvalidRequest, KeyBudgetExceeded, NotFound
from jeton.core.statuses import Status
from jeton.services.access.audit import record_audit
from jeton.services.charging.results import KeyBudget
from jeton.services.charging.velocity import (
    CounterWrite,
    read_counters,
    save_counters,
    window,
)
from jeton.services.ledger.results import TransferResult
from jeton.services.ledger.state import wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update
from jeton.store.sql import insert_ignore
from jeton.store.tables.api import api_keys
from jeton.store.tables.protection import key_budgets, velocity_counters

if TYPE_CHECKING:
    from jeton.app import Jeton

ACTOR_PREFIX = "api_key:"
EVERYONE = "*"  # the member of a key's overall counter; no member id may be `*`
PERIODS = ("hour", "day", "month")
KEY_BUDGETS_MAX = limits.key_budgets_max


def scope_of(key_id: str) -> str:
    return f"key:{key_id}"


def key_of_actor(actor: str) -> str | None:
    """The API key an audit actor names (`api_key:<id>` or `api_key:<id>/<on behalf of>`)."""
    if not actor.startswith(ACTOR_PREFIX):
        return None
    return actor[len(ACTOR_PREFIX):].split("/", 1)[0] or None


# ---- the check, inside the write ----


def check_and_count(ws: WorkSet, results: list[TransferResult]) -> None:
    """Refuse the write if a spend in it takes its API key past a budget, else count it."""
    spent: dict[tuple[str, str, str], int] = {}  # (key, member, asset) -> credits out
    for r in results:
        key_id = key_of_actor(r.actor)
        if key_id is None or not r.member_id:
            continue
        out = -sum(p.amount for p in r.postings if p.account_id == wallet_id(r.member_id,
                                                                                r.asset))
        if out > 0:
            spent[(key_id, r.member_id, r.asset)] = spent.get(
                (key_id, r.member_id, r.asset), 0) + out
    if not spent:
        return
    keys = sorted({k for k, _, _ in spent})
    assets = sorted({a for _, _, a in spent})
    b = key_budgets.c
    rules = {(row.key_id, row.asset): row for row in ws.conn.execute(
        sa.select(key_budgets).where(b.community_id == ws.community_id, b.key_id.in_(keys),
                                     b.asset.in_(assets))).all()}
    if not rules:
        return
    spent = {k: v for k, v in spent.items() if (k[0], k[2]) in rules}
    if not spent:
        return
    scopes = sorted({scope_of(k) for k, _, _ in spent})
    overall = sorted({(k, a) for k, _, a in spent if rules[(k, a)].per_key is not None})
    if overall:
        # The key's own row is shared by every member: make it, then lock it (sorted order).
        ws.conn.execute(insert_ignore(ws.dialect, velocity_counters, [
            "community_id", "member_id", "asset", "scope", "period"]), [
            {"community_id": ws.community_id, "member_id": EVERYONE, "asset": a,
             "scope": scope_of(k), "period": rules[(k, a)].period,
             "window_start_us": window(ws.now_us, rules[(k, a)].period)[0], "spent": 0}
            for k, a in overall])
    members = sorted({m for _, m, _ in spent} | ({EVERYONE} if overall else set()))
    counters = read_counters(ws, members, assets, scopes=scopes, lock=bool(overall))
    writes: list[CounterWrite] = []
    totals: dict[tuple[str, str], int] = {}
    for (key_id, member, asset), amount in sorted(spent.items()):
        rule = rules[(key_id, asset)]
        if rule.per_member is not None:
            writes.append(_count(ws, counters, rule, key_id, member, asset, amount,
                                 rule.per_member))
        totals[(key_id, asset)] = totals.get((key_id, asset), 0) + amount
    for (key_id, asset), amount in sorted(totals.items()):
        rule = rules[(key_id, asset)]
        if rule.per_key is not None:
            writes.append(_count(ws, counters, rule, key_id, EVERYONE, asset, amount,
                                 rule.per_key))
    save_counters(ws, writes)


def _count(ws: WorkSet, counters: dict[tuple[str, str, str, str], Any], rule: Any,
           key_id: str, member: str, asset: str, amount: int, limit: int) -> CounterWrite:
    period = rule.period
    start_us, end_us = window(ws.now_us, period)
    scope = scope_of(key_id)
    row = counters.get((member, asset, scope, period))
    before = row.spent if row is not None and row.window_start_us == start_us else 0
    if before + amount > limit:
        whom = "for all members" if member == EVERYONE else f"for {member!r}"
        raise KeyBudgetExceeded(
            f"API key {key_id} may spend {limit} {asset} per {period} {whom} and has spent "
            f"{before}; {amount} more is refused until {from_us(end_us):%Y-%m-%d %H:%M} UTC",
            key_id=key_id, member=None if member == EVERYONE else member, asset=asset,
            period=period, limit=limit, used=before, required=amount,
            budget="per_key" if member == EVERYONE else "per_member",
            retry_after=from_us(end_us))
    return CounterWrite(member, asset, scope, period, start_us, before + amount,
                        row is not None)


# ---- what the owner sets ----


def set_key_budget(j: Jeton, community_id: str, key_id: str, *, period: str = "day",
                   per_key: int | None = None, per_member: int | None = None,
                   asset: str = "CREDIT", actor: str | None = None) -> KeyBudget:
    """Set the budget of an API key for `asset`; both figures None removes it. A new budget
    counts from now on: what the key spent earlier in the window does not count."""
    if period not in PERIODS:
        raise InvalidRequest(f"period must be one of {', '.join(PERIODS)}",
                             status=Status.value_invalid)
    for what, value in (("per_key", per_key), ("per_member", per_member)):
        if value is not None and amounts.whole_amount(value, what) < 0:
            raise InvalidRequest(f"{what} must not be negative", status=Status.amount_invalid)
    asset = amounts.asset_code(asset)
    now_us = j.ledger.now_us()
    b, c = key_budgets.c, velocity_counters.c

    def tx(conn: Connection) -> None:
        found = conn.execute(for_update(sa.select(api_keys.c.key_id).where(
            api_keys.c.community_id == community_id, api_keys.c.key_id == key_id),
            conn.dialect.name)).first()
        if found is None:
            raise NotFound(f"no API key {key_id!r}", status=Status.not_found)
        pk = (b.community_id == community_id, b.key_id == key_id, b.asset == asset)
        conn.execute(key_budgets.delete().where(*pk))
        # A changed budget starts from nothing: its period may differ from the old one's.
        conn.execute(velocity_counters.delete().where(
            c.community_id == community_id, c.scope == scope_of(key_id), c.asset == asset))
        if per_key is not None or per_member is not None:
            count = conn.execute(sa.select(sa.func.count()).select_from(key_budgets).where(
                b.community_id == community_id)).scalar_one()
            if count >= KEY_BUDGETS_MAX:
                raise InvalidRequest(f"at most {KEY_BUDGETS_MAX} key budgets",
                                     status=Status.value_invalid)
            conn.execute(key_budgets.insert().values(
                community_id=community_id, key_id=key_id, asset=asset, period=period,
                per_key=per_key, per_member=per_member, updated_at_us=now_us))
        record_audit(conn, community_id, actor, "key_budget.changed", target=key_id,
                     detail={"asset": asset, "period": period, "per_key": per_key,
                             "per_member": per_member})

    j.store.run_write(tx)
    return get_key_budget(j, community_id, key_id, asset=asset)


def get_key_budget(j: Jeton, community_id: str, key_id: str, *, asset: str = "CREDIT",
                   member_id: str | None = None) -> KeyBudget:
    """The key's budget for `asset` and what it used in the current window (and, with
    `member_id`, what it used for that member). A key without a budget answers `per_key` and
    `per_member` None (and the day's window, in which nothing is counted)."""
    asset = amounts.asset_code(asset)
    with j.store.read() as conn:
        found = conn.execute(sa.select(api_keys.c.key_id).where(
            api_keys.c.community_id == community_id, api_keys.c.key_id == key_id)).first()
    if found is None:
        raise NotFound(f"no API key {key_id!r}", status=Status.not_found)
    budget = key_budgets_of(j, community_id, [key_id], asset=asset,
                            member_id=member_id).get(key_id)
    if budget is not None:
        return budget
    start_us, end_us = window(j.ledger.now_us(), "day")
    return KeyBudget(key_id=key_id, asset=asset, period="day", window_start=from_us(start_us),
                     window_end=from_us(end_us), member_id=member_id,
                     member_used=0 if member_id else None)


def key_budgets_of(j: Jeton, community_id: str, key_ids: list[str], *, asset: str = "CREDIT",
                   member_id: str | None = None) -> dict[str, KeyBudget]:
    """The budgets of these keys with their use now, by key id (keys without one left out)."""
    b, c = key_budgets.c, velocity_counters.c
    now_us = j.ledger.now_us()
    with j.store.read() as conn:
        rules = conn.execute(sa.select(key_budgets).where(
            b.community_id == community_id, b.key_id.in_(key_ids), b.asset == asset)).all()
        if not rules:
            return {}
        scopes = [scope_of(r.key_id) for r in rules]
        who = [EVERYONE] + ([member_id] if member_id else [])
        rows = conn.execute(sa.select(c.member_id, c.scope, c.window_start_us, c.spent).where(
            c.community_id == community_id, c.member_id.in_(who), c.asset == asset,
            c.scope.in_(scopes))).all()
        # Keys with only a per-member figure keep no overall row: their use is the sum.
        sums = conn.execute(sa.select(c.scope, c.window_start_us, sa.func.sum(c.spent)).where(
            c.community_id == community_id, c.asset == asset, c.scope.in_(scopes),
            c.member_id != EVERYONE).group_by(c.scope, c.window_start_us)).all()
    used = {(r.scope, r.member_id, r.window_start_us): int(r.spent) for r in rows}
    summed = {(scope, at): int(total) for scope, at, total in sums}
    out = {}
    for rule in rules:
        start_us, end_us = window(now_us, rule.period)
        scope = scope_of(rule.key_id)
        overall = (used.get((scope, EVERYONE, start_us), 0) if rule.per_key is not None
                   else summed.get((scope, start_us), 0))
        out[rule.key_id] = KeyBudget(
            key_id=rule.key_id, asset=asset, period=rule.period, per_key=rule.per_key,
            per_member=rule.per_member, used=overall,
            window_start=from_us(start_us), window_end=from_us(end_us),
            member_id=member_id,
            member_used=used.get((scope, member_id, start_us), 0) if member_id else None)
    return out
