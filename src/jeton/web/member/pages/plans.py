"""Plans: subscribing (the first cycle paid on a checkout like a pack, or with the saved
payment method after a review of what will be charged) and cancelling at the end of the current
period.

A member with a saved payment method is charged at once when a subscription starts, so the
Subscribe button first shows what will happen (the plan, the amount and currency, the saved
method, how often it renews and when next); only the review's Confirm subscribes. A member
without one pays on the checkout page, which is its own confirmation (decision 0075).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Request, Response
from fastapi.responses import HTMLResponse

from jeton.core.cycles import Cycle, cycle_bounds
from jeton.core.errors import InvalidRequest, NotFound
from jeton.services.funding.purchases import get_payment_profile
from jeton.services.funding.results import PlanInfo, SubscriptionInfo
from jeton.web.member.context import Member, member_context
from jeton.web.member.forms import FormKey, error_message, form_key, redirect_to, write_key
from jeton.web.member.pages.store import cancel_url, return_url, to_checkout
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember, PageNotFound
from jeton.web.member.templating import render

router = page_router()

# Subscriptions that still run (or will): a member does not subscribe to their plan twice.
LIVE = ("incomplete", "scheduled", "active", "past_due")
# "$9.00 a month": a plan's price per period, in words.
PERIOD_WORDS = {"weekly": "week", "monthly": "month", "quarterly": "quarter",
                "semiannual": "half-year", "yearly": "year"}
STATUS_TEXT = {
    "incomplete": "Waiting for the first payment",
    "scheduled": "Starts later",
    "active": "Active",
    "past_due": "Payment failed; we will try again",
    "canceled": "Ended",
}


@router.get("/plans", name="member.plans")
def plans_page(request: Request, me: CurrentMember) -> HTMLResponse:
    return _page(request, me)


@router.post("/plans/subscribe", name="member.subscribe")
def subscribe(request: Request, me: CurrentMember,
              plan_id: Annotated[str, Form(max_length=100)], key: FormKey) -> Response:
    """With a saved payment method and a price, the review; else on to pay (or subscribed,
    for a free plan)."""
    plan = _offered(me, plan_id)
    if plan is None:
        return _page(request, me, error="That plan is not offered any more.", status_code=404)
    j = member_context(request).jeton
    saved = get_payment_profile(j, me.session.community_id, me.id, j.payments.default_name)
    if plan.price_minor > 0 and saved is not None and saved.payment_method_id is not None:
        # The first period starts now; the next charge is when the second one starts.
        renews_at = cycle_bounds(j.clock.now(), Cycle(plan.cycle), 0)[1]
        return render(request, "member/subscribe_review.html", {
            "plan": plan, "period": PERIOD_WORDS.get(plan.cycle, plan.cycle),
            "provider": saved.provider, "renews_at": renews_at, "key": form_key(),
        }, section="plans")
    return _subscribe(request, me, plan_id, key)


@router.post("/plans/subscribe/confirm", name="member.subscribe_confirm")
def subscribe_confirm(request: Request, me: CurrentMember,
                      plan_id: Annotated[str, Form(max_length=100)],
                      key: FormKey) -> Response:
    """The review's Confirm: subscribes, charging the saved method. The review's form key is
    the write's idempotency key, so a second click charges nothing more."""
    return _subscribe(request, me, plan_id, key)


def _subscribe(request: Request, me: Member, plan_id: str, key: str) -> Response:
    ctx = member_context(request)
    try:
        sub = me.community.subscribe(
            me.id, plan_id, idempotency_key=write_key(me, "subscribe", key),
            provider=ctx.jeton.payments.default_name, success_url=return_url(request),
            cancel_url=cancel_url(request, "member.plans"))
    except NotFound:
        return _page(request, me, error="That plan is not offered any more.", status_code=404)
    except InvalidRequest as exc:
        return _page(request, me, error=error_message(exc), status_code=400)
    if sub.checkout is not None:
        return to_checkout(request, me, sub.checkout, what="plan")
    return redirect_to(request, "member.plans", notice="subscribed")


def _offered(me: Member, plan_id: str) -> PlanInfo | None:
    return next((p for p in me.community.list_plans() if p.id == plan_id), None)


@router.post("/plans/{subscription_id}/cancel", name="member.cancel_subscription")
def cancel(request: Request, me: CurrentMember,
           subscription_id: Annotated[str, Path(max_length=100)]) -> Response:
    sub = _own_subscription(me, subscription_id)
    done = me.community.cancel_subscription(sub.id, at_period_end=True, actor=me.actor)
    notice = "subscription_ended" if done.status == "canceled" else "subscription_canceled"
    return redirect_to(request, "member.plans", notice=notice)


def _own_subscription(me: Member, subscription_id: str) -> SubscriptionInfo:
    try:
        sub = me.community.get_subscription(subscription_id)
    except NotFound:
        sub = None
    if sub is None or sub.member_id != me.id:
        raise PageNotFound("There is no such subscription on your account.")
    return sub


def _page(request: Request, me: Member, *, error: str = "",
          status_code: int = 200) -> HTMLResponse:
    subs = me.community.list_subscriptions(me.id)
    live = {s.plan_id for s in subs if s.status in LIVE}
    plans = {p.id: p for p in me.community.list_plans(include_inactive=True)}
    return render(request, "member/plans.html", {
        "offers": [(plan, PERIOD_WORDS.get(plan.cycle, plan.cycle), form_key())
                   for plan in plans.values() if plan.active and plan.id not in live],
        "subscribed": [(s, plans.get(s.plan_id), STATUS_TEXT.get(s.status, s.status))
                       for s in subs],
        "live": LIVE,
        "error": error,
    }, section="plans", status_code=status_code)
