"""Plans with recurring cycles that grant expiring credits, and subscriptions to them.

A plan grants `credits` at the start of each cycle (weekly, monthly, quarterly, semi-annual,
yearly; calendar math in core/cycles.py), expiring at the cycle's end, and optionally a class
held until the cycle's end. Unused credits go to breakage when they expire (the ledger's expiry
job). A cycle's credits are granted only once its start has come and it is paid, so next
cycle's credits can never be spent early, and a plan bought to start in the future grants
nothing until then.

Each subscription cycle is a row (`subscription_cycles`, unique per cycle): unpaid → paid →
granted, or skipped when its time passed unpaid. The `plans.renew` job opens the current cycle
when it starts and charges the member's saved payment method off-session (never inside a
database transaction); a failed charge is reported (`subscription.renewal_failed`, status
`past_due`) and retried after `limits.renewal_retry_delays_s`, then the subscription is
canceled. A missed cycle (the job did not run for a whole cycle) is skipped, not charged: its
credits would have expired already.

The first cycle is paid with the saved payment method when the member has one, else on the
provider's hosted checkout, which saves the method for the renewals. `cancel_subscription`
stops at the end of the current period by default; credits already granted stay until they
expire.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import amounts, currencies, cycles, limits
from jeton.core.clock import ensure_utc, from_us, to_us
from jeton.core.errors import (
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
)
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.funding import base as fb
from jeton.services.funding import purchases as pur
from jeton.services.funding.renewals import (
    US_PER_S,
    cycle_bounds,
    cycle_row,
    end_subscription,
    lock_subscription,
    plan_row,
    process_subscription,
    the_plan,
    update_subscription,
)
from jeton.services.funding.results import Checkout, PlanInfo, RolloverInfo, SubscriptionInfo
from jeton.services.funding.shelf import Shelf
from jeton.services.ledger.idempotency import claim, conflict_detail, request_hash
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import is_unique_violation
from jeton.store.tables.funding import (
    plans,
    subscription_cycles,
    subscriptions,
)

if TYPE_CHECKING:
    from jeton.app import Jeton


# ---- plans ----

def create_plan(j: Jeton, community_id: str, *, name: str, cycle: str, credits: int,
                price_minor: int, currency: str = "USD", plan_id: str | None = None,
                asset: str = "CREDIT", member_class: str | None = None,
                discount_bp: int = 0) -> PlanInfo:
    pid = amounts.external_id(plan_id, "plan id") if plan_id is not None else new_id()
    price = amounts.whole_amount(price_minor, "price_minor")
    n_credits = amounts.whole_amount(credits, "credits")
    if type(discount_bp) is not int or not 0 <= discount_bp <= 10_000:
        raise InvalidRequest("discount_bp must be 0-10000", status=Status.value_invalid)
    if price < 0 or n_credits < 0 or (n_credits == 0 and member_class is None
                                      and discount_bp == 0):
        raise InvalidRequest("a plan grants credits, a class or a discount, and its price is "
                             "not negative", status=Status.amount_invalid)
    info = PlanInfo(id=pid, name=fb.text(name, "name", 200),
                    cycle=cycles.parse_cycle(cycle).value, asset=amounts.asset_code(asset),
                    credits=n_credits, price_minor=price,
                    currency=currencies.currency_code(currency),
                    member_class=(amounts.external_id(member_class, "class")
                                  if member_class is not None else None),
                    discount_bp=discount_bp, created_at=j.clock.now())
    row = {"name": info.name, "cycle": info.cycle, "asset": info.asset, "credits": info.credits,
           "price_minor": info.price_minor, "currency": info.currency,
           "discount_bp": info.discount_bp, "class": info.member_class}
    return with_terms(j, community_id, [_SHELF.create_once(
        j, community_id, pid, info, asset=info.asset, currency=info.currency, values=row)])[0]


def list_plans(j: Jeton, community_id: str, *, include_inactive: bool = False) -> list[PlanInfo]:
    stmt = sa.select(plans).where(plans.c.community_id == community_id)
    if not include_inactive:
        stmt = stmt.where(plans.c.active.is_(True))
    with j.store.read() as conn:
        rows = conn.execute(stmt.order_by(plans.c.price_minor, plans.c.plan_id)).mappings().all()
    return with_terms(j, community_id, [plan_info(r) for r in rows])


def set_plan_active(j: Jeton, community_id: str, plan_id: str, active: bool) -> PlanInfo:
    """Stop offering a plan (or offer it again). Subscriptions to it run on unchanged."""
    return with_terms(j, community_id, [_SHELF.set_active(j, community_id, plan_id, active)])[0]


def get_plan(j: Jeton, community_id: str, plan_id: str) -> PlanInfo:
    return with_terms(j, community_id, [_SHELF.get(j, community_id, plan_id)])[0]


def with_terms(j: Jeton, community_id: str, infos: list[PlanInfo]) -> list[PlanInfo]:
    """The plans with the active catalog's terms for them (rollover, core/rollover.py)."""
    if not infos:
        return infos
    _, catalog = j.charging.catalogs.current(community_id)
    out = []
    for info in infos:
        terms = catalog.plans.get(info.id)
        rule = terms.rollover if terms is not None else None
        out.append(info if rule is None else info.model_copy(update={"rollover": RolloverInfo(
            share_percent=rule.share_percent, cap=rule.cap, cycles=rule.cycles)}))
    return out


# ---- subscribing ----

def subscribe(j: Jeton, community_id: str, member_id: str, plan_id: str, *,
              idempotency_key: str, start_at: datetime | None = None,
              provider: str | None = None, success_url: str | None = None,
              cancel_url: str | None = None) -> SubscriptionInfo:
    """Subscribe a member to a plan, starting now or at `start_at`.

    Paid with the member's saved payment method when there is one (charged when each cycle
    starts); else the first cycle is paid on a hosted checkout (`SubscriptionInfo.checkout`),
    which saves the method for renewals and needs `success_url` and `cancel_url`.
    """
    key = amounts.idempotency_key(idempotency_key)
    prov = j.payments.get(provider)
    now_us = j.ledger.now_us()
    start_us = max(to_us(ensure_utc(start_at)), now_us) if start_at is not None else now_us
    if start_at is not None and start_us - now_us > limits.lot_expiry_days_max * 86_400 * US_PER_S:
        raise InvalidRequest("start_at is too far in the future", status=Status.expiry_invalid)

    def tx(conn: Connection) -> tuple[str, bool, bool]:
        """(subscription id, replayed, needs a checkout)"""
        fb.require_community(conn, community_id)
        found = conn.execute(sa.select(subscriptions.c.subscription_id, subscriptions.c.plan_id,
                                       subscriptions.c.member_id, subscriptions.c.status).where(
            subscriptions.c.community_id == community_id,
            subscriptions.c.request_key == key)).first()
        if found is not None:
            if (found[1], found[2]) != (plan_id, member_id):
                raise IdempotencyConflict(conflict_detail(key, "subscription", "subscription"),
                                          key=key)
            return found[0], True, found[3] == "incomplete" and _needs_checkout(
                conn, community_id, found[0])
        claim(conn, community_id, key, "subscription", request_hash(
            "subscription", {"plan": plan_id, "member": member_id}), now_us)
        fb.require_member(conn, community_id, member_id)
        plan = plan_row(conn, community_id, plan_id)
        if plan is None or not plan["active"]:
            raise NotFound(f"no plan {plan_id!r} on sale", status=Status.not_found)
        profile = pur.payment_profile(conn, community_id, member_id, prov.name)
        has_method = profile is not None and profile.payment_method_id is not None
        checkout = plan["price_minor"] > 0 and not has_method
        if checkout and (success_url is None or cancel_url is None):
            raise InvalidRequest("the member has no saved payment method: pass success_url and "
                                 "cancel_url to pay the first cycle on a checkout page",
                                 status=Status.value_invalid)
        sub_id = new_id()
        status = "incomplete" if checkout else ("scheduled" if start_us > now_us else "active")
        conn.execute(subscriptions.insert().values(
            community_id=community_id, subscription_id=sub_id, member_id=member_id,
            plan_id=plan_id, provider=prov.name, status=status, anchor_at_us=start_us,
            failed_attempts=0, next_action_at_us=start_us, request_key=key,
            created_at_us=now_us))
        if checkout:
            start, end = cycle_bounds(plan, start_us, 0)
            conn.execute(subscription_cycles.insert().values(
                community_id=community_id, subscription_id=sub_id, cycle_no=0,
                start_at_us=start, end_at_us=end, status="unpaid", attempts=0,
                next_attempt_at_us=None, created_at_us=now_us))
        return sub_id, False, checkout

    for attempt in range(2):
        try:
            sub_id, replayed, needs_checkout = j.store.run_write(tx)
            break
        except sa.exc.IntegrityError as exc:
            if attempt == 0 and is_unique_violation(exc):
                continue
            raise
    checkout = None
    if needs_checkout:
        checkout = _first_checkout(j, community_id, sub_id, key, success_url, cancel_url)
    elif start_us <= now_us and not replayed:
        process_subscription(j, community_id, sub_id)
    info = get_subscription(j, community_id, sub_id)
    return info.model_copy(update={"checkout": checkout, "replayed": replayed})


def _needs_checkout(conn: Connection, community_id: str, sub_id: str) -> bool:
    row = conn.execute(sa.select(subscription_cycles.c.status).where(
        subscription_cycles.c.community_id == community_id,
        subscription_cycles.c.subscription_id == sub_id,
        subscription_cycles.c.cycle_no == 0)).scalar_one_or_none()
    return row == "unpaid"


def _first_checkout(j: Jeton, community_id: str, sub_id: str, key: str,
                    success_url: str | None, cancel_url: str | None) -> Checkout:
    sub = get_subscription(j, community_id, sub_id)
    plan = get_plan(j, community_id, sub.plan_id)
    request = {"subscription": sub_id}

    def make(conn: Connection, now_us: int) -> dict[str, Any]:
        return {"kind": "plan", "description": plan.name, "asset": plan.asset,
                "credits": plan.credits, "amount_minor": plan.price_minor,
                "currency": plan.currency, "subscription_id": sub_id, "cycle_no": 0}

    row, replayed = pur.open_purchase(j, community_id, sub.member_id, f"{key}:first-cycle",
                                      request, sub.provider, make)
    if not replayed:
        def link(conn: Connection) -> None:
            conn.execute(subscription_cycles.update().where(
                subscription_cycles.c.community_id == community_id,
                subscription_cycles.c.subscription_id == sub_id,
                subscription_cycles.c.cycle_no == 0).values(purchase_id=row["purchase_id"]))

        j.store.run_write(link)
    saves = sub.provider != "offline"  # the offline provider cannot keep a payment method
    return pur.start_checkout(j, community_id, row, success_url=success_url or "",
                              cancel_url=cancel_url or "", save_payment_method=saves,
                              replayed=replayed)


def cancel_subscription(j: Jeton, community_id: str, subscription_id: str, *,
                        at_period_end: bool = True, actor: str = "system") -> SubscriptionInfo:
    """Stop renewing. At period end (the default) the current cycle runs out; otherwise the
    subscription ends now. Credits and classes already granted stay until they expire."""
    now_us = j.ledger.now_us()

    def tx(ws: WorkSet) -> None:
        sub = lock_subscription(ws.conn, community_id, subscription_id)
        if sub["status"] == "canceled":
            return
        plan = the_plan(ws.conn, community_id, sub["plan_id"])
        n = cycles.cycle_index(from_us(sub["anchor_at_us"]), cycles.Cycle(plan["cycle"]),
                               from_us(now_us))
        current = cycle_row(ws.conn, community_id, subscription_id, n) if n >= 0 else None
        runs = current is not None and current["status"] == "granted"
        if at_period_end and runs and current is not None:
            update_subscription(ws, subscription_id, cancel_at_us=current["end_at_us"],
                        next_action_at_us=current["end_at_us"])
            ws.emit("subscription.cancel_scheduled", sub["member_id"], {
                "subscription_id": subscription_id, "member_id": sub["member_id"],
                "ends_at": from_us(current["end_at_us"]), "actor": actor})
        else:
            end_subscription(ws, sub, "canceled", actor=actor)

    fb.write_plain(j.ledger, community_id, tx, now_us=now_us)
    return get_subscription(j, community_id, subscription_id)


def get_subscription(j: Jeton, community_id: str, subscription_id: str) -> SubscriptionInfo:
    with j.store.read() as conn:
        row = conn.execute(sa.select(subscriptions).where(
            subscriptions.c.community_id == community_id,
            subscriptions.c.subscription_id == subscription_id)).mappings().first()
        if row is None:
            raise NotFound(f"no subscription {subscription_id!r}", status=Status.not_found)
        current = _current_cycles(conn, community_id, [subscription_id])
    return _sub_info(row, current.get(subscription_id))


def list_subscriptions(j: Jeton, community_id: str,
                       member_id: str | None = None) -> list[SubscriptionInfo]:
    stmt = sa.select(subscriptions).where(subscriptions.c.community_id == community_id)
    if member_id is not None:
        stmt = stmt.where(subscriptions.c.member_id == member_id)
    with j.store.snapshot() as conn:  # the subscriptions and their cycles as of one moment
        rows = conn.execute(stmt.order_by(subscriptions.c.subscription_id.desc())
                            .limit(limits.page_size_max)).mappings().all()
        current = _current_cycles(conn, community_id, [r["subscription_id"] for r in rows])
    return [_sub_info(r, current.get(r["subscription_id"])) for r in rows]


# ---- renewals ----


# ---- called from purchase completion and failure (inside their transaction) ----


# ---- asked by charging (services/charging/hooks.py) ----

def _discount_query() -> sa.Select[Any]:
    s, c, p = subscriptions.c, subscription_cycles.c, plans.c
    return (sa.select(sa.func.max(p.discount_bp))
            .select_from(subscriptions.join(subscription_cycles, sa.and_(
                c.community_id == s.community_id, c.subscription_id == s.subscription_id))
                .join(plans, sa.and_(p.community_id == s.community_id,
                                     p.plan_id == s.plan_id)))
            .where(s.community_id == sa.bindparam("c"), s.member_id == sa.bindparam("m"),
                   c.status == sa.literal_column("'granted'"),
                   c.start_at_us <= sa.bindparam("now"), c.end_at_us > sa.bindparam("now"),
                   p.discount_bp > sa.literal_column("0")))


# The best discount (basis points) of the member's plans whose cycle runs now and was paid:
# charging folds it into its member snapshot, inside the charge's own transaction.
DISCOUNT_QUERY = _discount_query()


# ---- helpers ----


def plan_info(row: RowMapping) -> PlanInfo:
    return PlanInfo(id=row["plan_id"], name=row["name"], cycle=row["cycle"], asset=row["asset"],
                    credits=row["credits"], price_minor=row["price_minor"],
                    currency=row["currency"], member_class=row["class"],
                    discount_bp=row["discount_bp"], active=bool(row["active"]),
                    created_at=from_us(row["created_at_us"]))


_SHELF = Shelf("plan", plans, "plan_id", limits.plans_max, plan_info)


def _current_cycles(conn: Connection, community_id: str,
                    subscription_ids: list[str]) -> dict[str, RowMapping]:
    """The newest granted cycle of each subscription named, in one statement (a list of them
    made one query each before)."""
    if not subscription_ids:
        return {}
    c = subscription_cycles.c
    newest = (sa.select(c.subscription_id, sa.func.max(c.cycle_no).label("cycle_no"))
              .where(c.community_id == community_id, c.subscription_id.in_(subscription_ids),
                     c.status == "granted")
              .group_by(c.subscription_id).subquery())
    rows = conn.execute(sa.select(subscription_cycles).join(newest, sa.and_(
        c.subscription_id == newest.c.subscription_id, c.cycle_no == newest.c.cycle_no))
        .where(c.community_id == community_id)).mappings().all()
    return {r["subscription_id"]: r for r in rows}


def _sub_info(row: RowMapping, current: RowMapping | None) -> SubscriptionInfo:
    return SubscriptionInfo(
        id=row["subscription_id"], member_id=row["member_id"], plan_id=row["plan_id"],
        provider=row["provider"], status=row["status"], anchor_at=from_us(row["anchor_at_us"]),
        current_cycle=current["cycle_no"] if current else None,
        current_period_start=from_us(current["start_at_us"]) if current else None,
        current_period_end=from_us(current["end_at_us"]) if current else None,
        cancel_at_period_end=row["cancel_at_us"] is not None,
        failed_attempts=row["failed_attempts"], end_reason=row["end_reason"],
        ended_at=from_us(row["ended_at_us"]) if row["ended_at_us"] else None)
