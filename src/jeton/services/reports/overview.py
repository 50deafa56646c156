"""The owner's overview: the business at a glance, as the dashboard's home shows it.

Every money and credit figure is read from the report itself (`service.build_in` over the
last `overview_days_default` days, and over today, in one snapshot), so the home,
`GET /v1/reports/overview` and `GET /v1/reports` cannot disagree. What the report has no
table for (members active, subscriptions, declines, failed recharges) is counted here over
the same days, in the same snapshot.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from jeton.core.clock import to_us
from jeton.core.cycles import Cycle
from jeton.services.reports import service
from jeton.services.reports.funding import major
from jeton.services.reports.results import Report
from jeton.store.engine import Store
from jeton.store.tables.funding import plans, purchases, subscriptions
from jeton.store.tables.ledger import accounts, events, postings, transfers

overview_days_default = 30  # "the last 30 days", as billing dashboards count them
# A cycle's price as a monthly value: (months, weeks) per cycle; weekly is 52 weeks / 12.
_MONTHLY = {Cycle.weekly: (12, 52), Cycle.monthly: (1, 1), Cycle.quarterly: (3, 1),
            Cycle.semiannual: (6, 1), Cycle.yearly: (12, 1)}


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    currency: str
    amount: str  # major units, exact: "60.00"


class Overview(BaseModel):
    model_config = ConfigDict(frozen=True)

    community_id: str
    asset: str
    today: date
    days: int  # the figures "over the last days" count this many days, today included
    money_today: list[Money]  # taken today, net of refunds, per currency
    money_days: list[Money]  # the same over `days`
    credits_sold: int  # paid credits issued over `days`
    credits_consumed: int
    credits_expired: int
    float_credits: int  # paid credits members still hold (now)
    float_money: list[Money]  # what members paid for them
    members_active: int  # members whose wallet moved over `days`
    subscriptions_active: int  # now
    subscriptions_monthly_value: list[Money]
    declines: int  # charges refused over `days`
    recharges_failed: int  # auto-recharges that failed over `days`


def _net(report: Report) -> list[Money]:
    table = report.table("money_total")
    net = table.columns.index("net")
    return [Money(currency=str(row[0]), amount=str(row[net])) for row in table.rows]


def build(store: Store, community_id: str, *, asset: str = "CREDIT", today: date,
          days: int = overview_days_default) -> Overview:
    since = today - timedelta(days=days - 1)
    until = today + timedelta(days=1)
    lo = to_us(datetime.combine(since, datetime.min.time(), UTC))
    hi = to_us(datetime.combine(until, datetime.min.time(), UTC))
    with store.snapshot() as conn:  # one snapshot: today is within the days, as it should be
        span = service.build_in(conn, community_id, asset=asset, since=since, until=until,
                                today=today)
        day = service.build_in(conn, community_id, asset=asset, since=today, until=until,
                               today=today)
        members_active = _members_active(conn, community_id, asset, lo, hi)
        subs, monthly = _subscriptions(conn, community_id, asset)
        declines = conn.execute(
            sa.select(sa.func.count()).where(
                events.c.community_id == community_id, events.c.type == "charge.declined",
                events.c.created_at_us >= lo, events.c.created_at_us < hi)).scalar_one()
        failed = conn.execute(
            sa.select(sa.func.count()).where(
                purchases.c.community_id == community_id, purchases.c.asset == asset,
                purchases.c.kind == "recharge", purchases.c.status == "failed",
                purchases.c.created_at_us >= lo, purchases.c.created_at_us < hi)).scalar_one()
    per_day = span.table("per_day")
    consumed = sum(int(r[2]) for r in per_day.rows)
    expired = sum(int(r[3]) for r in per_day.rows)
    sold = sum(int(r[2]) for r in span.table("issued_by_source").rows if r[1])
    float_rows = span.table("float").rows
    return Overview(
        community_id=community_id, asset=asset, today=today, days=days,
        money_today=_net(day), money_days=_net(span), credits_sold=sold,
        credits_consumed=consumed, credits_expired=expired,
        float_credits=sum(int(r[1]) for r in float_rows),
        float_money=[Money(currency=str(r[0]), amount=major(int(r[2]), str(r[0])))
                     for r in float_rows if r[0]],
        members_active=members_active, subscriptions_active=subs,
        subscriptions_monthly_value=monthly, declines=int(declines),
        recharges_failed=int(failed))


def _members_active(conn: sa.Connection, community_id: str, asset: str, lo: int,
                    hi: int) -> int:
    t, p, a = transfers.c, postings.c, accounts.c
    return int(conn.execute(
        sa.select(sa.func.count(sa.distinct(a.member_id)))
        .select_from(transfers)
        .join(postings, sa.and_(p.community_id == t.community_id,
                                p.transfer_id == t.transfer_id))
        .join(accounts, sa.and_(a.community_id == p.community_id,
                                a.account_id == p.account_id))
        .where(t.community_id == community_id, t.asset == asset, a.kind == "wallet",
               a.member_id.is_not(None), t.effective_at_us >= lo,
               t.effective_at_us < hi)).scalar_one())


def _subscriptions(conn: sa.Connection, community_id: str,
                   asset: str) -> tuple[int, list[Money]]:
    """Active subscriptions, and what they bring in a month (a weekly plan 52/12 times)."""
    s, pl = subscriptions.c, plans.c
    rows = conn.execute(
        sa.select(pl.cycle, pl.currency, pl.price_minor, sa.func.count())
        .select_from(subscriptions)
        .join(plans, sa.and_(pl.community_id == s.community_id, pl.plan_id == s.plan_id))
        .where(s.community_id == community_id, pl.asset == asset, s.status == "active")
        .group_by(pl.cycle, pl.currency, pl.price_minor)).all()
    count = 0
    value: dict[str, int] = {}
    for cycle, currency, price, n in rows:
        months, weeks = _MONTHLY[Cycle(cycle)]
        count += int(n)
        # Rounded down to the minor unit, after summing a plan's members.
        value[currency] = value.get(currency, 0) + int(price) * int(n) * weeks // months
    return count, [Money(currency=cur, amount=major(v, cur))
                   for cur, v in sorted(value.items())]
