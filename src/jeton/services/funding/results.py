"""What the funding services return: packs, purchases, checkouts, refunds, plans, subscriptions,
auto-recharge, coupons, limits and settings. Pydantic models, like ledger/results.py, so the
HTTP API serialises them and the idempotency table stores them.

Money is `amount_minor` in the minor unit of `currency` (cents for USD); credits are minor units
of the community's asset.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from jeton.services.ledger.results import Result, TransferResult


class Entitlement(Result):
    """A class or key a pack or coupon gives, for `days` days (None: for good)."""

    name: str
    days: int | None = None


class PackInfo(Result):
    id: str
    name: str
    asset: str
    credits: int
    price_minor: int
    currency: str
    bonus_credits: int = 0
    bonus_expiry_days: int | None = None
    credit_expiry_days: int | None = None
    classes: list[Entitlement] = Field(default_factory=list)
    keys: list[Entitlement] = Field(default_factory=list)
    # `class:NAME` / `key:NAME`: who is offered the pack; empty: every member.
    visible_to: list[str] = Field(default_factory=list)
    active: bool = True
    sort_order: int = 0
    created_at: datetime


class Checkout(Result):
    """A purchase waiting for payment on the provider's hosted page: send the member to `url`."""

    purchase_id: str
    provider: str
    session_id: str | None
    url: str | None
    status: str
    amount_minor: int
    currency: str
    replayed: bool = False


class PurchaseInfo(Result):
    id: str
    member_id: str
    kind: str  # pack, recharge, plan, renewal, bill
    pack_id: str | None = None
    subscription_id: str | None = None
    provider: str
    status: str  # pending, charging, processing, completed, failed, expired
    description: str
    asset: str
    credits: int
    bonus_credits: int = 0
    amount_minor: int
    currency: str
    refunded_minor: int = 0
    credits_taken_back: int = 0
    session_id: str | None = None
    payment_id: str | None = None
    reference: str | None = None
    failure_reason: str | None = None
    grant_transfer_id: str | None = None
    bonus_transfer_id: str | None = None
    money_transfer_id: str | None = None
    created_at: datetime
    completed_at: datetime | None = None
    replayed: bool = False


class RefundInfo(Result):
    id: str
    purchase_id: str
    kind: str  # cash, credits, external (refunded at the provider), dispute (a chargeback)
    status: str  # pending, succeeded, failed
    amount_minor: int
    currency: str
    credits_taken: int = 0
    credits_given: int = 0
    provider_refund_id: str | None = None
    take_transfer_id: str | None = None
    give_transfer_id: str | None = None
    money_transfer_id: str | None = None
    failure_reason: str | None = None
    created_at: datetime
    replayed: bool = False


class PaymentProfile(Result):
    """The member's customer and saved payment method at one provider (tokens only)."""

    member_id: str
    provider: str
    customer_id: str | None = None
    payment_method_id: str | None = None


class WebhookOutcome(Result):
    """What a provider webhook did: `processed`, `duplicate` (a replay), or `ignored`."""

    status: str
    provider: str
    event_id: str | None = None
    kind: str | None = None
    purchase_id: str | None = None
    detail: str = ""


class RolloverInfo(Result):
    """The active catalog's rollover terms of a plan (`[plans.<id>.rollover]`): at each cycle's
    end, `share_percent` of the unused credits (None: all), at most `cap` (None: no cap), roll
    into the next cycle; a credit rolls at most `cycles` times."""

    share_percent: int | None = None
    cap: int | None = None
    cycles: int = 1


class PlanInfo(Result):
    id: str
    name: str
    cycle: str
    asset: str
    credits: int
    price_minor: int
    currency: str
    member_class: str | None = None
    discount_bp: int = 0  # off every charge while a cycle runs (10000 = free)
    active: bool = True
    created_at: datetime
    rollover: RolloverInfo | None = None  # from the active catalog; None: unused credits expire


class SubscriptionInfo(Result):
    id: str
    member_id: str
    plan_id: str
    provider: str
    status: str  # incomplete, scheduled, active, past_due, canceled
    anchor_at: datetime
    current_cycle: int | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    failed_attempts: int = 0
    end_reason: str | None = None
    ended_at: datetime | None = None
    checkout: Checkout | None = None  # when the first cycle is paid on a hosted page
    replayed: bool = False


class AutoRechargeInfo(Result):
    member_id: str
    asset: str
    enabled: bool
    threshold: int
    pack_id: str
    monthly_cap: int
    provider: str
    status: str  # ok, failed, cap_reached
    last_error: str | None = None
    recharges_this_month: int = 0
    in_flight: bool = False
    # Buy as many of the pack as bring the available balance back to `target` (None: one).
    target: int | None = None


class CouponInfo(Result):
    code: str
    kind: str  # promo, affiliate
    asset: str
    credits: int
    credit_expiry_days: int | None = None
    classes: list[Entitlement] = Field(default_factory=list)
    keys: list[Entitlement] = Field(default_factory=list)
    max_redemptions: int | None = None
    per_member_limit: int = 1
    redeemed_count: int = 0
    expires_at: datetime | None = None
    active: bool = True
    owner_member_id: str | None = None
    royalty: int = 0
    created_at: datetime


class Redemption(Result):
    id: str
    code: str
    member_id: str
    credits: int
    classes: list[str] = Field(default_factory=list)
    keys: list[str] = Field(default_factory=list)
    transfer: TransferResult | None = None
    royalty_transfer: TransferResult | None = None
    replayed: bool = False


class AffiliateCodes(Result):
    member_id: str
    codes: list[str]
    fee: int = 0
    fee_transfer: TransferResult | None = None
    replayed: bool = False


class AffiliateProgram(Result):
    """Who may request affiliate codes and what they pay and earn."""

    asset: str = "CREDIT"
    classes: list[str] = Field(default_factory=list)  # who may request codes; empty: nobody
    fee_per_code: int = 0  # credits the member pays per code
    credits: int = 0  # what a redeemer gets
    credit_expiry_days: int | None = None
    royalty: int = 0  # what the code's owner earns per redemption
    max_redemptions_per_code: int | None = None
    codes_per_member_max: int = 20


class SignupBonus(Result):
    amount: int = 0  # 0: no bonus
    asset: str = "CREDIT"
    expiry_days: int | None = None


class TransferLimits(Result):
    """Credits a member may send to other members per UTC day and calendar month (None: no
    limit), and the fee the sender pays on each transfer (fixed plus basis points)."""

    asset: str = "CREDIT"
    per_day: int | None = None
    per_month: int | None = None
    fee_fixed: int = 0
    fee_bp: int = 0


class RoleLimit(Result):
    """Credits each staff user of `role` may post (grant or charge by hand) per period."""

    role: str
    asset: str
    amount: int
    period: str  # day, week, month


class Holding(Result):
    """A class or key held until `expires_at` (None: for good)."""

    name: str
    expires_at: datetime | None = None


class MemberHoldings(Result):
    member_id: str
    classes: list[Holding] = Field(default_factory=list)
    keys: list[Holding] = Field(default_factory=list)


class BillingSettings(Result):
    """How a community bills the members on a credit line, per asset (services/funding/bills.py).

    `credit_price_minor` is the money for one whole credit in `currency`; `cycle` is `week`
    (ISO, UTC) or `month` (UTC); a bill still unpaid `grace_days` after it is issued suspends the
    member's credit line; `bill_at_percent` (None: never) issues a bill as soon as what the
    member owes and no bill asks yet reaches that share of their credit line. `enabled` is
    false (and the figures are placeholders) while the owner has set no billing."""

    enabled: bool = True
    asset: str
    currency: str
    credit_price_minor: int
    cycle: str
    grace_days: int
    bill_at_percent: int | None = None
    provider: str | None = None  # None: the community's default provider


class BillLine(Result):
    """The cycle's charges of one service: how many, how many units, how many credits."""

    service: str
    count: int
    units: int
    credits: int


class BillInfo(Result):
    """A post-pay bill: an immutable document; only its payment fields change."""

    id: str
    number: int
    number_text: str  # "B-000042"
    member_id: str
    asset: str
    status: str  # open, paid
    reason: str  # cycle_end, line_nearly_used, staff
    past_due: bool  # open after its due date: the member's credit line is suspended
    lines: list[BillLine]
    credits_charged: int
    credits_applied: int  # charges the member paid from credits of their own, or refunds
    credits_due: int
    amount_minor: int
    currency: str
    credit_price_minor: int
    period_start: datetime
    period_end: datetime
    issued_at: datetime
    due_at: datetime
    paid_at: datetime | None = None
    purchase_id: str | None = None
    grant_transfer_id: str | None = None
    failures: int = 0
    last_failure: str | None = None
