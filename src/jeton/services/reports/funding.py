"""The funding side of the owner's report: money taken, packs sold, recharges.

Built into every report by service.py; each table reads completed purchases (their money
and credits frozen when they were made), bucketed by the UTC day they completed.
"""

from __future__ import annotations

import sqlalchemy as sa

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
    day = (p.completed_at_us / _DAY).label("day")
    money_rows = conn.execute(
        sa.select(day, p.currency, sa.func.sum(p.amount_minor), sa.func.sum(p.refunded_minor),
                  sa.func.count())
        .where(*where).group_by(day, p.currency).order_by(day, p.currency)).all()
    money = ReportTable(
        key="money_per_day", title="Money taken per day",
        columns=["day", "currency", "taken_minor", "refunded_minor", "purchases"],
        rows=[[day_of(int(d)).isoformat(), cur, int(taken), int(back), int(n)]
              for d, cur, taken, back, n in money_rows], chart="line")
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
    return [money, packs_sold, recharges]

