"""Request bodies of the funding endpoints: packs, purchases, refunds, plans, subscriptions,
auto-recharge, payment methods, classes and keys, coupons, affiliate codes, staff postings and
the community's funding settings.

Like schemas.py: every body forbids unknown fields, numbers are strict, and the bounds repeat the
services' own checks so that the OpenAPI document tells clients the truth (the services check
again).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StrictBool, StrictInt

from jeton.api.schemas import (
    EXTERNAL_ID_PATTERN,
    Actor,
    Amount,
    AssetCode,
    Body,
    CurrencyCode,
    ExternalId,
)
from jeton.core import limits
from jeton.core.cycles import Cycle
from jeton.payments import limits as payment_limits
from jeton.services.access.staff import StaffRole
from jeton.services.funding.results import AffiliateProgram, Entitlement

Days = Annotated[StrictInt, Field(ge=1, le=limits.lot_expiry_days_max)]
Credits = Annotated[StrictInt, Field(ge=0, le=limits.amount_max)]
BasisPoints = Annotated[StrictInt, Field(ge=0, le=10_000, description="1/100 of a percent.")]
Url = Annotated[str, Field(min_length=1, max_length=payment_limits.url_chars_max,
                           pattern=r"^[^\x00-\x1f\x7f]*$")]
ProviderName = Annotated[str, Field(pattern=EXTERNAL_ID_PATTERN, max_length=64,
                                    description="`stripe`, `offline`, `demo`; omitted: the "
                                                "default provider.")]
ProviderObjectId = Annotated[str, Field(min_length=1, max_length=255,
                                        pattern=r"^[A-Za-z0-9_.\-]+$")]
Reason = Annotated[str, Field(max_length=limits.memo_chars_max)]
# `class:NAME` or `key:NAME`.
Requirement = Annotated[str, Field(pattern=r"^(class|key):" + EXTERNAL_ID_PATTERN[1:],
                                   max_length=70)]
CouponCode = Annotated[str, Field(pattern=r"^\s*[A-Za-z0-9_-]{3,32}\s*$", max_length=40)]


class EntitlementBody(Body):
    """A class or key, held for `days` days (omitted: for good)."""

    name: ExternalId
    days: Days | None = None

    def to_entitlement(self) -> Entitlement:
        return Entitlement(name=self.name, days=self.days)


Entitlements = Annotated[list[EntitlementBody], Field(max_length=limits.entitlements_max)]


def entitlements(items: list[EntitlementBody]) -> list[Entitlement]:
    return [e.to_entitlement() for e in items]


# ---- packs and purchases ----

class CreatePack(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    credits: Amount
    price_minor: Amount
    currency: CurrencyCode = "USD"
    pack_id: ExternalId | None = None
    asset: AssetCode | None = None
    bonus_credits: Credits = 0
    bonus_expiry_days: Days | None = None
    credit_expiry_days: Days | None = None
    classes: Entitlements = Field(default_factory=list)
    keys: Entitlements = Field(default_factory=list)
    visible_to: Annotated[list[Requirement], Field(
        max_length=limits.access_alternatives_max,
        description="Offered only to holders of one of these (`class:vip`, `key:insider`); "
                    "empty: every member.")] = Field(default_factory=list)
    sort_order: Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)] = 0


class NoBody(Body):
    """An empty object: the action needs nothing more than its path."""


class BuyPack(Body):
    member: ExternalId
    pack_id: ExternalId
    success_url: Url | None = Field(
        None, description="Where the provider sends the member after paying. Required with "
                          "Stripe; with the demo and offline providers Jeton's own checkout "
                          "page says how it went when it is left out.")
    cancel_url: Url | None = Field(
        None, description="Where the provider sends a member who gives up (required with "
                          "Stripe, like `success_url`).")
    provider: ProviderName | None = None
    save_payment_method: StrictBool = False


class OfflinePayment(Body):
    reference: Annotated[str, Field(min_length=1, max_length=payment_limits.reference_chars_max,
                                    description="How the money came: `check 1042`.")]
    actor: Actor = None


class RefundPurchase(Body):
    amount_minor: Amount | None = Field(default=None,
                                        description="Part of the price; omitted: all of it.")
    actor: Actor = None
    reason: Reason = ""


class RefundAsCredits(RefundPurchase):
    credits: Amount | None = Field(default=None, description="Credits to give; omitted: as "
                                                             "many as the money bought.")


class RefundCharge(Body):
    actor: Actor = None
    reason: Reason = ""


class SetPaymentMethod(Body):
    provider: ProviderName
    customer_id: ProviderObjectId
    payment_method_id: ProviderObjectId


# ---- plans and subscriptions ----

class CreatePlan(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    cycle: Cycle
    credits: Amount
    price_minor: Amount
    currency: CurrencyCode = "USD"
    plan_id: ExternalId | None = None
    asset: AssetCode | None = None
    member_class: ExternalId | None = None
    discount_bp: BasisPoints = 0


class Subscribe(Body):
    member: ExternalId
    plan_id: ExternalId
    start_at: AwareDatetime | None = None
    provider: ProviderName | None = None
    success_url: Url | None = None
    cancel_url: Url | None = None


class CancelSubscription(Body):
    at_period_end: StrictBool = True
    actor: Actor = None


# ---- auto-recharge, classes and keys ----

class SetAutoRecharge(Body):
    pack_id: ExternalId
    threshold: Credits
    monthly_cap: Annotated[StrictInt, Field(ge=0, le=1_000,
                                            description="Recharges per calendar month.")]
    enabled: StrictBool = True
    provider: ProviderName | None = None
    target: Annotated[StrictInt | None, Field(
        default=None, ge=1, le=limits.amount_max,
        description="Buy as many of the pack as bring the balance back to this (rounded up to "
                    "whole packs); omitted: one pack.")] = None


class GrantAccess(Body):
    name: ExternalId
    expires_at: AwareDatetime | None = None


# ---- coupons and affiliate codes ----

class CreateCoupon(Body):
    code: CouponCode | None = None
    credits: Credits = 0
    asset: AssetCode | None = None
    credit_expiry_days: Days | None = None
    classes: Entitlements = Field(default_factory=list)
    keys: Entitlements = Field(default_factory=list)
    max_redemptions: Annotated[StrictInt, Field(ge=1, le=limits.amount_max)] | None = None
    per_member_limit: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1
    expires_at: AwareDatetime | None = None


class RedeemCoupon(Body):
    member: ExternalId


class CreateAffiliateCodes(Body):
    count: Annotated[StrictInt, Field(ge=1, le=limits.affiliate_codes_per_request_max)]


class SetAffiliateProgram(Body):
    asset: AssetCode = "CREDIT"
    classes: Annotated[list[ExternalId], Field(
        max_length=limits.access_alternatives_max,
        description="Who may ask for codes: members of these classes.")] = Field(
        default_factory=list)
    fee_per_code: Credits = 0
    credits: Credits = 0
    credit_expiry_days: Days | None = None
    royalty: Credits = 0
    max_redemptions_per_code: Annotated[StrictInt, Field(ge=1, le=limits.amount_max)] | None \
        = None
    codes_per_member_max: Annotated[StrictInt, Field(ge=0, le=10_000)] = 20

    def to_program(self) -> AffiliateProgram:
        return AffiliateProgram(**self.model_dump())


# ---- staff postings ----

class StaffPosting(Body):
    member: ExternalId
    amount: Amount
    actor: Annotated[str, Field(min_length=1, max_length=150, pattern=r"^[^\x00-\x1f]+$",
                                description="The staff user posting (their id in the host "
                                            "app); their role's limit applies to them.")]
    reason: Annotated[str, Field(min_length=1, max_length=limits.memo_chars_max)]
    role: StaffRole | None = Field(default=None, description="The actor's role; omitted: "
                                                             "`owner`.")
    asset: AssetCode | None = None


class StaffGrant(StaffPosting):
    expires_at: AwareDatetime | None = None


# ---- settings ----

class SetSignupBonus(Body):
    amount: Credits
    expiry_days: Days | None = None
    asset: AssetCode | None = None


class SetTransferLimits(Body):
    per_day: Credits | None = None
    per_month: Credits | None = None
    fee_fixed: Credits = 0
    fee_bp: BasisPoints = 0
    asset: AssetCode | None = None


class SetRoleLimit(Body):
    role: StaffRole
    amount: Credits
    period: Literal["day", "week", "month"] = "day"
    asset: AssetCode | None = None


