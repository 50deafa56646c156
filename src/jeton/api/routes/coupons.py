"""Coupons (made by the owner, redeemed for a member) and the affiliate program."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.funding_schemas import (
    CreateCoupon,
    RedeemCoupon,
    SetAffiliateProgram,
    entitlements,
)
from jeton.api.idempotency import IdempotencyKey
from jeton.api.routes.funding_params import CouponCodePath
from jeton.api.routing import api_router, problem_responses
from jeton.services.access.api_keys import Scope
from jeton.services.funding.results import AffiliateProgram, CouponInfo, Redemption

router = api_router(tags=["coupons"])


@router.post("/coupons", status_code=201, responses=problem_responses(409))
def create_coupon(body: CreateCoupon,
                  caller: Annotated[Caller, requires(Scope.admin)]) -> CouponInfo:
    """A promotional code giving credits, classes or keys; without `code` an unguessable one
    is made. 409 when the code exists."""
    return caller.community.create_coupon(
        body.code, credits=body.credits, asset=body.asset,
        credit_expiry_days=body.credit_expiry_days, classes=entitlements(body.classes),
        keys=entitlements(body.keys), max_redemptions=body.max_redemptions,
        per_member_limit=body.per_member_limit, expires_at=body.expires_at)


@router.get("/coupons/{code}")
def get_coupon(code: CouponCodePath,
               caller: Annotated[Caller, requires(Scope.members_read)]) -> CouponInfo:
    return caller.community.get_coupon(code)


@router.post("/coupons/{code}/redeem", status_code=201, responses=problem_responses(402))
def redeem_coupon(code: CouponCodePath, body: RedeemCoupon,
                  caller: Annotated[Caller, requires(Scope.credits_write)],
                  key: IdempotencyKey) -> Redemption:
    """The member redeems the code: they get its credits, classes and keys, and an affiliate
    code's owner their royalty. An expired code: 402 `declined`; one used up, or redeemed by
    the member as often as it allows: 403 `limit-exceeded`."""
    return caller.community.redeem_coupon(body.member, code, idempotency_key=key)


@router.post("/affiliate_program")
def set_affiliate_program(body: SetAffiliateProgram,
                          caller: Annotated[Caller, requires(Scope.admin)]) -> AffiliateProgram:
    """Who may ask for affiliate codes (members of `classes`), what a code costs them, what a
    redeemer gets and what its owner earns per redemption. Replaces the program."""
    return caller.community.set_affiliate_program(body.to_program())
