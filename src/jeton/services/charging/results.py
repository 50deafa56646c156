"""What charging returns: catalog loads, checks, receipts, metered uses and rewards.

Pydantic models like services/ledger/results.py, so that the HTTP API serialises them, the
idempotency table stores them (a replayed charge returns the stored receipt, `replayed` set),
and `jeton.Client` parses them back into the very same classes.

Credits are integers in the minor unit of the community's asset; money is `amount_minor` in the
minor unit of `currency`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from jeton.services.ledger.results import LotMoveInfo, Result


class CatalogErrorInfo(Result):
    """One thing wrong in a catalog: its line (0 when none), where, and why."""

    line: int
    where: str
    reason: str


class CatalogLoad(Result):
    """The outcome of loading a catalog: the version now active and what changed."""

    version: int
    changed: bool  # False: the catalog was the active one already; nothing was written
    services: int
    rewards: int
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list)
    dry_run: bool = False


class MoneyInfo(Result):
    currency: str
    amount_minor: int


class ServiceInfo(Result):
    code: str
    name: str
    price_kind: str  # fixed, per_unit
    credits: int  # list price per use or per unit; negative pays the member
    unit_size: int = 1
    unit: str | None = None
    class_credits: dict[str, int] = Field(default_factory=dict)
    money: MoneyInfo | None = None
    access: str = "open"  # open, locked, hidden
    any_of: list[str] = Field(default_factory=list)  # class:NAME, key:NAME, payment
    allowance: str | None = None  # "5 per session, then charge"
    # "party:uploader 30.00%", "account:appstore 1 credit(s)"
    splits: list[str] = Field(default_factory=list)
    retired: bool = False
    definition: dict[str, Any]  # the entry as a catalog file would hold it


class RewardInfo(Result):
    code: str
    name: str
    credits: int
    limit: int
    per: str
    retired: bool = False


class CatalogInfo(Result):
    version: int  # 0: no catalog loaded yet
    loaded_at: datetime | None = None
    services: list[ServiceInfo] = Field(default_factory=list)
    rewards: list[RewardInfo] = Field(default_factory=list)


class PriceInfo(Result):
    """What the units not covered by an allowance cost, and how the price was reached."""

    credits: int  # positive: charged; negative: paid to the member
    money: MoneyInfo | None = None
    quantity: int
    units: int  # uses (fixed) or started units (per_unit)
    unit_credits: int
    price_class: str | None = None  # the class whose price applied; None: the list price
    gross_credits: int
    discount_bp: int = 0
    discount_credits: int = 0


class SplitLine(Result):
    """Where part of a charge goes: `party:uploader` resolved to a member, or an account."""

    target: str  # as in the catalog: party:uploader, account:appstore, account:revenue
    member: str | None = None
    account: str | None = None
    amount: int


class ReasonInfo(Result):
    # not_a_member, no_class, class_expired, no_key, key_expired, insufficient_credits,
    # credit_line_suspended (`name`: the past-due bill's number)
    kind: str
    name: str | None = None
    expired_at: datetime | None = None


class PackSuggestion(Result):
    """A pack the funding side suggests to a member short of credits."""

    id: str
    name: str
    credits: int
    price_minor: int
    currency: str
    bonus_credits: int = 0


class FixInfo(Result):
    """Something that would let the member go ahead."""

    kind: str  # become_member, get_class, get_key, pay, buy_pack, buy_credits
    name: str | None = None  # the class, key or pack
    credits: int | None = None  # buy_credits: the shortfall; get_class: the price with it
    pack: PackSuggestion | None = None


class ExternalPayment(Result):
    """Part of a charge paid by a funding source outside the wallet (a loyalty card)."""

    source: str
    amount: int
    reference: str


class CheckResult(Result):
    """`check`: may the member do it, for how much, paid by which lots; if not, why and what
    would fix it. A check writes nothing."""

    allowed: bool
    status: str  # ok, service_not_found, forbidden, limit_exceeded, insufficient_credits
    member_id: str
    service: str
    quantity: int
    asset: str
    visible: bool = True  # False for a hidden service the member cannot see (and unknown ones)
    price: PriceInfo | None = None
    charge: int = 0  # credits that would be taken
    payout: int = 0  # credits that would be paid to the member (a negative price)
    free_units: int = 0  # units an allowance would cover
    allowance_left: int | None = None  # free units left in the window after it
    window: str | None = None
    splits: list[SplitLine] = Field(default_factory=list)
    lots: list[LotMoveInfo] = Field(default_factory=list)  # the lots that would pay, in spend order
    # what funding sources would pay before the wallet
    external: list[ExternalPayment] = Field(default_factory=list)
    balance: int | None = None  # the member's available credits
    required: int = 0  # what the wallet must cover (after funding sources)
    reasons: list[ReasonInfo] = Field(default_factory=list)
    fixes: list[FixInfo] = Field(default_factory=list)


class ChargeReceipt(Result):
    """`charge`: what was taken, from which lots, and where it went."""

    id: str  # the transfer's id; for a free use (nothing moved) an id of its own
    transfer_id: str | None = None
    member_id: str
    service: str
    quantity: int
    asset: str
    price: PriceInfo
    charged: int  # credits taken (wallet and funding sources together)
    paid_to_member: int = 0  # a negative price: credits paid to the member
    free_units: int = 0
    allowance_left: int | None = None
    window: str | None = None
    # the member's lots that paid (negative) or were credited (a payout)
    lots: list[LotMoveInfo] = Field(default_factory=list)
    splits: list[SplitLine] = Field(default_factory=list)  # sums to `charged`
    external: list[ExternalPayment] = Field(default_factory=list)
    balance_after: int | None = None  # posted balance of the wallet after the charge
    available_after: int | None = None
    context: dict[str, str] = Field(default_factory=dict)
    catalog_version: int
    created_at: datetime
    replayed: bool = False


class MeteredSession(Result):
    """`start_metered`: credits set aside for the estimated use. Finish it with its `id`."""

    id: str  # pass to finish_metered; the ledger hold's id when credits were held
    hold_id: str | None = None  # None: nothing needed holding (free, or a class waives it)
    member_id: str
    service: str
    asset: str
    estimated_quantity: int
    held: int
    price: PriceInfo
    free_units: int = 0
    expires_at: datetime
    lots: list[LotMoveInfo] = Field(default_factory=list)
    replayed: bool = False


class MeteredReceipt(Result):
    """`finish_metered`: the real use captured (with splits), the rest of the hold released."""

    id: str
    hold_id: str | None = None
    transfer_id: str | None = None
    member_id: str
    service: str
    asset: str
    estimated_quantity: int
    actual_quantity: int
    price: PriceInfo
    held: int
    captured: int
    released: int
    uncharged: int = 0  # what the use cost past the hold (a hold is the ceiling)
    free_units: int = 0
    splits: list[SplitLine] = Field(default_factory=list)
    lots: list[LotMoveInfo] = Field(default_factory=list)
    balance_after: int | None = None
    finished_at: datetime
    replayed: bool = False


class RewardResult(Result):
    """`reward`: credits posted to a member, or `limit_exceeded` with nothing written."""

    status: str  # ok, limit_exceeded
    member_id: str
    reward: str
    credits: int  # posted now (0 when refused)
    window: str
    left: int  # rewards of this kind the member can still get in the window
    transfer_id: str | None = None
    balance_after: int | None = None
    replayed: bool = False


class MemberService(Result):
    """One service as a member sees it (`member_catalog`)."""

    code: str
    name: str
    unit: str | None = None
    price_kind: str  # fixed (per use) or per_unit
    unit_size: int = 1
    allowed: bool  # one use now would go ahead (balance aside)
    status: str  # ok, forbidden, limit_exceeded
    price: PriceInfo | None = None  # one use or one unit at this member's price
    charge: int = 0  # credits one use or unit would take (0 when a class or key waives it)
    payout: int = 0  # credits one use would pay the member (a negative price)
    allowance_uses: int | None = None  # free units per window, when the service has some
    allowance_per: str | None = None  # session, day, week or month
    allowance_left: int | None = None  # free units left now (a new session: all of them)
    reasons: list[ReasonInfo] = Field(default_factory=list)  # when not allowed: why
    fixes: list[FixInfo] = Field(default_factory=list)  # when not allowed: what would let in
    upgrades: list[FixInfo] = Field(default_factory=list)  # classes or keys that cost less


class MemberCatalog(Result):
    """The services a member can see, at their price; hidden ones they cannot see left out."""

    member_id: str
    asset: str
    version: int  # the catalog version (0: none loaded)
    balance: int  # the member's available credits
    services: list[MemberService] = Field(default_factory=list)


class WalletFreeze(Result):
    """Whether staff froze a member's wallet, by whom and why (services/charging/protection.py).
    While frozen nothing leaves it: no spend, charge, capture, transfer out or purchase."""

    member_id: str
    frozen: bool
    reason: str = ""
    frozen_by: str = ""
    frozen_at: datetime | None = None


class VelocityLimit(Result):
    """Credits a member may spend per hour and per UTC day, on every service (`service` None)
    or on one; members who joined less than `new_member_days` ago get the `new_member_` figures
    where set. None: no limit for that window."""

    asset: str = "CREDIT"
    service: str | None = None
    per_hour: int | None = None
    per_day: int | None = None
    new_member_per_hour: int | None = None
    new_member_per_day: int | None = None


class KeyBudget(Result):
    """What an API key may spend of members' credits per `period` (hour, UTC day or UTC
    month): `per_key` for every member together, `per_member` for each (None: no such limit),
    and what it used in the window now running (`used`; `member_used` for the member asked
    about). The window ends, and the use starts again from 0, at `window_end`."""

    key_id: str
    asset: str = "CREDIT"
    period: str = "day"
    per_key: int | None = None
    per_member: int | None = None
    used: int = 0
    window_start: datetime
    window_end: datetime
    member_id: str | None = None
    member_used: int | None = None


class SpendingLimits(Result):
    """A community's velocity limits and how it treats members who trip them."""

    new_member_days: int = 0
    alert_after_trips: int = 3
    limits: list[VelocityLimit] = Field(default_factory=list)


class ServicePreview(Result):
    """One service's charges of the window, as charged then and as the new catalog would
    charge them (services/charging/preview.py). A payout to the member counts negative."""

    service: str
    name: str  # the new catalog's name; the active one's for a removed service
    status: str  # unchanged, changed, added (not in the active catalog) or removed
    charges: int
    quantity: int  # the quantity of those charges, free units included
    credits_then: int
    credits_new: int
    difference: int  # credits_new - credits_then
    refused: int = 0  # charges the new catalog would refuse (removed, forbidden, ...)


class MemberPreview(Result):
    """One member's charges of the window then and under the new catalog, and whether the
    new price of their most recent charge would be declined today (decision 0065)."""

    member_id: str
    charges: int
    credits_then: int
    credits_new: int
    difference: int
    last_service: str  # the member's most recent charge of the window
    last_charged_at: datetime
    last_credits_new: int  # what that charge would cost under the new catalog
    available: int  # what the wallet can pay for `last_service` now
    would_be_declined: bool
    # insufficient_credits (last_credits_new > available), or why the new catalog refuses
    # the charge at all: service_not_found, forbidden, split_invalid, value_invalid.
    decline_reason: str | None = None


class CatalogPreview(Result):
    """The charges of the last `days` replayed through a new catalog. Writes nothing."""

    days: int
    since: datetime
    until: datetime
    asset: str
    catalog_version: int  # the active version the new catalog is compared with
    charges: int  # charges replayed
    charges_max: int
    truncated: bool  # more charges in the window than charges_max: the newest were replayed
    metered_not_replayed: int = 0  # metered captures of the window, left out (decision 0065)
    credits_then: int
    credits_new: int
    difference: int
    members_total: int
    members_declined: int
    services: list[ServicePreview] = Field(default_factory=list)
    members: list[MemberPreview] = Field(default_factory=list)  # most affected first
    members_truncated: bool = False  # more than members_max members: the rest are left out
    added: list[str] = Field(default_factory=list)  # services new in this catalog
    changed: list[str] = Field(default_factory=list)  # services whose definition changes
    removed: list[str] = Field(default_factory=list)  # active services it leaves out


class LeaseInfo(Result):
    """A sub-leased area of the catalog (services/charging/leases.py)."""

    id: str
    area: str  # the services whose code starts with this (`files.lib42.`)
    operator_id: str  # the member who runs it and is paid `share_bp` of each charge
    share_bp: int
    price_min: int  # every credit price the operator sets is within [price_min, price_max]
    price_max: int
    kinds: list[str]  # price kinds the operator may use: fixed, per_unit
    active: bool
    staff_user_id: str | None = None  # the operator's dashboard account, once bound
    created_by: str
    started_at: datetime
    ended_at: datetime | None = None
    ended_by: str | None = None
    end_reason: str | None = None


class AreaMember(Result):
    member_id: str
    uses: int
    credits: int


class AreaService(Result):
    service: str
    uses: int
    credits: int
    earned: int


class AreaReport(Result):
    """What a leased area did while the lease ran (up to now, or to its end)."""

    lease_id: str
    area: str
    operator_id: str
    since: datetime
    until: datetime
    uses: int  # charges in the area
    credits_charged: int  # what members paid for them
    credits_earned: int  # what the operator was paid: the lease's share
    services: list[AreaService]
    top_members: list[AreaMember]  # by credits charged, at most 10
