"""Subscription cycles as time passes: renewals, the credits of each cycle, payment outcomes.

A cycle's credits are granted when its payment is confirmed (or at once for a free plan) and
expire when the cycle ends. The plan's definitions and subscribing live in plans.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import cycles, limits
from jeton.core.clock import from_us, to_us
from jeton.core.errors import (
    InvariantViolation,
    NotFound,
)
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.core.transfers import TransferKind
from jeton.services.charging.access_grants import grant_class
from jeton.services.funding import base as fb
from jeton.services.funding import purchases as pur
from jeton.services.ledger.jobs import job
from jeton.services.ledger.state import Header, LotSpec, system_id, wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update
from jeton.store.tables.funding import (
    LIVE_SUBSCRIPTION_STATUSES,
    plans,
    purchases,
    subscription_cycles,
    subscriptions,
)

if TYPE_CHECKING:
    from jeton.app import Jeton


US_PER_S = 1_000_000


@job("plans.renew", 30)
def renew_due(j: Jeton, community_id: str) -> int:
    """Start, renew, retry or end every subscription whose next action is due."""
    now_us = j.ledger.now_us()
    s = subscriptions.c
    with j.store.read() as conn:
        due = conn.execute(sa.select(s.subscription_id).where(
            s.community_id == community_id, s.status.in_(LIVE_SUBSCRIPTION_STATUSES),
            s.next_action_at_us <= now_us).order_by(s.next_action_at_us)
            .limit(limits.job_batch_size)).scalars().all()
    return sum(1 for sub_id in due if process_subscription(j, community_id, sub_id))


def process_subscription(j: Jeton, community_id: str, subscription_id: str) -> bool:
    """Bring one subscription up to date with the clock. Returns whether anything changed."""
    now_us = j.ledger.now_us()
    step = fb.write_plain(j.ledger, community_id,
                          lambda ws: _step(ws, j, subscription_id), now_us=now_us)
    if isinstance(step, pur.SavedMethodCharge):
        pur.charge_saved_method(j, community_id, step, actor="system:plans")
        return True
    return step


def _step(ws: WorkSet, j: Jeton, sub_id: str) -> bool | pur.SavedMethodCharge:
    """Decide and do what can be done inside one transaction; a charge is returned to be made
    outside it."""
    conn, cid, now = ws.conn, ws.community_id, ws.now_us
    sub = lock_subscription(conn, cid, sub_id)
    if sub["status"] == "canceled":
        return False
    if sub["cancel_at_us"] is not None and now >= sub["cancel_at_us"]:
        end_subscription(ws, sub, "canceled", actor="system:plans", ended_at_us=sub["cancel_at_us"])
        return True
    plan = the_plan(conn, cid, sub["plan_id"])
    n = cycles.cycle_index(from_us(sub["anchor_at_us"]), cycles.Cycle(plan["cycle"]),
                           from_us(now))
    if n < 0:
        update_subscription(ws, sub_id, next_action_at_us=sub["anchor_at_us"])
        return False
    cyc = cycle_row(conn, cid, sub_id, n)
    if cyc is None:
        if sub["status"] == "incomplete":  # still waiting for the first checkout
            update_subscription(ws, sub_id, next_action_at_us=None)
            return False
        conn.execute(subscription_cycles.update().where(
            subscription_cycles.c.community_id == cid,
            subscription_cycles.c.subscription_id == sub_id,
            subscription_cycles.c.cycle_no < n,
            subscription_cycles.c.status.in_(("unpaid", "paid"))).values(status="skipped"))
        start, end = cycle_bounds(plan, sub["anchor_at_us"], n)
        conn.execute(subscription_cycles.insert().values(
            community_id=cid, subscription_id=sub_id, cycle_no=n, start_at_us=start,
            end_at_us=end, status="unpaid", attempts=0, next_attempt_at_us=now,
            created_at_us=now))
        cyc = _the_cycle(conn, cid, sub_id, n)
    if cyc["status"] == "granted":
        update_subscription(ws, sub_id, next_action_at_us=cyc["end_at_us"])
        return False
    if cyc["status"] == "paid":
        _grant_cycle(ws, j, sub, plan, cyc, actor="system:plans")
        return True
    if cyc["status"] == "skipped":
        update_subscription(ws, sub_id, next_action_at_us=cyc["end_at_us"])
        return False
    # unpaid
    if plan["price_minor"] == 0:
        _set_cycle(ws, sub_id, n, status="paid")
        _grant_cycle(ws, j, sub, plan, cycle_row(conn, cid, sub_id, n) or cyc, actor="system:plans")
        return True
    if sub["status"] == "incomplete":
        update_subscription(ws, sub_id, next_action_at_us=None)
        return False
    if cyc["purchase_id"] is not None:
        open_row = pur.find_purchase(conn, cid, cyc["purchase_id"])
        if open_row["status"] == "charging":
            # Not settled (the provider was unreachable, or a crash): ask again with the same
            # idempotency key, which can never charge twice; give up after a few tries.
            give_up = limits.provider_attempts_max * limits.provider_retry_s * US_PER_S
            if now - open_row["created_at_us"] < give_up:
                return _charge_for(ws, sub, open_row) or True
            payment_failed_in(ws, open_row, "provider_unavailable", fail_purchase=True)
            return True
        if open_row["status"] == "processing":  # the provider's event will settle it
            update_subscription(ws, sub_id,
                                next_action_at_us=now + limits.provider_retry_s * US_PER_S)
            return False
    if cyc["next_attempt_at_us"] is not None and cyc["next_attempt_at_us"] > now:
        update_subscription(ws, sub_id, next_action_at_us=cyc["next_attempt_at_us"])
        return False
    # A new attempt: a purchase for this cycle, charged outside the transaction.
    purchase_id = new_id()
    conn.execute(purchases.insert().values(
        community_id=cid, purchase_id=purchase_id, member_id=sub["member_id"], kind="renewal",
        subscription_id=sub_id, cycle_no=n, provider=sub["provider"], status="charging",
        description=plan["name"], asset=plan["asset"], credits=plan["credits"],
        amount_minor=plan["price_minor"], currency=plan["currency"], created_at_us=now))
    _set_cycle(ws, sub_id, n, purchase_id=purchase_id)
    update_subscription(ws, sub_id, next_action_at_us=now + limits.provider_retry_s * US_PER_S)
    return _charge_for(ws, sub, pur.find_purchase(conn, cid, purchase_id)) or True


def _charge_for(ws: WorkSet, sub: RowMapping, purchase: RowMapping) -> pur.SavedMethodCharge | None:
    profile = pur.payment_profile(ws.conn, ws.community_id, sub["member_id"], sub["provider"])
    if profile is None or not profile.customer_id or not profile.payment_method_id:
        payment_failed_in(ws, purchase, "no_payment_method", fail_purchase=True)
        return None
    return pur.SavedMethodCharge(purchase, profile.customer_id, profile.payment_method_id)


def cycle_paid_in(ws: WorkSet, j: Jeton, purchase: RowMapping, *, actor: str) -> str | None:
    """A plan or renewal purchase was paid: its cycle is paid, and granted if it has started.
    Returns the grant's transfer id, if credits were granted now."""
    conn, cid = ws.conn, ws.community_id
    sub_id, n = purchase["subscription_id"], purchase["cycle_no"]
    sub = lock_subscription(conn, cid, sub_id)
    cyc = cycle_row(conn, cid, sub_id, n)
    if cyc is None or cyc["status"] in ("paid", "granted"):
        return None  # paid twice for one cycle: the money is recorded, the credits are not
    plan = the_plan(conn, cid, sub["plan_id"])
    _set_cycle(ws, sub_id, n, status="paid", purchase_id=purchase["purchase_id"])
    update_subscription(ws, sub_id, failed_attempts=0)
    if sub["status"] == "canceled":
        return None
    if cyc["start_at_us"] > ws.now_us:
        update_subscription(ws, sub_id, status="scheduled", next_action_at_us=cyc["start_at_us"])
        return None
    if cyc["end_at_us"] <= ws.now_us:
        return None  # paid after its cycle ended: nothing left to grant; refund it
    sub = lock_subscription(conn, cid, sub_id)
    return _grant_cycle(ws, j, sub, plan, cycle_row(conn, cid, sub_id, n) or cyc, actor=actor)


def payment_failed_in(ws: WorkSet, purchase: RowMapping, reason: str, *,
                      fail_purchase: bool = False) -> None:
    """A plan payment failed: cancel a subscription that never started, or report the renewal
    failure and schedule a bounded retry."""
    if fail_purchase:
        pur.fail_in(ws, purchase, "failed", reason)
    conn, cid = ws.conn, ws.community_id
    sub_id, n = purchase["subscription_id"], purchase["cycle_no"]
    sub = lock_subscription(conn, cid, sub_id)
    if sub["status"] == "canceled":
        return
    if sub["status"] == "incomplete":
        end_subscription(ws, sub, "payment_failed", actor="system:plans")
        return
    attempts = sub["failed_attempts"] + 1
    delays = limits.renewal_retry_delays_s
    cyc = cycle_row(conn, cid, sub_id, n)
    if attempts > len(delays):
        update_subscription(ws, sub_id, failed_attempts=attempts)
        end_subscription(ws, sub, "renewal_failed", actor="system:plans")
        return
    retry_at = ws.now_us + delays[attempts - 1] * US_PER_S
    if cyc is not None:
        _set_cycle(ws, sub_id, n, attempts=cyc["attempts"] + 1, next_attempt_at_us=retry_at)
    update_subscription(ws, sub_id, status="past_due", failed_attempts=attempts,
                next_action_at_us=retry_at)
    ws.emit("subscription.renewal_failed", sub["member_id"], {
        "subscription_id": sub_id, "member_id": sub["member_id"], "cycle": n,
        "purchase_id": purchase["purchase_id"], "reason": reason, "attempt": attempts,
        "next_attempt_at": from_us(retry_at)})


def checkout_abandoned_in(ws: WorkSet, purchase: RowMapping) -> None:
    """The first cycle's checkout closed unpaid: the subscription never starts."""
    sub = lock_subscription(ws.conn, ws.community_id, purchase["subscription_id"])
    if sub["status"] == "incomplete":
        end_subscription(ws, sub, "checkout_expired", actor="system:plans")


def _grant_cycle(ws: WorkSet, j: Jeton, sub: RowMapping, plan: RowMapping, cyc: RowMapping, *,
                 actor: str) -> str | None:
    member, asset, n = sub["member_id"], plan["asset"], cyc["cycle_no"]
    transfer_id = None
    if plan["credits"]:
        paid = plan["price_minor"] > 0
        header = Header(TransferKind.grant, asset, member_id=member, actor=actor,
                        reason_code="plan", memo=plan["name"],
                        metadata={"subscription_id": sub["subscription_id"], "cycle": n,
                                  "purchase_id": cyc["purchase_id"]})
        spec = LotSpec(source="plan", paid=paid, cost_minor=plan["price_minor"] if paid else 0,
                       cost_currency=plan["currency"] if paid else None,
                       expires_at_us=cyc["end_at_us"])
        grant = j.ledger.apply_grant(ws, header, member, plan["credits"], spec,
                                     system_id("issuance" if paid else "promotions", asset))
        transfer_id = grant.id
        from jeton.services.funding.rollover import note_cycle_lot

        for move in grant.lots:
            if move.amount > 0 and move.account_id == wallet_id(member, asset):
                note_cycle_lot(ws, move.lot_id, sub["subscription_id"], plan["plan_id"], n)
    if plan["class"]:
        grant_class(ws.conn, ws.community_id, member, plan["class"],
                    expires_at_us=cyc["end_at_us"], now_us=ws.now_us, source="plan")
    _set_cycle(ws, sub["subscription_id"], n, status="granted", transfer_id=transfer_id)
    update_subscription(ws, sub["subscription_id"], status="active", failed_attempts=0,
                next_action_at_us=cyc["end_at_us"])
    ws.emit("subscription.cycle_started", member, {
        "subscription_id": sub["subscription_id"], "member_id": member, "cycle": n,
        "credits": plan["credits"], "asset": asset, "member_class": plan["class"],
        "period_start": from_us(cyc["start_at_us"]), "period_end": from_us(cyc["end_at_us"]),
        "transfer_id": transfer_id})
    return transfer_id


def end_subscription(ws: WorkSet, sub: RowMapping, reason: str, *, actor: str,
         ended_at_us: int | None = None) -> None:
    update_subscription(ws, sub["subscription_id"], status="canceled", end_reason=reason,
                ended_at_us=ended_at_us or ws.now_us, next_action_at_us=None)
    ws.emit("subscription.canceled", sub["member_id"], {
        "subscription_id": sub["subscription_id"], "member_id": sub["member_id"],
        "reason": reason, "actor": actor})


def cycle_bounds(plan: RowMapping, anchor_us: int, n: int) -> tuple[int, int]:
    start, end = cycles.cycle_bounds(from_us(anchor_us), cycles.Cycle(plan["cycle"]), n)
    return to_us(start), to_us(end)


def lock_subscription(conn: Connection, community_id: str, sub_id: str) -> RowMapping:
    stmt = sa.select(subscriptions).where(subscriptions.c.community_id == community_id,
                                          subscriptions.c.subscription_id == sub_id)
    row = conn.execute(for_update(stmt, conn.dialect.name)).mappings().first()
    if row is None:
        raise NotFound(f"no subscription {sub_id!r}", status=Status.not_found)
    return row


def cycle_row(conn: Connection, community_id: str, sub_id: str, n: int) -> RowMapping | None:
    return conn.execute(sa.select(subscription_cycles).where(
        subscription_cycles.c.community_id == community_id,
        subscription_cycles.c.subscription_id == sub_id,
        subscription_cycles.c.cycle_no == n)).mappings().first()


def _set_cycle(ws: WorkSet, sub_id: str, n: int, **values: Any) -> None:
    ws.conn.execute(subscription_cycles.update().where(
        subscription_cycles.c.community_id == ws.community_id,
        subscription_cycles.c.subscription_id == sub_id,
        subscription_cycles.c.cycle_no == n).values(**values))


def update_subscription(ws: WorkSet, sub_id: str, **values: Any) -> None:
    ws.conn.execute(subscriptions.update().where(
        subscriptions.c.community_id == ws.community_id,
        subscriptions.c.subscription_id == sub_id).values(**values))


def the_plan(conn: Connection, community_id: str, plan_id: str) -> RowMapping:
    """The plan of an existing subscription: a foreign key guarantees it."""
    row = plan_row(conn, community_id, plan_id)
    if row is None:
        raise InvariantViolation(f"subscription of a missing plan {plan_id!r}")
    return row


def _the_cycle(conn: Connection, community_id: str, sub_id: str, n: int) -> RowMapping:
    row = cycle_row(conn, community_id, sub_id, n)
    if row is None:
        raise InvariantViolation(f"cycle {n} of {sub_id} vanished in its own transaction")
    return row


def plan_row(conn: Connection, community_id: str, plan_id: str) -> RowMapping | None:
    return conn.execute(sa.select(plans).where(plans.c.community_id == community_id,
                                               plans.c.plan_id == plan_id)).mappings().first()
