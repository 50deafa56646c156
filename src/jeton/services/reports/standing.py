"""Lists across members of what is still running: subscriptions and holds in flight, for the
owner, searchable and paged newest first like the lists of `activity.py`.

A subscription row says whose it is, on which plan, its status and the cycle it is in; a hold
row what is still set aside (authorized - captured - voided) and until when. Ids are
time-ordered, so `starting_after` is the last id of the previous page.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from jeton.core.clock import from_us
from jeton.services.ledger.base import page_limit
from jeton.services.ledger.results import Page
from jeton.store.engine import Store
from jeton.store.tables.funding import plans, subscription_cycles, subscriptions
from jeton.store.tables.ledger import holds, members


class SubscriptionRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    member_id: str
    member_name: str  # the member's name, else their id
    plan_id: str
    plan_name: str
    cycle: str  # monthly, yearly, ...
    price_minor: int
    currency: str
    provider: str
    status: str  # incomplete, scheduled, active, past_due, canceled
    current_period_end: datetime | None  # end of the latest paid cycle
    cancel_at_period_end: bool
    created_at: datetime
    ended_at: datetime | None


class HoldRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    member_id: str
    member_name: str
    asset: str
    service: str | None
    amount: int  # authorized
    captured: int
    voided: int
    held: int  # still set aside: amount - captured - voided
    created_at: datetime
    expires_at: datetime


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(like: str, *columns: sa.ColumnElement[str | None]) -> sa.ColumnElement[bool]:
    return sa.or_(*(sa.func.lower(sa.func.coalesce(c, "")).like(like, escape="\\")
                    for c in columns))


def search_subscriptions(store: Store, community_id: str, *, search: str | None = None,
                         status: str | None = None, plan_id: str | None = None,
                         limit: int = 25,
                         starting_after: str | None = None) -> Page[SubscriptionRow]:
    """Every member's subscriptions, newest first; `search` matches the member (id or name),
    the plan (id or name) or the subscription's id."""
    limit = page_limit(limit)
    s, p, m, c = subscriptions.c, plans.c, members.c, subscription_cycles.c
    # The end of the latest paid cycle in the same statement as the status, so one snapshot: a
    # renewal or a first payment (a cycle granted and the status set together) committing
    # between two reads showed the new period beside the old status.
    period_end = (sa.select(sa.func.max(c.end_at_us))
                  .where(c.community_id == s.community_id,
                         c.subscription_id == s.subscription_id, c.status == "granted")
                  .scalar_subquery())
    stmt = (sa.select(s.subscription_id, s.member_id, s.plan_id, s.provider, s.status,
                      s.cancel_at_us, s.created_at_us, s.ended_at_us, m.name.label("member_name"),
                      p.name.label("plan_name"), p.cycle, p.price_minor, p.currency,
                      period_end.label("period_end_us"))
            .select_from(subscriptions
                         .join(plans, sa.and_(p.community_id == s.community_id,
                                              p.plan_id == s.plan_id))
                         .join(members, sa.and_(m.community_id == s.community_id,
                                                m.member_id == s.member_id)))
            .where(s.community_id == community_id))
    if search:
        stmt = stmt.where(_matches(_like(search), s.member_id, m.name, s.plan_id, p.name,
                                   s.subscription_id))
    if status:
        stmt = stmt.where(s.status == status)
    if plan_id:
        stmt = stmt.where(s.plan_id == plan_id)
    if starting_after:
        stmt = stmt.where(s.subscription_id < starting_after)
    with store.read() as conn:
        rows = conn.execute(stmt.order_by(s.subscription_id.desc())
                            .limit(limit + 1)).mappings().all()
    data = [SubscriptionRow(
        id=r["subscription_id"], member_id=r["member_id"],
        member_name=r["member_name"] or r["member_id"], plan_id=r["plan_id"],
        plan_name=r["plan_name"], cycle=r["cycle"], price_minor=r["price_minor"],
        currency=r["currency"], provider=r["provider"], status=r["status"],
        current_period_end=from_us(r["period_end_us"]) if r["period_end_us"] else None,
        cancel_at_period_end=r["cancel_at_us"] is not None,
        created_at=from_us(r["created_at_us"]),
        ended_at=from_us(r["ended_at_us"]) if r["ended_at_us"] else None) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)


def search_holds(store: Store, community_id: str, *, search: str | None = None,
                 limit: int = 25, starting_after: str | None = None) -> Page[HoldRow]:
    """Holds in flight (authorized, not yet captured, voided or expired by the job), newest
    first; `search` matches the member (id or name), the service or the hold's id."""
    limit = page_limit(limit)
    h, m = holds.c, members.c
    stmt = (sa.select(holds, m.name.label("member_name"))
            .select_from(holds.join(members, sa.and_(m.community_id == h.community_id,
                                                     m.member_id == h.member_id)))
            .where(h.community_id == community_id, h.status == "active"))
    if search:
        stmt = stmt.where(_matches(_like(search), h.member_id, m.name, h.service, h.hold_id))
    if starting_after:
        stmt = stmt.where(h.hold_id < starting_after)
    with store.read() as conn:
        rows = conn.execute(stmt.order_by(h.hold_id.desc()).limit(limit + 1)).mappings().all()
    data = [HoldRow(
        id=r["hold_id"], member_id=r["member_id"], member_name=r["member_name"] or r["member_id"],
        asset=r["asset"], service=r["service"], amount=r["amount"], captured=r["captured"],
        voided=r["voided"], held=r["amount"] - r["captured"] - r["voided"],
        created_at=from_us(r["created_at_us"]), expires_at=from_us(r["expires_at_us"]))
        for r in rows[:limit]]
    more = len(rows) > limit
    return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)
