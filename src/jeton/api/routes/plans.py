"""Plans (made by the owner) and members' subscriptions to them."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.funding_schemas import CancelSubscription, CreatePlan, NoBody, Subscribe
from jeton.api.idempotency import IdempotencyKey
from jeton.api.routes.funding_params import ForMember, PlanId, SubscriptionId
from jeton.api.routes.purchases import provider_retry_later
from jeton.api.routing import api_router, problem_responses
from jeton.services.access.api_keys import Scope
from jeton.services.funding.results import PlanInfo, SubscriptionInfo
from jeton.services.ledger.results import Page

router = api_router(tags=["plans and subscriptions"])


@router.post("/plans", status_code=201, responses=problem_responses(409))
def create_plan(body: CreatePlan,
                caller: Annotated[Caller, requires(Scope.admin)]) -> PlanInfo:
    """A plan granting `credits` at the start of each cycle, expiring at its end; maybe a class
    held for the cycle and a discount (basis points) on every charge while it runs."""
    return caller.community.create_plan(
        body.name, cycle=body.cycle.value, credits=body.credits, price_minor=body.price_minor,
        currency=body.currency, plan_id=body.plan_id, asset=body.asset,
        member_class=body.member_class, discount_bp=body.discount_bp)


@router.get("/plans")
def list_plans(caller: Annotated[Caller, requires(Scope.members_read)],
               include_inactive: bool = False) -> Page[PlanInfo]:
    """Every plan (one page: a price list)."""
    return Page(data=caller.community.list_plans(include_inactive=include_inactive),
                has_more=False)


@router.post("/subscriptions", status_code=201, responses=problem_responses(402, 503))
def subscribe(body: Subscribe, caller: Annotated[Caller, requires(Scope.credits_write)],
              key: IdempotencyKey) -> SubscriptionInfo:
    """Subscribe a member. The first cycle is paid with the member's saved payment method when
    there is one (402 when the provider declines it), else on a hosted checkout: send the
    member to `checkout.url`. Credits are granted once the cycle is paid and has begun."""
    with provider_retry_later():
        return caller.community.subscribe(body.member, body.plan_id, idempotency_key=key,
                                          start_at=body.start_at, provider=body.provider,
                                          success_url=body.success_url,
                                          cancel_url=body.cancel_url)


@router.get("/subscriptions")
def list_subscriptions(caller: Annotated[Caller, requires(Scope.members_read)],
                       member: ForMember = None) -> Page[SubscriptionInfo]:
    """Subscriptions, with `member` that member's (one page)."""
    return Page(data=caller.community.list_subscriptions(member), has_more=False)


@router.get("/subscriptions/{subscription_id}")
def get_subscription(subscription_id: SubscriptionId,
                     caller: Annotated[Caller, requires(Scope.members_read)],
                     ) -> SubscriptionInfo:
    return caller.community.get_subscription(subscription_id)


@router.post("/subscriptions/{subscription_id}/cancel")
def cancel_subscription(subscription_id: SubscriptionId, body: CancelSubscription,
                        caller: Annotated[Caller, requires(Scope.credits_write)],
                        ) -> SubscriptionInfo:
    """Stop renewing at the end of the current cycle (`at_period_end`, the default), or at
    once (`at_period_end: false`). Canceling again changes nothing."""
    return caller.community.cancel_subscription(subscription_id,
                                                at_period_end=body.at_period_end,
                                                actor=caller.actor(body.actor))


@router.post("/plans/{plan_id}/activate")
def activate_plan(plan_id: PlanId, body: NoBody,
                  caller: Annotated[Caller, requires(Scope.admin)]) -> PlanInfo:
    """Offer a retired plan again."""
    return caller.community.set_plan_active(plan_id, True)


@router.post("/plans/{plan_id}/retire")
def retire_plan(plan_id: PlanId, body: NoBody,
                caller: Annotated[Caller, requires(Scope.admin)]) -> PlanInfo:
    """Stop offering a plan. Its subscriptions go on; it can be activated again."""
    return caller.community.set_plan_active(plan_id, False)
