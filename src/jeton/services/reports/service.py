"""Reports for the owner: what was issued, consumed, expired and is still owed.

Every report is a list of `ReportTable`s (results.py). The ledger's tables are built here; the
funding tables (packs sold, recharges, money taken) come from funding.py.

Days are UTC days (the instant in microseconds divided by a day), so the SQL is the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from jeton.core.clock import to_us
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.services.reports.funding import funding_sections
from jeton.services.reports.results import DAY_US, Report, ReportTable, day_of
from jeton.store.engine import Store
from jeton.store.tables.ledger import accounts, lots, posting_lots, postings, transfers

range_days_max = 366  # a report reads at most a year of journal at once


def report_range(since: date | None, until: date | None, today: date) -> tuple[date, date]:
    until = until or today + timedelta(days=1)
    since = since or until - timedelta(days=30)
    if since >= until:
        raise InvalidRequest("the report's start must be before its end",
                             status=Status.value_invalid)
    if (until - since).days > range_days_max:
        raise InvalidRequest(f"a report covers at most {range_days_max} days",
                             status=Status.value_invalid)
    return since, until


def build(store: Store, community_id: str, *, asset: str = "CREDIT", since: date | None = None,
          until: date | None = None, today: date | None = None,
          top_members_max: int = 10) -> Report:
    with store.snapshot() as conn:  # one snapshot: the tables agree with each other
        return build_in(conn, community_id, asset=asset, since=since, until=until,
                        today=today, top_members_max=top_members_max)


def build_in(conn: sa.Connection, community_id: str, *, asset: str = "CREDIT",
             since: date | None = None, until: date | None = None, today: date | None = None,
             top_members_max: int = 10) -> Report:
    """`build` on a connection the caller holds (one snapshot for several reports)."""
    since, until = report_range(since, until, today or datetime.now(UTC).date())
    lo = to_us(datetime.combine(since, datetime.min.time(), UTC))
    hi = to_us(datetime.combine(until, datetime.min.time(), UTC))
    tables = [
        _per_day(conn, community_id, asset, lo, hi),
        _issued_by_source(conn, community_id, asset, lo, hi),
        _consumed_by_service(conn, community_id, asset, lo, hi),
        _float(conn, community_id, asset),
        _top_members(conn, community_id, asset, lo, hi, top_members_max),
    ]
    tables.extend(funding_sections(conn, community_id, asset, lo, hi))
    return Report(community_id=community_id, asset=asset, since=since, until=until,
                  tables=tables)


def _wallet_flows(community_id: str, asset: str, lo: int, hi: int) -> Any:
    """Postings on members' wallets in the range, with their transfer's kind and service."""
    t, p, a = transfers.c, postings.c, accounts.c
    return (
        sa.select(t.kind, t.service, t.member_id, t.effective_at_us, p.amount)
        .join(postings, sa.and_(p.community_id == t.community_id,
                                p.transfer_id == t.transfer_id))
        .join(accounts, sa.and_(a.community_id == p.community_id,
                                a.account_id == p.account_id))
        .where(t.community_id == community_id, t.asset == asset, a.kind == "wallet",
               t.effective_at_us >= lo, t.effective_at_us < hi)
    )


def _per_day(conn: sa.Connection, community_id: str, asset: str, lo: int,
             hi: int) -> ReportTable:
    """Credits issued, consumed and expired per day (consumed net of refunds)."""
    flows = _wallet_flows(community_id, asset, lo, hi).subquery()
    # `//` and an integer literal keep this integer division on both databases (`/` is true
    # division in SQLAlchemy 2, and a bound parameter may arrive as NUMERIC on PostgreSQL).
    day_us = sa.literal_column(str(DAY_US), sa.BigInteger)
    day = (flows.c.effective_at_us // day_us).label("day")
    rows = conn.execute(
        sa.select(day, flows.c.kind, sa.func.sum(flows.c.amount))
        .group_by(day, flows.c.kind)).all()
    by_day: dict[int, dict[str, int]] = {}
    for d, kind, amount in rows:
        bucket = by_day.setdefault(int(d), {"issued": 0, "consumed": 0, "expired": 0})
        if kind == "grant":
            bucket["issued"] += int(amount)
        elif kind in ("spend", "capture", "reversal"):
            bucket["consumed"] -= int(amount)
        elif kind == "expiry":
            bucket["expired"] -= int(amount)
    first = lo // DAY_US
    days = range(first, hi // DAY_US)
    out = []
    for d in days:
        b = by_day.get(d, {"issued": 0, "consumed": 0, "expired": 0})
        out.append([day_of(d).isoformat(), b["issued"], b["consumed"], b["expired"]])
    return ReportTable(key="per_day", title="Credits per day",
                       columns=["day", "issued", "consumed", "expired"], rows=out, chart="line")


def _issued_by_source(conn: sa.Connection, community_id: str, asset: str, lo: int,
                      hi: int) -> ReportTable:
    """Credits that came into wallets, by where they came from and whether they were paid."""
    t, pl, lt = transfers.c, posting_lots.c, lots.c
    rows = conn.execute(
        sa.select(lt.source, lt.paid, sa.func.sum(pl.amount), sa.func.count(sa.distinct(
            t.transfer_id)))
        .select_from(transfers)
        .join(posting_lots, sa.and_(pl.community_id == t.community_id,
                                    pl.transfer_id == t.transfer_id))
        .join(lots, sa.and_(lt.community_id == pl.community_id, lt.lot_id == pl.lot_id))
        .where(t.community_id == community_id, t.asset == asset, pl.amount > 0,
               t.kind.in_(["grant", "transfer", "spend", "capture"]),
               lt.source != "transfer", lt.source != "overdraft",
               t.effective_at_us >= lo, t.effective_at_us < hi)
        .group_by(lt.source, lt.paid).order_by(sa.func.sum(pl.amount).desc())).all()
    return ReportTable(key="issued_by_source", title="Credits issued by source",
                       columns=["source", "paid", "credits", "transfers"],
                       rows=[[s, bool(paid), int(n), int(c)] for s, paid, n, c in rows],
                       chart="bar")


def _consumed_by_service(conn: sa.Connection, community_id: str, asset: str, lo: int,
                         hi: int) -> ReportTable:
    flows = _wallet_flows(community_id, asset, lo, hi).where(
        transfers.c.kind.in_(["spend", "capture", "reversal"])).subquery()
    service = sa.func.coalesce(flows.c.service, "(none)")
    rows = conn.execute(
        sa.select(service, -sa.func.sum(flows.c.amount),
                  sa.func.count().filter(flows.c.kind != "reversal"))
        .where(flows.c.amount != 0).group_by(service)
        .order_by((-sa.func.sum(flows.c.amount)).desc())).all()
    return ReportTable(key="consumed_by_service", title="Credits consumed by service",
                       columns=["service", "credits", "charges"],
                       rows=[[s, int(n), int(c)] for s, n, c in rows], chart="bar")


def _float(conn: sa.Connection, community_id: str, asset: str) -> ReportTable:
    """Paid credits members still hold: a liability, in credits and in the money paid."""
    lt, a = lots.c, accounts.c
    rows = conn.execute(
        sa.select(lt.cost_currency, sa.func.sum(lt.remaining), lt.remaining, lt.cost_minor,
                  lt.amount)
        .join(accounts, sa.and_(a.community_id == lt.community_id,
                                a.account_id == lt.account_id))
        .where(lt.community_id == community_id, a.asset == asset, lt.paid.is_(True),
               lt.remaining > 0)
        .group_by(lt.lot_id, lt.cost_currency, lt.remaining, lt.cost_minor, lt.amount)).all()
    by_currency: dict[str, list[int]] = {}
    for currency, _, remaining, cost, amount in rows:
        entry = by_currency.setdefault(currency or "", [0, 0])
        entry[0] += int(remaining)
        entry[1] += int(cost) * int(remaining) // int(amount) if amount else 0
    return ReportTable(
        key="float", title="Outstanding paid credits (the float)",
        columns=["currency", "credits", "money_minor"],
        rows=[[cur, n, money] for cur, (n, money) in sorted(by_currency.items())])


def _top_members(conn: sa.Connection, community_id: str, asset: str, lo: int, hi: int,
                 limit: int) -> ReportTable:
    flows = _wallet_flows(community_id, asset, lo, hi).where(
        transfers.c.kind.in_(["spend", "capture", "reversal"])).subquery()
    total = (-sa.func.sum(flows.c.amount)).label("total")
    rows = conn.execute(sa.select(flows.c.member_id, total).group_by(flows.c.member_id)
                        .order_by(total.desc()).limit(limit)).all()
    return ReportTable(key="top_members", title="Top members by credits consumed",
                       columns=["member", "credits"],
                       rows=[[m, int(n)] for m, n in rows if n])


