"""What funds one member: auto-recharge, a saved payment method, classes and keys, and the
affiliate codes a member asks for."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.funding_schemas import (
    CreateAffiliateCodes,
    GrantAccess,
    SetAutoRecharge,
    SetPaymentMethod,
)
from jeton.api.idempotency import IdempotencyKey
from jeton.api.params import Asset, MemberId
from jeton.api.routing import api_router, problem_responses
from jeton.services.access.api_keys import Scope
from jeton.services.funding.results import (
    AffiliateCodes,
    AutoRechargeInfo,
    MemberHoldings,
    PaymentProfile,
)

router = api_router(tags=["members"])


@router.get("/members/{member_id}/auto_recharge")
def get_auto_recharge(member_id: MemberId,
                      caller: Annotated[Caller, requires(Scope.members_read)],
                      asset: Asset = "CREDIT") -> AutoRechargeInfo | None:
    """The member's auto-recharge for `asset`, or `null` when none was ever set."""
    community = caller.community
    community.get_member(member_id)  # an unknown member is 404, not "no auto-recharge"
    return community.get_auto_recharge(member_id, asset=asset)


@router.post("/members/{member_id}/auto_recharge", responses=problem_responses(409))
def set_auto_recharge(member_id: MemberId, body: SetAutoRecharge,
                      caller: Annotated[Caller, requires(Scope.credits_write)],
                      ) -> AutoRechargeInfo:
    """When the member's available credits fall under `threshold`, buy `pack_id` (or, with
    `target`, as many of it as bring the balance back to `target`) with their saved payment
    method, at most `monthly_cap` times a calendar month. Enabling it needs a
    saved payment method (`/payment_method`, or a purchase with `save_payment_method`)."""
    return caller.community.set_auto_recharge(member_id, pack_id=body.pack_id,
                                              threshold=body.threshold,
                                              monthly_cap=body.monthly_cap,
                                              enabled=body.enabled, provider=body.provider,
                                              target=body.target)


@router.post("/members/{member_id}/payment_method")
def set_payment_method(member_id: MemberId, body: SetPaymentMethod,
                       caller: Annotated[Caller, requires(Scope.credits_write)],
                       ) -> PaymentProfile:
    """A payment method the host app saved at the provider itself: ids only, never card
    data."""
    return caller.community.set_payment_method(member_id, provider=body.provider,
                                               customer_id=body.customer_id,
                                               payment_method_id=body.payment_method_id)


@router.post("/members/{member_id}/classes")
def grant_class(member_id: MemberId, body: GrantAccess,
                caller: Annotated[Caller, requires(Scope.credits_write)]) -> MemberHoldings:
    """Give the member a class (until `expires_at`, or for good); answers what they hold."""
    return caller.community.grant_class(member_id, body.name, expires_at=body.expires_at)


@router.post("/members/{member_id}/keys")
def grant_key(member_id: MemberId, body: GrantAccess,
              caller: Annotated[Caller, requires(Scope.credits_write)]) -> MemberHoldings:
    """Give the member a key (until `expires_at`, or for good); answers what they hold."""
    return caller.community.grant_key(member_id, body.name, expires_at=body.expires_at)


@router.get("/members/{member_id}/access")
def member_holdings(member_id: MemberId, caller: Annotated[Caller, requires(Scope.members_read)],
                    live_only: bool = True) -> MemberHoldings:
    """The member's classes and keys: those live now, or (`live_only=false`) every one."""
    community = caller.community
    community.get_member(member_id)  # an unknown member is 404, not "holds nothing"
    return community.member_holdings(member_id, live_only=live_only)


@router.post("/members/{member_id}/affiliate_codes", status_code=201,
             responses=problem_responses(402))
def create_affiliate_codes(member_id: MemberId, body: CreateAffiliateCodes,
                           caller: Annotated[Caller, requires(Scope.credits_write)],
                           key: IdempotencyKey) -> AffiliateCodes:
    """Affiliate codes for the member, who pays the program's fee per code (402 when short);
    the member earns the program's royalty each time one is redeemed."""
    return caller.community.create_affiliate_codes(member_id, body.count, idempotency_key=key)
