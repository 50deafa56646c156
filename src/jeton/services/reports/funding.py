"""The funding side of the owner's report: money taken, packs sold, recharges.

Built into every report by service.py; each table reads completed purchases (their money
and credits frozen when they were made), bucketed by the UTC day they completed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from jeton.core import currencies
from jeton.core.amounts import format_amount
from jeton.core.errors import InvalidRequest
from jeton.services.reports.results import DAY_US, ReportTable, day_of
from jeton.store.tables.funding import packs, purchases

_DAY = sa.literal_column(str(DAY_US), sa.BigInteger)


def _completed(community_id: str, asset: str, lo: int, hi: int) -> list[sa.ColumnElement[bool]]:
    p = purchases.c
    return [p.community_id == community_id, p.asset == asset, p.status == "completed",
            p.completed_at_us >= lo, p.completed_at_us < hi]


def funding_sections(conn: sa.Connection, community_id: str, asset: str, lo: int,
                     hi: int) -> list[ReportTable]:
    p, k = purchases.c, packs.c
    where = _completed(community_id, asset, lo, hi)
    # `//` is integer division on both databases; `/` is true division in SQLAlchemy 2, which
    # gave every purchase its own fractional "day" and so one row per purchase.
    day = (p.completed_at_us // _DAY).label("day")
    money_rows = conn.execute(
        sa.select(day, p.currency, sa.func.sum(p.amount_minor), sa.func.sum(p.refunded_minor),
                  sa.func.count())
        .where(*where).group_by(day, p.currency).order_by(day, p.currency)).all()
    money, total = _money_tables(
        {(int(d), str(cur)): (int(taken), int(back), int(n))
         for d, cur, taken, back, n in money_rows}, lo // DAY_US, hi // DAY_US)
    pack_name = sa.func.coalesce(k.name, p.description)
    pack_rows = conn.execute(
        sa.select(pack_name, p.kind, sa.func.count(), sa.func.sum(p.credits + p.bonus_credits),
                  p.currency, sa.func.sum(p.amount_minor))
        .select_from(purchases)
        .outerjoin(packs, sa.and_(k.community_id == p.community_id, k.pack_id == p.pack_id))
        .where(*where, p.kind.in_(["pack", "recharge"]))
        .group_by(pack_name, p.kind, p.currency)
        .order_by(sa.func.count().desc())).all()
    packs_sold = ReportTable(
        key="packs_sold", title="Packs sold by type",
        columns=["pack", "bought_as", "count", "credits", "currency", "money_minor"],
        rows=[[name, kind, int(n), int(credits), cur, int(m)]
              for name, kind, n, credits, cur, m in pack_rows], chart="bar")
    recharge_rows = conn.execute(
        sa.select(p.status, sa.func.count(), sa.func.coalesce(sa.func.sum(p.amount_minor), 0),
                  p.currency)
        .where(p.community_id == community_id, p.asset == asset, p.kind == "recharge",
               p.created_at_us >= lo, p.created_at_us < hi)
        .group_by(p.status, p.currency).order_by(p.status)).all()
    recharges = ReportTable(
        key="recharges", title="Auto-recharges",
        columns=["status", "count", "money_minor", "currency"],
        rows=[[status, int(n), int(m), cur] for status, n, m, cur in recharge_rows])
    return [money, total, packs_sold, recharges]


def major(amount_minor: int, currency: str) -> str:
    """Money in the currency's major unit as an exact decimal string: 6000 USD is '60.00'."""
    try:
        return format_amount(amount_minor, currencies.exponent(currency))
    except InvalidRequest:  # a purchase recorded in something that is not a currency code
        return str(amount_minor)


def _money_tables(by_day: dict[tuple[int, str], tuple[int, int, int]], first: int,
                  end: int) -> tuple[ReportTable, ReportTable]:
    """Money per day (every day of the range, for each currency taken in it) and its total.

    Every day is listed, with zeros, so the CSV is a complete series a spreadsheet can chart;
    the dashboard folds the empty days. Amounts are in major units, as the owner reads them.
    """
    currency_list = sorted({cur for _, cur in by_day})
    rows: list[list[Any]] = []
    totals = {cur: [0, 0, 0] for cur in currency_list}
    for d in range(first, end):
        for cur in currency_list:
            taken, back, n = by_day.get((d, cur), (0, 0, 0))
            rows.append([day_of(d).isoformat(), cur, major(taken, cur), major(back, cur),
                         major(taken - back, cur), n])
            for i, v in enumerate((taken, back, n)):
                totals[cur][i] += v
    money = ReportTable(
        key="money_per_day", title="Money taken per day",
        columns=["day", "currency", "taken", "refunded", "net", "purchases"],
        rows=rows, chart="bar")
    total = ReportTable(
        key="money_total", title="Money taken over the range",
        columns=["currency", "taken", "refunded", "net", "purchases"],
        rows=[[cur, major(t, cur), major(b, cur), major(t - b, cur), n]
              for cur, (t, b, n) in totals.items()])
    return money, total

