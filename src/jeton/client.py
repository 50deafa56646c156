"""`jeton.Client`: a community's methods over the HTTP API, with the same names, parameters,
results and exceptions as `jeton.app.Community`, so code moves from embedded to remote by
changing the line that makes the object:

    chat = jeton.open("sqlite:///jeton.db").community("chat")      # in-process
    chat = jeton.Client("https://credits.example", "jtk_live_...")  # over HTTP

    chat.spend("alice", 3, service="files.download", idempotency_key="dl-1")

Writes require an `idempotency_key`, as in-process; it travels as the `Idempotency-Key` header,
and every retry of the call sends the same one, so a retry never doubles a write. Calls are
retried on timeouts, connection errors, 5xx, 429 and "a request with this key is in flight",
with exponential backoff and jitter, at most `max_retries` times. Errors come back as the same
`jeton.core.errors` exceptions, with the same `status` and `extra` fields.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, RootModel
from pydantic_core import to_jsonable_python

from jeton.core import limits
from jeton.core.catalog import Catalog, Service
from jeton.core.errors import JetonError, error_for
from jeton.core.rewards import Reward
from jeton.core.statuses import Status
from jeton.services.access.api_keys import ApiKeyCreated, ApiKeyInfo
from jeton.services.access.member_links import MemberLink
from jeton.services.access.staff import StaffUser
from jeton.services.charging.results import (
    AreaReport,
    CatalogInfo,
    CatalogLoad,
    CatalogPreview,
    ChargeReceipt,
    CheckResult,
    KeyBudget,
    LeaseInfo,
    MemberCatalog,
    MeteredReceipt,
    MeteredSession,
    RewardResult,
    ServiceInfo,
    SpendingLimits,
    VelocityLimit,
    WalletFreeze,
)
from jeton.services.funding.results import (
    AffiliateCodes,
    AffiliateProgram,
    AutoRechargeInfo,
    BillInfo,
    BillingSettings,
    Checkout,
    CouponInfo,
    Entitlement,
    MemberHoldings,
    PackInfo,
    PaymentProfile,
    PlanInfo,
    PurchaseInfo,
    Redemption,
    RefundInfo,
    RoleLimit,
    SignupBonus,
    SubscriptionInfo,
    TransferLimits,
)
from jeton.services.gamification.results import (
    AwardInfo,
    GamificationRules,
    Leaderboard,
    MemberAchievements,
)
from jeton.services.ledger.clocks import ClockAdvance, ClockInfo
from jeton.services.ledger.results import (
    AccountInfo,
    AssetInfo,
    Balance,
    BalanceAt,
    BalanceHistory,
    BatchItem,
    CommunityInfo,
    HoldResult,
    LotInfo,
    MemberInfo,
    Page,
    SpendRequest,
    Split,
    StatementLine,
    TransferResult,
)
from jeton.services.reports.overview import Overview
from jeton.services.reports.results import Report

if TYPE_CHECKING:  # loaded on first use (`import jeton` does not load the webhooks service)
    from jeton.services.events.results import (
        DeliveryInfo,
        EndpointInfo,
        EndpointWithSecret,
        EventInfo,
        LowBalanceAlert,
        LowBalanceLevels,
    )
    from jeton.services.funding.receipt_keys import ReceiptKeys
    from jeton.services.funding.receipts import Receipt

M = TypeVar("M", bound=BaseModel)

_KEY_HEADER = "Idempotency-Key"
_REPLAYED_HEADER = "Idempotent-Replayed"
_PROBLEM_FIELDS = frozenset({"type", "title", "status", "detail", "code", "instance"})
_BACKOFF_BASE_S = 0.1
# The actor a Community call records when none is given; the server records the API key then.
_DEFAULT_ACTOR = "system"


class Client:
    """One community over HTTP, through one of its API keys. Thread-safe (one connection pool);
    close it, or use it as a context manager."""

    def __init__(self, base_url: str, api_key: str, *,
                 timeout: float = limits.client_timeout_s_default,
                 max_retries: int = limits.client_retries_max, asset: str = "CREDIT",
                 transport: httpx.BaseTransport | None = None) -> None:
        from jeton import __version__

        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        self.asset = asset
        self.max_retries = max_retries
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {api_key}",
                     "User-Agent": f"jeton-python/{__version__}"})

    def __repr__(self) -> str:
        return f"Client({str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- setup ----

    def info(self) -> CommunityInfo:
        return self._get("/v1/community", CommunityInfo)

    def create_asset(self, code: str, scale: int = 0, name: str = "") -> AssetInfo:
        return self._post("/v1/assets", {"code": code, "scale": scale, "name": name},
                          AssetInfo)

    def assets(self) -> list[AssetInfo]:
        return self._get("/v1/assets", Page[AssetInfo]).data

    def create_account(self, name: str, *, asset: str | None = None) -> AccountInfo:
        return self._post("/v1/accounts", {"name": name, "asset": asset or self.asset},
                          AccountInfo)

    def create_member(self, member_id: str, *, name: str = "", email: str | None = None,
                      metadata: dict[str, Any] | None = None) -> MemberInfo:
        return self._post("/v1/members", {"id": member_id, "name": name, "email": email,
                                          "metadata": metadata or {}}, MemberInfo)

    def get_member(self, member_id: str) -> MemberInfo:
        return self._get(f"/v1/members/{_seg(member_id)}", MemberInfo)

    def list_members(self, *, limit: int = limits.page_size_default,
                     starting_after: str | None = None,
                     search: str | None = None) -> Page[MemberInfo]:
        return self._get("/v1/members", Page[MemberInfo], limit=limit,
                         starting_after=starting_after, search=search)

    def set_credit_line(self, member_id: str, floor: int, *, asset: str | None = None) -> Balance:
        return self._post(f"/v1/members/{_seg(member_id)}/credit_line",
                          {"floor": floor, "asset": asset or self.asset}, Balance)

    # ---- credits ----

    def grant(self, member_id: str, amount: int, *, idempotency_key: str,
              asset: str | None = None, source: str = "grant", paid: bool = False,
              cost_minor: int = 0, cost_currency: str | None = None,
              expires_at: datetime | None = None, priority: int = 0, scope: str | None = None,
              actor: str = _DEFAULT_ACTOR, reason_code: str = "grant", memo: str = "",
              metadata: dict[str, Any] | None = None) -> TransferResult:
        body = {"member": member_id, "amount": amount, "asset": asset or self.asset,
                "source": source, "paid": paid, "cost_minor": cost_minor,
                "cost_currency": cost_currency, "expires_at": expires_at, "priority": priority,
                "scope": scope, "reason_code": reason_code, "memo": memo,
                "metadata": metadata or {}, **_actor(actor)}
        return self._post("/v1/grants", body, TransferResult, idempotency_key)

    def spend(self, member_id: str, amount: int, *, idempotency_key: str,
              asset: str | None = None, service: str | None = None,
              splits: Sequence[Split | dict[str, Any]] = (), actor: str = _DEFAULT_ACTOR,
              reason_code: str = "spend", memo: str = "",
              metadata: dict[str, Any] | None = None) -> TransferResult:
        body = {"member": member_id, "amount": amount, "asset": asset or self.asset,
                "service": service, "splits": _splits(splits), "reason_code": reason_code,
                "memo": memo, "metadata": metadata or {}, **_actor(actor)}
        return self._post("/v1/spends", body, TransferResult, idempotency_key)

    def spend_batch(self, items: Sequence[SpendRequest | dict[str, Any]], *,
                    actor: str = _DEFAULT_ACTOR) -> list[BatchItem]:
        """Each item carries its own idempotency key; the batch request gets one of its own,
        made here, so that retries of this call replay it."""
        body = {"items": [i.model_dump() if isinstance(i, SpendRequest) else dict(i)
                          for i in items], **_actor(actor)}
        return self._post("/v1/spends/batch", body, _BatchResult).data

    def transfer(self, from_member: str, to_member: str, amount: int, *, idempotency_key: str,
                 asset: str | None = None, fee: int | None = None, actor: str = _DEFAULT_ACTOR,
                 memo: str = "", metadata: dict[str, Any] | None = None) -> TransferResult:
        body = {"from_member": from_member, "to_member": to_member, "amount": amount,
                "asset": asset or self.asset, "fee": fee, "memo": memo,
                "metadata": metadata or {}, **_actor(actor)}
        return self._post("/v1/transfers", body, TransferResult, idempotency_key)

    def hold(self, member_id: str, amount: int, *, idempotency_key: str,
             asset: str | None = None, service: str | None = None,
             timeout_s: int = limits.hold_timeout_s_default, actor: str = _DEFAULT_ACTOR,
             metadata: dict[str, Any] | None = None) -> HoldResult:
        body = {"member": member_id, "amount": amount, "asset": asset or self.asset,
                "service": service, "timeout_s": timeout_s, "metadata": metadata or {},
                **_actor(actor)}
        return self._post("/v1/holds", body, HoldResult, idempotency_key)

    def capture(self, hold_id: str, amount: int, *, idempotency_key: str, final: bool = True,
                splits: Sequence[Split | dict[str, Any]] = (), actor: str = _DEFAULT_ACTOR,
                memo: str = "") -> HoldResult:
        body = {"amount": amount, "final": final, "splits": _splits(splits), "memo": memo,
                **_actor(actor)}
        return self._post(f"/v1/holds/{_seg(hold_id)}/capture", body, HoldResult,
                          idempotency_key)

    def void(self, hold_id: str, *, idempotency_key: str,
             actor: str = _DEFAULT_ACTOR) -> HoldResult:
        return self._post(f"/v1/holds/{_seg(hold_id)}/void", _actor(actor), HoldResult,
                          idempotency_key)

    def get_hold(self, hold_id: str) -> HoldResult:
        return self._get(f"/v1/holds/{_seg(hold_id)}", HoldResult)

    def reverse(self, transfer_id: str, *, idempotency_key: str, actor: str = _DEFAULT_ACTOR,
                reason_code: str = "reversal", memo: str = "") -> TransferResult:
        body = {"reason_code": reason_code, "memo": memo, **_actor(actor)}
        return self._post(f"/v1/transfers/{_seg(transfer_id)}/reverse", body, TransferResult,
                          idempotency_key)

    # ---- reads ----

    def balance(self, member_id: str, *, asset: str | None = None) -> Balance:
        return self._get(f"/v1/members/{_seg(member_id)}/balance", Balance,
                         asset=asset or self.asset)

    def balance_at(self, member_id: str, as_of: datetime, *,
                   asset: str | None = None) -> BalanceAt:
        """The member's posted balance at the instant `as_of`, from the journal."""
        return self._get(f"/v1/members/{_seg(member_id)}/balance", BalanceAt,
                         asset=asset or self.asset, as_of=_instant(as_of))

    def balance_history(self, member_id: str, since: datetime, until: datetime, *,
                        interval: Literal["hour", "day"] = "day",
                        asset: str | None = None) -> BalanceHistory:
        """The member's posted balance at `since` and at the end of each hour or day up to
        `until` (at most `limits.balance_history_points_max` points)."""
        return self._get(f"/v1/members/{_seg(member_id)}/balance/history", BalanceHistory,
                         asset=asset or self.asset, interval=interval,
                         **{"from": _instant(since), "to": _instant(until)})

    def account_balance(self, account: str, *, asset: str | None = None) -> Balance:
        """A system or named account: `revenue`, `breakage`, `appstore`..."""
        return self._get(f"/v1/accounts/{_seg(account)}/balance", Balance,
                         asset=asset or self.asset)

    def lots(self, member_id: str, *, asset: str | None = None,
             include_empty: bool = False) -> list[LotInfo]:
        return self._get(f"/v1/members/{_seg(member_id)}/lots", Page[LotInfo],
                         asset=asset or self.asset,
                         include_empty="true" if include_empty else "false").data

    def statement(self, member_id: str, *, asset: str | None = None,
                  limit: int = limits.page_size_default,
                  starting_after: str | None = None) -> Page[StatementLine]:
        return self._get(f"/v1/members/{_seg(member_id)}/statement", Page[StatementLine],
                         asset=asset or self.asset, limit=limit, starting_after=starting_after)

    def get_transfer(self, transfer_id: str) -> TransferResult:
        return self._get(f"/v1/transfers/{_seg(transfer_id)}", TransferResult)

    # ---- receipts ----

    def receipt(self, transfer_id: str) -> Receipt:
        """The signed receipt of a transfer about a member (docs/api/receipts.md)."""
        from jeton.services.funding.receipts import Receipt

        return self._get(f"/v1/transfers/{_seg(transfer_id)}/receipt", Receipt)

    def purchase_receipt(self, purchase_id: str) -> Receipt:
        from jeton.services.funding.receipts import Receipt

        return self._get(f"/v1/purchases/{_seg(purchase_id)}/receipt", Receipt)

    def receipt_keys(self) -> ReceiptKeys:
        from jeton.services.funding.receipt_keys import ReceiptKeys

        return self._get("/v1/receipt_keys", ReceiptKeys)

    def rotate_receipt_key(self, *, idempotency_key: str | None = None) -> ReceiptKeys:
        from jeton.services.funding.receipt_keys import ReceiptKeys

        return self._post("/v1/receipt_keys/rotate", {}, ReceiptKeys, idempotency_key)

    # ---- API keys (HTTP only: in-process code needs none) ----

    def create_api_key(self, name: str, scopes: Sequence[str], *,
                       idempotency_key: str | None = None) -> ApiKeyCreated:
        return self._post("/v1/api_keys", {"name": name, "scopes": list(scopes)},
                          ApiKeyCreated, idempotency_key)

    def list_api_keys(self, *, limit: int = limits.page_size_default,
                      starting_after: str | None = None) -> Page[ApiKeyInfo]:
        return self._get("/v1/api_keys", Page[ApiKeyInfo], limit=limit,
                         starting_after=starting_after)

    def revoke_api_key(self, key_id: str) -> ApiKeyInfo:
        return self._post(f"/v1/api_keys/{_seg(key_id)}/revoke", {}, ApiKeyInfo)

    # ---- test clocks (docs/api/test-clocks.md) ----

    def test_clock(self) -> ClockInfo:
        return self._get("/v1/test_clock", ClockInfo)

    def advance_test_clock(self, *, to: datetime | None = None, seconds: int | None = None,
                           idempotency_key: str) -> ClockAdvance:
        return self._post("/v1/test_clock/advance", {"to": to, "seconds": seconds},
                          ClockAdvance, idempotency_key)

    # ---- funding: packs, purchases, refunds, plans, auto-recharge, coupons, settings ----
    # Over HTTP: docs/api/packs.md, purchases.md, plans-and-subscriptions.md, auto-recharge.md,
    # coupons.md, settings.md. `run_funding_jobs` is in-process only (`jeton worker` runs it).

    def create_pack(self, name: str, *, credits: int, price_minor: int, currency: str = "USD",
                    pack_id: str | None = None, asset: str | None = None,
                    bonus_credits: int = 0, bonus_expiry_days: int | None = None,
                    credit_expiry_days: int | None = None, classes: Any = None,
                    keys: Any = None, visible_to: Any = None, sort_order: int = 0) -> PackInfo:
        body = {"name": name, "credits": credits, "price_minor": price_minor,
                "currency": currency, "pack_id": pack_id, "asset": asset or self.asset,
                "bonus_credits": bonus_credits, "bonus_expiry_days": bonus_expiry_days,
                "credit_expiry_days": credit_expiry_days, "classes": _entitlements(classes),
                "keys": _entitlements(keys),
                "visible_to": [] if visible_to is None else visible_to,
                "sort_order": sort_order}
        return self._post("/v1/packs", body, PackInfo)

    def list_packs(self, member_id: str | None = None, *,
                   include_inactive: bool = False) -> list[PackInfo]:
        return self._get("/v1/packs", Page[PackInfo], member=member_id,
                         include_inactive=_flag(include_inactive)).data

    def get_pack(self, pack_id: str) -> PackInfo:
        return self._get(f"/v1/packs/{_seg(pack_id)}", PackInfo)

    def set_pack_active(self, pack_id: str, active: bool) -> PackInfo:
        action = "activate" if active else "retire"
        return self._post(f"/v1/packs/{_seg(pack_id)}/{action}", {}, PackInfo)

    def buy_pack(self, member_id: str, pack_id: str, *, idempotency_key: str,
                 success_url: str | None = None, cancel_url: str | None = None,
                 provider: str | None = None, save_payment_method: bool = False) -> Checkout:
        body = {"member": member_id, "pack_id": pack_id, "success_url": success_url,
                "cancel_url": cancel_url, "provider": provider,
                "save_payment_method": save_payment_method}
        return self._post("/v1/purchases", body, Checkout, idempotency_key)

    def record_offline_payment(self, purchase_id: str, *, reference: str,
                               actor: str = "staff") -> PurchaseInfo:
        body = {"reference": reference, **({} if actor == "staff" else {"actor": actor})}
        return self._post(f"/v1/purchases/{_seg(purchase_id)}/offline_payment", body,
                          PurchaseInfo)

    def get_purchase(self, purchase_id: str) -> PurchaseInfo:
        return self._get(f"/v1/purchases/{_seg(purchase_id)}", PurchaseInfo)

    def list_purchases(self, member_id: str | None = None, *,
                       limit: int = limits.page_size_default,
                       starting_after: str | None = None) -> Page[PurchaseInfo]:
        return self._get("/v1/purchases", Page[PurchaseInfo], member=member_id, limit=limit,
                         starting_after=starting_after)

    # ---- sub-leased areas (docs/api/leases.md) ----

    def create_lease(self, area: str, operator: str, *, share_bp: int, price_min: int,
                     price_max: int, kinds: list[str] | None = None, idempotency_key: str,
                     actor: StaffUser | str = "owner") -> LeaseInfo:
        body = {"area": area, "operator": operator, "share_bp": share_bp,
                "price_min": price_min, "price_max": price_max, "kinds": kinds,
                "actor": _who(actor)}
        return self._post("/v1/leases", body, LeaseInfo, idempotency_key)

    def end_lease(self, lease_id: str, *, reason: str,
                  actor: StaffUser | str = "owner") -> LeaseInfo:
        return self._post(f"/v1/leases/{_seg(lease_id)}/end",
                          {"reason": reason, "actor": _who(actor)}, LeaseInfo)

    def get_lease(self, lease_id: str) -> LeaseInfo:
        return self._get(f"/v1/leases/{_seg(lease_id)}", LeaseInfo)

    def list_leases(self, *, active_only: bool = False,
                    operator: str | None = None) -> list[LeaseInfo]:
        found = self._get("/v1/leases", _LeaseList, active_only=_flag(active_only),
                          operator=operator)
        return list(found.root)

    def bind_lease_staff(self, lease_id: str, *, email: str,
                         actor: StaffUser | str = "owner") -> LeaseInfo:
        return self._post(f"/v1/leases/{_seg(lease_id)}/staff",
                          {"email": email, "actor": _who(actor)}, LeaseInfo)

    def set_area_service(self, lease_id: str, code: str, entry: dict[str, Any], *,
                         actor: StaffUser | str = "operator") -> ServiceInfo:
        return self._post(f"/v1/leases/{_seg(lease_id)}/services/{_seg(code)}",
                          {**entry, "actor": _who(actor)}, ServiceInfo)

    def area_report(self, lease_id: str) -> AreaReport:
        return self._get(f"/v1/leases/{_seg(lease_id)}/report", AreaReport)

    # ---- post-pay bills (docs/api/bills.md) ----

    def set_billing_settings(self, *, credit_price_minor: int, currency: str = "USD",
                             cycle: str = "month", grace_days: int = 7,
                             bill_at_percent: int | None = 90, provider: str | None = None,
                             asset: str | None = None) -> BillingSettings:
        body = {"credit_price_minor": credit_price_minor, "currency": currency, "cycle": cycle,
                "grace_days": grace_days, "bill_at_percent": bill_at_percent,
                "provider": provider, "asset": asset or self.asset}
        return self._post("/v1/settings/billing", body, BillingSettings)

    def billing_settings(self, *, asset: str | None = None) -> BillingSettings:
        return self._get("/v1/settings/billing", BillingSettings, asset=asset or self.asset)

    def issue_bill(self, member_id: str, *, idempotency_key: str,
                   asset: str | None = None) -> BillInfo:
        return self._post(f"/v1/members/{_seg(member_id)}/bills", {"asset": asset or self.asset},
                          BillInfo, idempotency_key)

    def get_bill(self, bill_id: str) -> BillInfo:
        return self._get(f"/v1/bills/{_seg(bill_id)}", BillInfo)

    def list_bills(self, member_id: str | None = None, *, status: str | None = None,
                   limit: int = limits.page_size_default,
                   starting_after: str | None = None) -> Page[BillInfo]:
        return self._get("/v1/bills", Page[BillInfo], member=member_id, status=status,
                         limit=limit, starting_after=starting_after)

    def pay_bill(self, bill_id: str, *, provider: str | None = None,
                 success_url: str | None = None, cancel_url: str | None = None,
                 save_payment_method: bool = False) -> Checkout:
        body = {"provider": provider, "success_url": success_url, "cancel_url": cancel_url,
                "save_payment_method": save_payment_method}
        return self._post(f"/v1/bills/{_seg(bill_id)}/pay", body, Checkout)

    def bill_csv(self, bill_id: str) -> str:
        """The bill as a CSV document. Not retried."""
        response = self._http.get(f"/v1/bills/{_seg(bill_id)}.csv")
        if not response.is_success:
            raise error_from(response)
        return response.text

    def set_payment_method(self, member_id: str, *, provider: str, customer_id: str,
                           payment_method_id: str) -> PaymentProfile:
        body = {"provider": provider, "customer_id": customer_id,
                "payment_method_id": payment_method_id}
        return self._post(f"/v1/members/{_seg(member_id)}/payment_method", body,
                          PaymentProfile)

    def refund_purchase(self, purchase_id: str, *, idempotency_key: str,
                        amount_minor: int | None = None, actor: str = _DEFAULT_ACTOR,
                        reason: str = "") -> RefundInfo:
        body = {"amount_minor": amount_minor, "reason": reason, **_actor(actor)}
        return self._post(f"/v1/purchases/{_seg(purchase_id)}/refund", body, RefundInfo,
                          idempotency_key)

    def refund_as_credits(self, purchase_id: str, *, idempotency_key: str,
                          amount_minor: int | None = None, credits: int | None = None,
                          actor: str = _DEFAULT_ACTOR, reason: str = "") -> RefundInfo:
        body = {"amount_minor": amount_minor, "credits": credits, "reason": reason,
                **_actor(actor)}
        return self._post(f"/v1/purchases/{_seg(purchase_id)}/refund_as_credits", body,
                          RefundInfo, idempotency_key)

    def refund_charge(self, transfer_id: str, *, idempotency_key: str,
                      actor: str = _DEFAULT_ACTOR, reason: str = "") -> TransferResult:
        body = {"reason": reason, **_actor(actor)}
        return self._post(f"/v1/transfers/{_seg(transfer_id)}/refund", body, TransferResult,
                          idempotency_key)

    def create_plan(self, name: str, *, cycle: str, credits: int, price_minor: int,
                    currency: str = "USD", plan_id: str | None = None,
                    asset: str | None = None, member_class: str | None = None,
                    discount_bp: int = 0) -> PlanInfo:
        body = {"name": name, "cycle": cycle, "credits": credits, "price_minor": price_minor,
                "currency": currency, "plan_id": plan_id, "asset": asset or self.asset,
                "member_class": member_class, "discount_bp": discount_bp}
        return self._post("/v1/plans", body, PlanInfo)

    def list_plans(self, *, include_inactive: bool = False) -> list[PlanInfo]:
        return self._get("/v1/plans", Page[PlanInfo],
                         include_inactive=_flag(include_inactive)).data

    def set_plan_active(self, plan_id: str, active: bool) -> PlanInfo:
        action = "activate" if active else "retire"
        return self._post(f"/v1/plans/{_seg(plan_id)}/{action}", {}, PlanInfo)

    def subscribe(self, member_id: str, plan_id: str, *, idempotency_key: str,
                  start_at: datetime | None = None, provider: str | None = None,
                  success_url: str | None = None,
                  cancel_url: str | None = None) -> SubscriptionInfo:
        body = {"member": member_id, "plan_id": plan_id, "start_at": start_at,
                "provider": provider, "success_url": success_url, "cancel_url": cancel_url}
        return self._post("/v1/subscriptions", body, SubscriptionInfo, idempotency_key)

    def cancel_subscription(self, subscription_id: str, *, at_period_end: bool = True,
                            actor: str = _DEFAULT_ACTOR) -> SubscriptionInfo:
        body = {"at_period_end": at_period_end, **_actor(actor)}
        return self._post(f"/v1/subscriptions/{_seg(subscription_id)}/cancel", body,
                          SubscriptionInfo)

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        return self._get(f"/v1/subscriptions/{_seg(subscription_id)}", SubscriptionInfo)

    def list_subscriptions(self, member_id: str | None = None) -> list[SubscriptionInfo]:
        return self._get("/v1/subscriptions", Page[SubscriptionInfo], member=member_id).data

    def set_auto_recharge(self, member_id: str, *, pack_id: str, threshold: int,
                          monthly_cap: int, enabled: bool = True,
                          provider: str | None = None,
                          target: int | None = None) -> AutoRechargeInfo:
        body = {"pack_id": pack_id, "threshold": threshold, "monthly_cap": monthly_cap,
                "enabled": enabled, "provider": provider, "target": target}
        return self._post(f"/v1/members/{_seg(member_id)}/auto_recharge", body,
                          AutoRechargeInfo)

    def get_auto_recharge(self, member_id: str, *,
                          asset: str | None = None) -> AutoRechargeInfo | None:
        return self._get(f"/v1/members/{_seg(member_id)}/auto_recharge", _MaybeAutoRecharge,
                         asset=asset or self.asset).root

    def set_signup_bonus(self, amount: int, *, expiry_days: int | None = None,
                         asset: str | None = None) -> SignupBonus:
        body = {"amount": amount, "expiry_days": expiry_days, "asset": asset or self.asset}
        return self._post("/v1/settings/signup_bonus", body, SignupBonus)

    def get_signup_bonus(self) -> SignupBonus:
        return self._get("/v1/settings/signup_bonus", SignupBonus)

    def staff_grant(self, member_id: str, amount: int, *, actor: StaffUser | str, reason: str,
                    idempotency_key: str, role: str | None = None, asset: str | None = None,
                    expires_at: datetime | None = None) -> TransferResult:
        """A staff user of the host app posts credits, within their role's limit."""
        body = {"member": member_id, "amount": amount, "reason": reason,
                "asset": asset or self.asset, "expires_at": expires_at,
                **_staff(actor, role)}
        return self._post("/v1/staff_grants", body, TransferResult, idempotency_key)

    def staff_charge(self, member_id: str, amount: int, *, actor: StaffUser | str,
                     reason: str, idempotency_key: str, role: str | None = None,
                     asset: str | None = None) -> TransferResult:
        body = {"member": member_id, "amount": amount, "reason": reason,
                "asset": asset or self.asset, **_staff(actor, role)}
        return self._post("/v1/staff_charges", body, TransferResult, idempotency_key)

    def set_role_limit(self, role: str, amount: int, *, period: str = "day",
                       asset: str | None = None) -> RoleLimit:
        body = {"role": role, "amount": amount, "period": period, "asset": asset or self.asset}
        return self._post("/v1/settings/role_limits", body, RoleLimit)

    def set_transfer_limits(self, *, per_day: int | None = None, per_month: int | None = None,
                            fee_fixed: int = 0, fee_bp: int = 0,
                            asset: str | None = None) -> TransferLimits:
        body = {"per_day": per_day, "per_month": per_month, "fee_fixed": fee_fixed,
                "fee_bp": fee_bp, "asset": asset or self.asset}
        return self._post("/v1/settings/transfer_limits", body, TransferLimits)

    def get_transfer_limits(self, *, asset: str | None = None) -> TransferLimits:
        return self._get("/v1/settings/transfer_limits", TransferLimits,
                         asset=asset or self.asset)

    # ---- protection: frozen wallets, velocity limits ----

    def freeze_wallet(self, member_id: str, *, reason: str,
                      actor: StaffUser | str) -> WalletFreeze:
        """Stop the member's wallet (no spend, charge, transfer out or purchase), audited."""
        body = {"reason": reason, "actor": _staff(actor, None)["actor"]}
        return self._post(f"/v1/members/{_seg(member_id)}/freeze", body, WalletFreeze)

    def unfreeze_wallet(self, member_id: str, *, reason: str,
                        actor: StaffUser | str) -> WalletFreeze:
        body = {"reason": reason, "actor": _staff(actor, None)["actor"]}
        return self._post(f"/v1/members/{_seg(member_id)}/unfreeze", body, WalletFreeze)

    def get_wallet_freeze(self, member_id: str) -> WalletFreeze:
        return self._get(f"/v1/members/{_seg(member_id)}/freeze", WalletFreeze)

    def set_velocity_limit(self, *, service: str | None = None, per_hour: int | None = None,
                           per_day: int | None = None, new_member_per_hour: int | None = None,
                           new_member_per_day: int | None = None, asset: str | None = None,
                           actor: str | None = None) -> VelocityLimit:
        """`actor` is recorded by the server as the API key; the argument is for parity."""
        body = {"service": service, "per_hour": per_hour, "per_day": per_day,
                "new_member_per_hour": new_member_per_hour,
                "new_member_per_day": new_member_per_day, "asset": asset or self.asset}
        return self._post("/v1/settings/spending_limits", body, VelocityLimit)

    def set_spending_settings(self, *, new_member_days: int | None = None,
                              alert_after_trips: int | None = None,
                              actor: str | None = None) -> SpendingLimits:
        body = {"new_member_days": new_member_days, "alert_after_trips": alert_after_trips}
        return self._post("/v1/settings/spending", body, SpendingLimits)

    def spending_limits(self) -> SpendingLimits:
        return self._get("/v1/settings/spending_limits", SpendingLimits)

    def set_key_budget(self, key_id: str, *, period: str = "day", per_key: int | None = None,
                       per_member: int | None = None, asset: str | None = None,
                       actor: str | None = None) -> KeyBudget:
        """`actor` is recorded by the server as the API key; the argument is for parity."""
        body = {"period": period, "per_key": per_key, "per_member": per_member,
                "asset": asset or self.asset}
        return self._post(f"/v1/api_keys/{_seg(key_id)}/budget", body, KeyBudget)

    def key_budget(self, key_id: str, *, member_id: str | None = None,
                   asset: str | None = None) -> KeyBudget:
        return self._get(f"/v1/api_keys/{_seg(key_id)}/budget", KeyBudget,
                         member=member_id, asset=asset or self.asset)

    def own_key_budget(self, *, member_id: str | None = None,
                       asset: str | None = None) -> KeyBudget:
        """The budget of the key this client calls with, and what it used."""
        return self._get("/v1/api_key/budget", KeyBudget, member=member_id,
                         asset=asset or self.asset)

    def create_coupon(self, code: str | None = None, *, credits: int = 0,
                      asset: str | None = None, credit_expiry_days: int | None = None,
                      classes: Any = None, keys: Any = None,
                      max_redemptions: int | None = None, per_member_limit: int = 1,
                      expires_at: datetime | None = None) -> CouponInfo:
        body = {"code": code, "credits": credits, "asset": asset or self.asset,
                "credit_expiry_days": credit_expiry_days, "classes": _entitlements(classes),
                "keys": _entitlements(keys), "max_redemptions": max_redemptions,
                "per_member_limit": per_member_limit, "expires_at": expires_at}
        return self._post("/v1/coupons", body, CouponInfo)

    def get_coupon(self, code: str) -> CouponInfo:
        return self._get(f"/v1/coupons/{_seg(code.strip())}", CouponInfo)

    def redeem_coupon(self, member_id: str, code: str, *, idempotency_key: str) -> Redemption:
        return self._post(f"/v1/coupons/{_seg(code.strip())}/redeem", {"member": member_id},
                          Redemption, idempotency_key)

    def set_affiliate_program(self, program: AffiliateProgram) -> AffiliateProgram:
        return self._post("/v1/affiliate_program", program.model_dump(mode="json"),
                          AffiliateProgram)

    def create_affiliate_codes(self, member_id: str, count: int, *,
                               idempotency_key: str) -> AffiliateCodes:
        return self._post(f"/v1/members/{_seg(member_id)}/affiliate_codes", {"count": count},
                          AffiliateCodes, idempotency_key)

    def grant_class(self, member_id: str, name: str, *,
                    expires_at: datetime | None = None) -> MemberHoldings:
        return self._post(f"/v1/members/{_seg(member_id)}/classes",
                          {"name": name, "expires_at": expires_at}, MemberHoldings)

    def grant_key(self, member_id: str, name: str, *,
                  expires_at: datetime | None = None) -> MemberHoldings:
        return self._post(f"/v1/members/{_seg(member_id)}/keys",
                          {"name": name, "expires_at": expires_at}, MemberHoldings)

    def member_holdings(self, member_id: str, *, live_only: bool = True) -> MemberHoldings:
        return self._get(f"/v1/members/{_seg(member_id)}/access", MemberHoldings,
                         live_only=_flag(live_only))

    # ==== charging, reports, webhooks, member links ====
    # Over HTTP: docs/api/catalog.md, charges.md, metered.md, rewards.md, reports.md,
    # webhooks.md, portal-links.md. `add_funding_source` is in-process only.

    # ---- catalog and charging ----

    def set_catalog(self, catalog: Catalog | Iterable[Service | Reward], *,
                    actor: str = _DEFAULT_ACTOR, dry_run: bool = False) -> CatalogLoad:
        """Sent as the catalog file it stands for (JSON text, which YAML reads)."""
        return self.load_catalog(_catalog_text(catalog), "yaml", actor=actor, dry_run=dry_run)

    def load_catalog(self, text: str, fmt: Literal["toml", "yaml"] = "toml", *,
                     actor: str = _DEFAULT_ACTOR, dry_run: bool = False) -> CatalogLoad:
        body = {"catalog": text, "format": fmt, "dry_run": dry_run, **_actor(actor)}
        return self._call("PUT", "/v1/catalog", CatalogLoad, body=body)

    # ---- gamification ----

    def achievements(self, member_id: str) -> MemberAchievements:
        return self._get(f"/v1/members/{_seg(member_id)}/achievements", MemberAchievements)

    def leaderboard(self, metric: str, *, period: str = "week",
                    limit: int = limits.leaderboard_size_default) -> Leaderboard:
        return self._get(f"/v1/leaderboards/{_seg(metric)}", Leaderboard, period=period,
                         limit=limit)

    def achievement_awards(self, *, member_id: str | None = None,
                           limit: int = limits.page_size_default) -> list[AwardInfo]:
        return self._get("/v1/achievements/awards", _Awards, member_id=member_id,
                         limit=limit).root

    def achievement_rules(self) -> GamificationRules:
        return self._get("/v1/achievements/rules", GamificationRules)

    def catalog(self, *, include_retired: bool = False) -> CatalogInfo:
        return self._get("/v1/catalog", CatalogInfo,
                         include_retired="true" if include_retired else "false")

    def preview_catalog(self, text: str | Catalog | Iterable[Service | Reward],
                        format: Literal["toml", "yaml"] = "toml", *,
                        days: int = limits.catalog_preview_days_default) -> CatalogPreview:
        """Writes nothing, so it is sent without an idempotency key. A catalog built in Python
        is sent as the file it stands for (JSON text, which YAML reads)."""
        if not isinstance(text, str):
            text, format = _catalog_text(text), "yaml"
        body = {"catalog": text, "format": format, "days": days, "asset": self.asset}
        return self._call("POST", "/v1/catalog/preview", CatalogPreview, body=body)

    def member_catalog(self, member_id: str, *,
                       session_id: str | None = None) -> MemberCatalog:
        return self._get(f"/v1/members/{_seg(member_id)}/catalog", MemberCatalog,
                         session_id=session_id)

    def check(self, member_id: str, service: str, quantity: int = 1, *,
              context: Mapping[str, str] | None = None,
              session_id: str | None = None) -> CheckResult:
        """Writes nothing, so it is sent without an idempotency key (the server keeps
        nothing)."""
        body = {"member": member_id, "service": service, "quantity": quantity,
                "asset": self.asset, "context": _context(context), "session_id": session_id}
        return self._call("POST", "/v1/check", CheckResult, body=body)

    def charge(self, member_id: str, service: str, quantity: int = 1, *,
               idempotency_key: str, context: Mapping[str, str] | None = None,
               session_id: str | None = None, actor: str = _DEFAULT_ACTOR,
               memo: str = "") -> ChargeReceipt:
        body = {"member": member_id, "service": service, "quantity": quantity,
                "asset": self.asset, "context": _context(context), "session_id": session_id,
                "memo": memo, **_actor(actor)}
        return self._post("/v1/charges", body, ChargeReceipt, idempotency_key)

    def start_metered(self, member_id: str, service: str, estimated_quantity: int, *,
                      idempotency_key: str, context: Mapping[str, str] | None = None,
                      session_id: str | None = None,
                      timeout_s: int = limits.hold_timeout_s_default,
                      actor: str = _DEFAULT_ACTOR) -> MeteredSession:
        body = {"member": member_id, "service": service,
                "estimated_quantity": estimated_quantity, "asset": self.asset,
                "context": _context(context), "session_id": session_id, "timeout_s": timeout_s,
                **_actor(actor)}
        return self._post("/v1/metered", body, MeteredSession, idempotency_key)

    def finish_metered(self, hold_id: str, actual_quantity: int, *, idempotency_key: str,
                       actor: str = _DEFAULT_ACTOR) -> MeteredReceipt:
        body = {"actual_quantity": actual_quantity, **_actor(actor)}
        return self._post(f"/v1/metered/{_seg(hold_id)}/finish", body, MeteredReceipt,
                          idempotency_key)

    def reward(self, member_id: str, reward: str, *, idempotency_key: str,
               session_id: str | None = None, actor: str = _DEFAULT_ACTOR,
               memo: str = "") -> RewardResult:
        body = {"member": member_id, "reward": reward, "asset": self.asset,
                "session_id": session_id, "memo": memo, **_actor(actor)}
        return self._post("/v1/rewards", body, RewardResult, idempotency_key)

    # ---- reports ----

    def report(self, *, since: date | None = None, until: date | None = None,
               asset: str | None = None) -> Report:
        return self._get("/v1/reports", Report, since=_day(since), until=_day(until),
                         asset=asset or self.asset)

    def overview(self, *, asset: str | None = None) -> Overview:
        """The business at a glance (`GET /v1/reports/overview`), as the dashboard's home."""
        return self._get("/v1/reports/overview", Overview, asset=asset or self.asset)

    def report_csv(self, key: str, *, since: date | None = None, until: date | None = None,
                   asset: str | None = None) -> str:
        """One table of the report as CSV text (HTTP only; in-process it is
        `report(...).table(key).to_csv()`). Not retried."""
        params = {k: v for k, v in {"since": _day(since), "until": _day(until),
                                    "asset": asset or self.asset}.items() if v is not None}
        response = self._http.get(f"/v1/reports/{_seg(key)}.csv", params=params)
        if not response.is_success:
            raise error_from(response)
        return response.text

    # ---- webhooks, events, low-balance alerts ----
    # (Their models are imported on first use: `import jeton` does not load the service.)

    def create_webhook_endpoint(self, url: str, *, event_types: Sequence[str] | None = None,
                                description: str = "", enabled: bool = True,
                                idempotency_key: str | None = None) -> EndpointWithSecret:
        """A replay of the request (same idempotency key) answers `secret: ""`."""
        from jeton.services.events.results import EndpointWithSecret

        body = {"url": url, "description": description, "enabled": enabled,
                "event_types": list(event_types) if event_types is not None else None}
        return self._post("/v1/webhook_endpoints", body, EndpointWithSecret, idempotency_key)

    def list_webhook_endpoints(self, *, include_deleted: bool = False,
                               limit: int = limits.page_size_default,
                               starting_after: str | None = None) -> Page[EndpointInfo]:
        from jeton.services.events.results import EndpointInfo

        return self._get("/v1/webhook_endpoints", Page[EndpointInfo],
                         include_deleted="true" if include_deleted else "false", limit=limit,
                         starting_after=starting_after)

    def get_webhook_endpoint(self, endpoint_id: str) -> EndpointInfo:
        from jeton.services.events.results import EndpointInfo

        return self._get(f"/v1/webhook_endpoints/{_seg(endpoint_id)}", EndpointInfo)

    def update_webhook_endpoint(self, endpoint_id: str, *, url: str | None = None,
                                event_types: Sequence[str] | None = None,
                                description: str | None = None,
                                enabled: bool | None = None) -> EndpointInfo:
        from jeton.services.events.results import EndpointInfo

        changes = {"url": url, "description": description, "enabled": enabled,
                   "event_types": list(event_types) if event_types is not None else None}
        return self._post(f"/v1/webhook_endpoints/{_seg(endpoint_id)}",
                          {k: v for k, v in changes.items() if v is not None}, EndpointInfo)

    def delete_webhook_endpoint(self, endpoint_id: str) -> EndpointInfo:
        from jeton.services.events.results import EndpointInfo

        return self._call("DELETE", f"/v1/webhook_endpoints/{_seg(endpoint_id)}",
                          EndpointInfo)

    def rotate_webhook_secret(self, endpoint_id: str, *,
                              grace_s: int = limits.webhook_secret_grace_s_default,
                              ) -> EndpointWithSecret:
        from jeton.services.events.results import EndpointWithSecret

        return self._post(f"/v1/webhook_endpoints/{_seg(endpoint_id)}/rotate_secret",
                          {"grace_s": grace_s}, EndpointWithSecret)

    def list_events(self, *, type: str | None = None, member_id: str | None = None,
                    limit: int = limits.page_size_default,
                    starting_after: str | None = None) -> Page[EventInfo]:
        from jeton.services.events.results import EventInfo

        return self._get("/v1/events", Page[EventInfo], type=type, member_id=member_id,
                         limit=limit, starting_after=starting_after)

    def get_event(self, event_id: str) -> EventInfo:
        from jeton.services.events.results import EventInfo

        return self._get(f"/v1/events/{_seg(event_id)}", EventInfo)

    def list_webhook_deliveries(self, *, endpoint_id: str | None = None,
                                event_id: str | None = None, status: str | None = None,
                                limit: int = limits.page_size_default,
                                starting_after: str | None = None) -> Page[DeliveryInfo]:
        from jeton.services.events.results import DeliveryInfo

        return self._get("/v1/webhook_deliveries", Page[DeliveryInfo], endpoint_id=endpoint_id,
                         event_id=event_id, status=status, limit=limit,
                         starting_after=starting_after)

    def get_webhook_delivery(self, delivery_id: str) -> DeliveryInfo:
        from jeton.services.events.results import DeliveryInfo

        return self._get(f"/v1/webhook_deliveries/{_seg(delivery_id)}", DeliveryInfo)

    def redeliver_webhook(self, delivery_id: str) -> DeliveryInfo:
        from jeton.services.events.results import DeliveryInfo

        return self._post(f"/v1/webhook_deliveries/{_seg(delivery_id)}/redeliver", {},
                          DeliveryInfo)

    def set_low_balance_threshold(self, member_id: str, threshold: int | None, *,
                                  asset: str | None = None) -> LowBalanceAlert | None:
        from jeton.services.events.results import LowBalanceAlert

        answer = self._call("PUT", f"/v1/members/{_seg(member_id)}/low_balance_threshold",
                            _Json, body={"threshold": threshold, "asset": asset or self.asset})
        return None if answer.root is None else LowBalanceAlert.model_validate(answer.root)

    def set_low_balance_levels(self, member_id: str, levels: Mapping[str, int | None], *,
                               asset: str | None = None) -> LowBalanceLevels:
        from jeton.services.events.results import LowBalanceLevels

        answer = self._call("PUT", f"/v1/members/{_seg(member_id)}/low_balance_levels",
                            _Json, body={"levels": dict(levels), "asset": asset or self.asset})
        return LowBalanceLevels.model_validate(answer.root)

    def low_balance_levels(self, member_id: str, *,
                           asset: str | None = None) -> LowBalanceLevels:
        from jeton.services.events.results import LowBalanceLevels

        return self._get(f"/v1/members/{_seg(member_id)}/low_balance_levels",
                         LowBalanceLevels, asset=asset or self.asset)
    def low_balance_alert(self, member_id: str, *,
                          asset: str | None = None) -> LowBalanceAlert | None:
        from jeton.services.events.results import LowBalanceAlert

        answer = self._call("GET", f"/v1/members/{_seg(member_id)}/low_balance_threshold",
                            _Json, params={"asset": asset or self.asset})
        return None if answer.root is None else LowBalanceAlert.model_validate(answer.root)

    # ---- member pages ----

    def create_member_link(self, member_id: str, *, return_url: str | None = None,
                           ttl_s: int = limits.member_link_ttl_s_default,
                           actor: str = _DEFAULT_ACTOR) -> MemberLink:
        """A replay of the request (same idempotency key; each call makes its own) answers
        `url: ""`: ask for a new link."""
        body = {"return_url": return_url, "ttl_s": ttl_s, **_actor(actor)}
        return self._post(f"/v1/members/{_seg(member_id)}/portal_links", body, MemberLink)

    # ==== end of charging, reports, webhooks, member links ====

    # ---- the wire ----

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        query = {k: v for k, v in params.items() if v is not None}
        return self._call("GET", path, model, params=query)

    def _post(self, path: str, body: Mapping[str, Any], model: type[M],
              idempotency_key: str | None = None) -> M:
        key = idempotency_key if idempotency_key is not None else f"py-{uuid.uuid4()}"
        return self._call("POST", path, model, body=to_jsonable_python(dict(body)),
                          headers={_KEY_HEADER: key})

    def _call(self, method: str, path: str, model: type[M], *,
              params: Mapping[str, Any] | None = None, body: Any = None,
              headers: Mapping[str, str] | None = None) -> M:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, params=params, json=body,
                                              headers=headers)
            except httpx.TransportError:  # timeouts, refused or broken connections
                if attempt >= self.max_retries:
                    raise
                self._sleep(attempt, None)
                attempt += 1
                continue
            if response.is_success:
                return _parse(response, model)
            if attempt < self.max_retries and _retryable(response):
                self._sleep(attempt, response.headers.get("retry-after"))
                attempt += 1
                continue
            raise error_from(response)

    @staticmethod
    def _sleep(attempt: int, retry_after: str | None) -> None:
        delay = random.uniform(0, _BACKOFF_BASE_S * 2**attempt)  # full jitter
        if retry_after is not None and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, limits.client_backoff_s_max))


class _BatchResult(BaseModel):
    data: list[BatchItem]


class _Awards(RootModel[list[AwardInfo]]):
    """`GET /v1/achievements/awards` answers a list."""


class _Json(RootModel[Any]):
    """Any JSON answer, `null` included (the alert of `set_low_balance_threshold` and
    `low_balance_alert`)."""


def create_community(base_url: str, operator_token: str, community_id: str, name: str, *,
                     asset: str = "CREDIT", scale: int = 0, key_name: str = "admin",
                     idempotency_key: str | None = None,
                     timeout: float = limits.client_timeout_s_default,
                     test_mode: bool = False) -> tuple[Client, str]:
    """Make a community with the operator's token; returns a Client on its new admin key, and
    that key's token (shown this once: keep it). In `test_mode` its time is a test clock
    (`advance_test_clock`)."""
    from jeton.services.ops.operator import CommunityCreated

    with Client(base_url, operator_token, timeout=timeout) as operator:
        created = operator._post("/v1/communities", {
            "id": community_id, "name": name, "asset": asset, "scale": scale,
            "key_name": key_name, "test_mode": test_mode}, CommunityCreated, idempotency_key)
    token = created.api_key.token
    if token is None:
        raise JetonError("the community was made by an earlier request with this idempotency "
                         "key, whose answer held the key's token", status=Status.already_exists)
    return Client(base_url, token, timeout=timeout, asset=asset), token


def error_from(response: httpx.Response) -> JetonError:
    """The exception a problem response stands for (the same class as in-process)."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict) or "code" not in problem:
        status = Status.internal_error if response.status_code >= 500 else Status.value_invalid
        return JetonError(f"HTTP {response.status_code}: {response.text[:200]}", status=status)
    try:
        status = Status(problem["code"])
    except ValueError:
        return JetonError(str(problem.get("detail", "")), status=Status.declined,
                          code=problem["code"])
    extra = {k: v for k, v in problem.items() if k not in _PROBLEM_FIELDS}
    return error_for(status, str(problem.get("detail", "")), **extra)


def _retryable(response: httpx.Response) -> bool:
    if response.status_code >= 500 or response.status_code == 429:
        return True
    if response.status_code == 409:
        try:
            return bool(response.json().get("code") == Status.request_in_flight.value)
        except (ValueError, AttributeError):
            return False
    return False


def _parse(response: httpx.Response, model: type[M]) -> M:
    result = model.model_validate(response.json())
    if response.headers.get(_REPLAYED_HEADER) == "true" and "replayed" in type(result).model_fields:
        result = result.model_copy(update={"replayed": True})
    return result


def _actor(actor: str) -> dict[str, str]:
    return {} if actor == _DEFAULT_ACTOR else {"actor": actor}


def _splits(splits: Sequence[Split | dict[str, Any]]) -> list[dict[str, Any]]:
    return [s.model_dump(exclude_none=True) if isinstance(s, Split) else dict(s)
            for s in splits]


def _context(context: Mapping[str, str] | None) -> dict[str, str] | None:
    return dict(context) if context is not None else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _instant(value: datetime) -> str:
    """An instant as RFC 3339; a naive one goes as it is and the server refuses it, as
    in-process."""
    return value.isoformat()


def _seg(value: str) -> str:
    """One path segment, escaped."""
    return quote(value, safe="")


# ---- funding helpers ----

class _LeaseList(RootModel[list[LeaseInfo]]):
    """`GET /v1/leases` answers a list."""


class _MaybeAutoRecharge(RootModel[AutoRechargeInfo | None]):
    """`GET .../auto_recharge` answers `null` when the member never set one."""


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _entitlements(values: Any) -> Any:
    """Classes or keys as the API takes them (`{"name", "days"}`), from what Community takes:
    `["vip"]`, `[("vip", 30)]`, dicts or `Entitlement`s. Anything else is sent as it is, for the
    server to refuse as Community would."""
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        return values
    out: list[Any] = []
    for v in values:
        if isinstance(v, Entitlement):
            out.append(v.model_dump())
        elif isinstance(v, str):
            out.append({"name": v})
        elif isinstance(v, tuple | list) and len(v) == 2:
            out.append({"name": v[0], "days": v[1]})
        else:
            out.append(v)
    return out


def _who(actor: StaffUser | str) -> str:
    """The actor's name as the audit records it: a StaffUser's id, or the text given."""
    return actor.user_id if isinstance(actor, StaffUser) else actor


def _staff(actor: StaffUser | str, role: str | None) -> dict[str, Any]:
    """Who posts by hand: a StaffUser speaks for itself and its role."""
    if isinstance(actor, StaffUser):
        return {"actor": actor.user_id, "role": actor.role.value}
    return {"actor": actor, "role": role}


def _catalog_text(catalog: Catalog | Iterable[Service | Reward]) -> str:
    """A catalog built in Python as the file it stands for: JSON text, which YAML reads."""
    import json

    from jeton.core.catalog_data import catalog_to_data
    from jeton.services.charging.catalogs import build_catalog

    built = catalog if isinstance(catalog, Catalog) else build_catalog(catalog)
    return json.dumps(catalog_to_data(built), ensure_ascii=False, indent=1)
