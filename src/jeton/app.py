"""The in-process Python API: `jeton.open(url)` and a community's methods.

    import jeton
    j = jeton.open("sqlite:///jeton.db")
    chat = j.create_community("Chat room", community_id="chat")
    chat.create_member("alice")
    chat.grant("alice", 100, idempotency_key="welcome-alice")
    chat.spend("alice", 3, service="files.download", idempotency_key="dl-1")

`jeton.Client(base_url, api_key)` has the same methods and result types over HTTP, so code
moves from embedded to remote by changing the line that makes the object.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy.engine import Connection

from jeton.config import Settings
from jeton.core import limits
from jeton.core.amounts import positive_amount
from jeton.core.catalog import Catalog, Service
from jeton.core.clock import Clock, CommunityClock, SystemClock, current_community_time, to_us
from jeton.core.rewards import Reward
from jeton.payments.port import PaymentProvider, SignedWebhook
from jeton.services.access import member_links
from jeton.services.access.member_links import MemberLink
from jeton.services.access.staff import StaffUser
from jeton.services.charging import access_grants, key_budgets, leases, protection, velocity
from jeton.services.charging.funding_sources import FundingSource
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
from jeton.services.charging.service import Charging
from jeton.services.funding import base as funding_base
from jeton.services.funding import (
    bill_payments,
    bills,
    bonuses,
    coupons,
    grants,
    member_transfers,
    packs,
    plans,
    provider_webhooks,
    purchases,
    recharge,
    refunds,
    renewals,
)
from jeton.services.funding import service as funding
from jeton.services.funding.payment_registry import PaymentRegistry
from jeton.services.funding.results import (
    AffiliateCodes,
    AffiliateProgram,
    AutoRechargeInfo,
    BillInfo,
    BillingSettings,
    Checkout,
    CouponInfo,
    Holding,
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
from jeton.services.gamification.service import Gamification
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
from jeton.services.ledger.service import Ledger
from jeton.services.reports.overview import Overview
from jeton.services.reports.results import Report
from jeton.store.engine import Store

R = TypeVar("R")

if TYPE_CHECKING:  # imported when first used: the webhooks service is loaded on demand
    from jeton.services.events.endpoints import DeliveryInfo, EventInfo, LowBalanceAlert, Webhooks
    from jeton.services.events.results import EndpointInfo, EndpointWithSecret, LowBalanceLevels
    from jeton.services.funding.receipt_keys import ReceiptKeys
    from jeton.services.funding.receipts import Receipt


class Jeton:
    """One Jeton over one store: communities and the services that act on them."""

    def __init__(self, store: Store, *, clock: Clock | None = None,
                 settings: Settings | None = None,
                 payments: PaymentRegistry | Mapping[str, PaymentProvider] | None = None,
                 ) -> None:
        self.store = store
        # Every service asks this clock: the given one (the real time by default), or the test
        # clock of the test-mode community whose operation is running (decision 0056).
        self.clock: Clock = CommunityClock(clock or SystemClock())
        self.settings = settings or Settings.from_env()
        self.ledger = Ledger(store, self.clock)
        self.ledger.spend_in_sql = self.settings.spend_in_sql  # decision 0078
        # Payment providers by name ('stripe', 'offline', 'demo'): from settings by default
        # (services/funding/payment_registry.py). Events of the in-process providers go through the
        # same webhook handler as Stripe's.
        if payments is None:
            payments = PaymentRegistry.from_settings(self.settings, self.clock,
                                                     on_local_event=self._local_payment_event,
                                                     store=store)
        elif not isinstance(payments, PaymentRegistry):
            payments = PaymentRegistry(payments)
        self.payments: PaymentRegistry = payments
        from jeton.services.events import endpoints as webhooks

        # Events (balance.low, refunds, ...) come from a ledger hook; one Events for everyone.
        self.events = webhooks.install(self).events
        funding.install(self)
        protection.install(self)  # first of the hooks: a frozen wallet is refused at once

    def _local_payment_event(self, provider: str, webhook: SignedWebhook) -> None:
        provider_webhooks.handle_provider_webhook(self, provider, webhook.payload,
                                                  webhook.headers)

    def create_community(self, name: str, community_id: str | None = None, *,
                         asset: str = "CREDIT", scale: int = 0,
                         test_mode: bool = False) -> Community:
        """A community with its first asset (credits by default, whole units). In `test_mode`
        its time is a test clock that `advance_test_clock` moves (docs/api/test-clocks.md)."""
        info = self.ledger.create_community(name, community_id, test_mode=test_mode)
        self.ledger.create_asset(info.id, asset, scale)
        return Community(self, info.id, asset=asset)

    def community(self, community_id: str, *, asset: str = "CREDIT") -> Community:
        self.ledger.get_community(community_id)
        return Community(self, community_id, asset=asset)

    def communities(self) -> list[CommunityInfo]:
        return self.ledger.list_communities()

    @property
    def charging(self) -> Charging:
        """Catalogs, check and charge, metered use and rewards (services/charging/service.py). The
        funding side sets its hooks here: `plan_discount_query`, `pack_suggestions`,
        `funding_sources`."""
        found = self.__dict__.get("_charging")
        if found is None:
            with _CHARGING_LOCK:
                found = self.__dict__.get("_charging")
                if found is None:
                    found = Charging(self.ledger, events=getattr(self, "events", None))
                    self.__dict__["_charging"] = found
        return found

    @property
    def gamification(self) -> Gamification:
        """Points, badges, levels, challenges and leaderboards (services/gamification)."""
        found = self.__dict__.get("_gamification")
        if found is None:
            with _CHARGING_LOCK:
                found = self.__dict__.get("_gamification")
                if found is None:
                    found = Gamification(self.ledger)
                    self.__dict__["_gamification"] = found
        return found

    def close(self) -> None:
        self.payments.close()
        self.store.dispose()

    def __enter__(self) -> Jeton:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Community:
    """Everything a host app does for one community. `asset` is the default for calls."""

    def __init__(self, jeton: Jeton, community_id: str, *, asset: str = "CREDIT") -> None:
        self.jeton = jeton
        self.id = community_id
        self.asset = asset
        self._ledger = jeton.ledger

    def __repr__(self) -> str:
        return f"Community({self.id!r})"

    # ---- setup ----

    def info(self) -> CommunityInfo:
        return self._ledger.get_community(self.id)

    def create_asset(self, code: str, scale: int = 0, name: str = "") -> AssetInfo:
        return self._ledger.create_asset(self.id, code, scale, name)

    def assets(self) -> list[AssetInfo]:
        return self._ledger.list_assets(self.id)

    def create_account(self, name: str, *, asset: str | None = None) -> AccountInfo:
        return self._ledger.create_account(self.id, name, asset or self.asset)

    def create_member(self, member_id: str, *, name: str = "", email: str | None = None,
                      metadata: dict[str, Any] | None = None) -> MemberInfo:
        return self._ledger.create_member(self.id, member_id, name=name, email=email,
                                          metadata=metadata,
                                          on_created=bonuses.on_member_created(self._ledger))

    def get_member(self, member_id: str) -> MemberInfo:
        return self._ledger.get_member(self.id, member_id)

    def list_members(self, *, limit: int = limits.page_size_default,
                     starting_after: str | None = None,
                     search: str | None = None) -> Page[MemberInfo]:
        return self._ledger.list_members(self.id, limit=limit, starting_after=starting_after,
                                         search=search)

    def set_credit_line(self, member_id: str, floor: int, *, asset: str | None = None) -> Balance:
        return self._ledger.set_credit_line(self.id, member_id, asset or self.asset, floor)

    # ---- credits ----

    def grant(self, member_id: str, amount: int, *, idempotency_key: str,
              asset: str | None = None, source: str = "grant", paid: bool = False,
              cost_minor: int = 0, cost_currency: str | None = None,
              expires_at: datetime | None = None, priority: int = 0, scope: str | None = None,
              actor: str = "system", reason_code: str = "grant", memo: str = "",
              metadata: dict[str, Any] | None = None) -> TransferResult:
        return self._ledger.grant(
            self.id, member_id, amount, idempotency_key=idempotency_key,
            asset=asset or self.asset, source=source, paid=paid, cost_minor=cost_minor,
            cost_currency=cost_currency, expires_at=expires_at, priority=priority, scope=scope,
            actor=actor, reason_code=reason_code, memo=memo, metadata=metadata)

    def spend(self, member_id: str, amount: int, *, idempotency_key: str,
              asset: str | None = None, service: str | None = None,
              splits: Sequence[Split | dict[str, Any]] = (), actor: str = "system",
              reason_code: str = "spend", memo: str = "",
              metadata: dict[str, Any] | None = None) -> TransferResult:
        # Checked here as grant, transfer and hold check it: the ledger's spend path took "5",
        # 5.0 and True for amounts (issue 13: one error vocabulary).
        positive_amount(amount)
        with protection.tripwire(self.jeton, self.id, member_id):
            return self._ledger.spend(
                self.id, member_id, amount, idempotency_key=idempotency_key,
                asset=asset or self.asset, service=service, splits=splits, actor=actor,
                reason_code=reason_code, memo=memo, metadata=metadata)

    def spend_batch(self, items: Sequence[SpendRequest | dict[str, Any]], *,
                    actor: str = "system") -> list[BatchItem]:
        return self._ledger.spend_batch(self.id, items, actor=actor)

    def transfer(self, from_member: str, to_member: str, amount: int, *, idempotency_key: str,
                 asset: str | None = None, fee: int | None = None, actor: str = "system",
                 memo: str = "", metadata: dict[str, Any] | None = None) -> TransferResult:
        """Credits to another member, within the community's transfer limits. `fee` None: the
        community's transfer fee (set_transfer_limits)."""
        return self._ledger.transfer(
            self.id, from_member, to_member, amount, idempotency_key=idempotency_key,
            asset=asset or self.asset, fee=fee, actor=actor, memo=memo, metadata=metadata)

    def hold(self, member_id: str, amount: int, *, idempotency_key: str,
             asset: str | None = None, service: str | None = None,
             timeout_s: int = limits.hold_timeout_s_default, actor: str = "system",
             metadata: dict[str, Any] | None = None) -> HoldResult:
        # Not refused for a frozen wallet here (a read would cost every hold a round trip):
        # its capture is refused inside the write, so nothing held can leave the wallet.
        return self._ledger.hold(self.id, member_id, amount, idempotency_key=idempotency_key,
                                 asset=asset or self.asset, service=service,
                                 timeout_s=timeout_s, actor=actor, metadata=metadata)

    def capture(self, hold_id: str, amount: int, *, idempotency_key: str, final: bool = True,
                splits: Sequence[Split | dict[str, Any]] = (), actor: str = "system",
                memo: str = "") -> HoldResult:
        with protection.tripwire(self.jeton, self.id, ""):
            return self._ledger.capture(self.id, hold_id, amount,
                                        idempotency_key=idempotency_key, final=final,
                                        splits=splits, actor=actor, memo=memo)

    def void(self, hold_id: str, *, idempotency_key: str, actor: str = "system") -> HoldResult:
        return self._ledger.void(self.id, hold_id, idempotency_key=idempotency_key, actor=actor)

    def get_hold(self, hold_id: str) -> HoldResult:
        return self._ledger.get_hold(self.id, hold_id)

    def reverse(self, transfer_id: str, *, idempotency_key: str, actor: str = "system",
                reason_code: str = "reversal", memo: str = "") -> TransferResult:
        return self._ledger.reverse(self.id, transfer_id, idempotency_key=idempotency_key,
                                    actor=actor, reason_code=reason_code, memo=memo)

    # ---- reads ----

    def balance(self, member_id: str, *, asset: str | None = None) -> Balance:
        return self._ledger.balance(self.id, member_id, asset or self.asset)

    def balance_at(self, member_id: str, as_of: datetime, *,
                   asset: str | None = None) -> BalanceAt:
        """The member's posted balance at the instant `as_of`, from the journal."""
        return self._ledger.balance_at(self.id, member_id, as_of, asset or self.asset)

    def balance_history(self, member_id: str, since: datetime, until: datetime, *,
                        interval: Literal["hour", "day"] = "day",
                        asset: str | None = None) -> BalanceHistory:
        """The member's posted balance at `since` and at the end of each hour or day up to
        `until` (at most `limits.balance_history_points_max` points)."""
        return self._ledger.balance_history(self.id, member_id, since, until, interval,
                                            asset or self.asset)

    def account_balance(self, account: str, *, asset: str | None = None) -> Balance:
        """A system or named account: `revenue`, `breakage`, `appstore`..."""
        from jeton.services.ledger.state import system_id

        return self._ledger.account_balance(self.id, system_id(account, asset or self.asset))

    def lots(self, member_id: str, *, asset: str | None = None,
             include_empty: bool = False) -> list[LotInfo]:
        return self._ledger.lots(self.id, member_id, asset or self.asset,
                                 include_empty=include_empty)

    def statement(self, member_id: str, *, asset: str | None = None,
                  limit: int = limits.page_size_default,
                  starting_after: str | None = None) -> Page[StatementLine]:
        return self._ledger.statement(self.id, member_id, asset or self.asset, limit=limit,
                                      starting_after=starting_after)

    def get_transfer(self, transfer_id: str) -> TransferResult:
        return self._ledger.get_transfer(self.id, transfer_id)

    # ---- receipts (services/funding/receipts.py, receipt_keys.py) ----

    def receipt(self, transfer_id: str) -> Receipt:
        """The signed receipt of a transfer about a member (a charge, a purchase's credits, a
        refund...): verify it offline with a key of `receipt_keys()` (docs/api/receipts.md)."""
        from jeton.services.funding import receipts

        return receipts.transfer_receipt(self.jeton.store, self.jeton.clock, self.id,
                                         transfer_id)

    def purchase_receipt(self, purchase_id: str) -> Receipt:
        """The signed receipt of a completed purchase, with the money paid."""
        from jeton.services.funding import receipts

        return receipts.purchase_receipt(self.jeton.store, self.jeton.clock, self.id,
                                         purchase_id)

    def receipt_keys(self) -> ReceiptKeys:
        """The public keys receipts are signed with, newest first (the first is made now if
        there is none yet)."""
        from jeton.services.funding import receipt_keys

        return receipt_keys.public_keys(self.jeton.store, self.id, self.jeton.clock)

    def rotate_receipt_key(self, *, idempotency_key: str | None = None) -> ReceiptKeys:
        """Sign with a new key from now on; the old ones stay published. With
        `idempotency_key`, a retry rotates once."""
        from jeton.services.funding import receipt_keys

        return receipt_keys.rotate(self.jeton.store, self.jeton.clock, self.id,
                                   idempotency_key=idempotency_key)

    def report(self, *, since: date | None = None, until: date | None = None,
               asset: str | None = None) -> Report:
        """The owner's report over [since, until): 30 days up to today by default."""
        from jeton.services.reports import service as reports

        return reports.build(self.jeton.store, self.id, asset=asset or self.asset, since=since,
                             until=until, today=self.jeton.clock.now().date())

    def overview(self, *, asset: str | None = None) -> Overview:
        """The business at a glance: money taken today and over 30 days, credits sold,
        consumed and expired, the float, active members and subscriptions, declines."""
        from jeton.services.reports import overview

        return overview.build(self.jeton.store, self.id, asset=asset or self.asset,
                              today=self.jeton.clock.now().date())

    # ---- jobs (normally run by `jeton worker` / `jeton serve`) ----

    def run_expiry(self) -> int:
        """Expire lots and holds that are due now. Returns how many were expired."""
        return self._ledger.expire_lots(self.id) + self._ledger.expire_holds(self.id)

    # ---- funding: packs, purchases, refunds (services/funding/) ----

    def create_pack(self, name: str, *, credits: int, price_minor: int, currency: str = "USD",
                    pack_id: str | None = None, asset: str | None = None,
                    bonus_credits: int = 0, bonus_expiry_days: int | None = None,
                    credit_expiry_days: int | None = None, classes: Any = None,
                    keys: Any = None, visible_to: Any = None, sort_order: int = 0) -> PackInfo:
        """A pack on sale: `credits` for `price_minor` of `currency`, maybe with bonus credits,
        classes and keys (`["vip"]` or `[("vip", 30)]` for 30 days), offered to everyone or to
        holders of `visible_to` (`["class:vip", "key:insider"]`)."""
        return packs.create_pack(
            self.jeton, self.id, name=name, credits=credits, price_minor=price_minor,
            currency=currency, pack_id=pack_id, asset=asset or self.asset,
            bonus_credits=bonus_credits, bonus_expiry_days=bonus_expiry_days,
            credit_expiry_days=credit_expiry_days, classes=classes, keys=keys,
            visible_to=visible_to, sort_order=sort_order)

    def list_packs(self, member_id: str | None = None, *,
                   include_inactive: bool = False) -> list[PackInfo]:
        """Packs on sale; with `member_id`, those that member is offered."""
        return packs.list_packs(self.jeton, self.id, member_id,
                                include_inactive=include_inactive)

    def get_pack(self, pack_id: str) -> PackInfo:
        return packs.get_pack(self.jeton, self.id, pack_id)

    def set_pack_active(self, pack_id: str, active: bool) -> PackInfo:
        return packs.set_pack_active(self.jeton, self.id, pack_id, active)

    def buy_pack(self, member_id: str, pack_id: str, *, idempotency_key: str,
                 success_url: str | None = None, cancel_url: str | None = None,
                 provider: str | None = None, save_payment_method: bool = False) -> Checkout:
        """Start a purchase; send the member to `Checkout.url`. Credits come on payment.
        `success_url` and `cancel_url` may be left out with the demo and offline providers,
        whose checkout page is Jeton's own. Refused (WalletFrozen) while staff have frozen
        the member's wallet."""
        protection.require_not_frozen(self.jeton, self.id, member_id)
        return purchases.buy_pack(self.jeton, self.id, member_id, pack_id,
                                  idempotency_key=idempotency_key, success_url=success_url,
                                  cancel_url=cancel_url, provider=provider,
                                  save_payment_method=save_payment_method)

    def record_offline_payment(self, purchase_id: str, *, reference: str,
                               actor: str = "staff") -> PurchaseInfo:
        """The money for an offline purchase arrived (a check, a bank transfer)."""
        return purchases.record_offline_payment(self.jeton, self.id, purchase_id,
                                                reference=reference, actor=actor)

    def get_purchase(self, purchase_id: str) -> PurchaseInfo:
        return purchases.get_purchase(self.jeton, self.id, purchase_id)

    def list_purchases(self, member_id: str | None = None, *,
                       limit: int = limits.page_size_default,
                       starting_after: str | None = None) -> Page[PurchaseInfo]:
        return purchases.list_purchases(self.jeton, self.id, member_id, limit=limit,
                                        starting_after=starting_after)

    # ---- post-pay bills (services/funding/bills.py, bill_payments.py) ----

    def set_billing_settings(self, *, credit_price_minor: int, currency: str = "USD",
                             cycle: str = "month", grace_days: int = 7,
                             bill_at_percent: int | None = 90, provider: str | None = None,
                             asset: str | None = None) -> BillingSettings:
        """Bill members on a credit line each `cycle` at `credit_price_minor` a credit."""
        return bills.set_billing_settings(
            self.jeton, self.id, asset=asset or self.asset, currency=currency,
            credit_price_minor=credit_price_minor, cycle=cycle, grace_days=grace_days,
            bill_at_percent=bill_at_percent, provider=provider)

    def billing_settings(self, *, asset: str | None = None) -> BillingSettings:
        return bills.get_billing_settings(self.jeton, self.id, asset or self.asset)

    def issue_bill(self, member_id: str, *, idempotency_key: str,
                   asset: str | None = None) -> BillInfo:
        """Bill now what the member owes and no bill asks yet."""
        return bills.issue_bill(self.jeton, self.id, member_id, asset or self.asset,
                                idempotency_key=idempotency_key)

    def get_bill(self, bill_id: str) -> BillInfo:
        return bills.get_bill(self.jeton, self.id, bill_id)

    def list_bills(self, member_id: str | None = None, *, status: str | None = None,
                   limit: int = limits.page_size_default,
                   starting_after: str | None = None) -> Page[BillInfo]:
        return bills.list_bills(self.jeton, self.id, member_id, status=status, limit=limit,
                                starting_after=starting_after)

    def pay_bill(self, bill_id: str, *, provider: str | None = None,
                 success_url: str | None = None, cancel_url: str | None = None,
                 save_payment_method: bool = False) -> Checkout:
        """A hosted checkout for an open bill; send the member to `Checkout.url`."""
        return bill_payments.pay_bill(self.jeton, self.id, bill_id, provider=provider,
                                      success_url=success_url, cancel_url=cancel_url,
                                      save_payment_method=save_payment_method)

    def bill_csv(self, bill_id: str) -> str:
        """The bill as a CSV document (what the member downloads)."""
        return bills.bill_csv(self.get_bill(bill_id), self.info().name)

    def set_payment_method(self, member_id: str, *, provider: str, customer_id: str,
                           payment_method_id: str) -> PaymentProfile:
        """A payment method the host app saved at the provider (ids only, never card data)."""
        return purchases.set_payment_method(self.jeton, self.id, member_id, provider=provider,
                                            customer_id=customer_id,
                                            payment_method_id=payment_method_id)

    def refund_purchase(self, purchase_id: str, *, idempotency_key: str,
                        amount_minor: int | None = None, actor: str = "system",
                        reason: str = "") -> RefundInfo:
        """Money back through the provider; the purchase's unspent credits are taken back."""
        return refunds.refund_purchase(self.jeton, self.id, purchase_id,
                                       idempotency_key=idempotency_key,
                                       amount_minor=amount_minor, actor=actor, reason=reason)

    def refund_as_credits(self, purchase_id: str, *, idempotency_key: str,
                          amount_minor: int | None = None, credits: int | None = None,
                          actor: str = "system", reason: str = "") -> RefundInfo:
        """Money refunded as permanent credits instead of cash."""
        return refunds.refund_as_credits(self.jeton, self.id, purchase_id,
                                         idempotency_key=idempotency_key,
                                         amount_minor=amount_minor, credits=credits,
                                         actor=actor, reason=reason)

    def refund_charge(self, transfer_id: str, *, idempotency_key: str, actor: str = "system",
                      reason: str = "") -> TransferResult:
        """A charge given back to the lots it came from."""
        return refunds.refund_charge(self.jeton, self.id, transfer_id,
                                     idempotency_key=idempotency_key, actor=actor,
                                     reason=reason)

    # ---- funding: plans (services/funding/plans.py) ----

    def create_plan(self, name: str, *, cycle: str, credits: int, price_minor: int,
                    currency: str = "USD", plan_id: str | None = None,
                    asset: str | None = None, member_class: str | None = None,
                    discount_bp: int = 0) -> PlanInfo:
        """A plan granting `credits` each cycle (expiring at its end), maybe a class for the
        cycle and a discount in basis points on every charge while it runs."""
        return plans.create_plan(self.jeton, self.id, name=name, cycle=cycle, credits=credits,
                                 price_minor=price_minor, currency=currency, plan_id=plan_id,
                                 asset=asset or self.asset, member_class=member_class,
                                 discount_bp=discount_bp)

    def list_plans(self, *, include_inactive: bool = False) -> list[PlanInfo]:
        return plans.list_plans(self.jeton, self.id, include_inactive=include_inactive)

    def set_plan_active(self, plan_id: str, active: bool) -> PlanInfo:
        """Retire a plan (no new subscriptions; current ones go on) or offer it again."""
        return plans.set_plan_active(self.jeton, self.id, plan_id, active)

    def subscribe(self, member_id: str, plan_id: str, *, idempotency_key: str,
                  start_at: datetime | None = None, provider: str | None = None,
                  success_url: str | None = None,
                  cancel_url: str | None = None) -> SubscriptionInfo:
        protection.require_not_frozen(self.jeton, self.id, member_id)
        return plans.subscribe(self.jeton, self.id, member_id, plan_id,
                               idempotency_key=idempotency_key, start_at=start_at,
                               provider=provider, success_url=success_url,
                               cancel_url=cancel_url)

    def cancel_subscription(self, subscription_id: str, *, at_period_end: bool = True,
                            actor: str = "system") -> SubscriptionInfo:
        return plans.cancel_subscription(self.jeton, self.id, subscription_id,
                                         at_period_end=at_period_end, actor=actor)

    def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        return plans.get_subscription(self.jeton, self.id, subscription_id)

    def list_subscriptions(self, member_id: str | None = None) -> list[SubscriptionInfo]:
        return plans.list_subscriptions(self.jeton, self.id, member_id)

    # ---- funding: auto-recharge, bonuses, grants, transfers (services/funding/) ----

    def set_auto_recharge(self, member_id: str, *, pack_id: str, threshold: int,
                          monthly_cap: int, enabled: bool = True,
                          provider: str | None = None,
                          target: int | None = None) -> AutoRechargeInfo:
        """Under `threshold` available credits, buy `pack_id` with the saved method, at most
        `monthly_cap` times a month; with `target`, as many of the pack as bring the balance
        back to `target` (rounded up to whole packs)."""
        return recharge.set_auto_recharge(self.jeton, self.id, member_id, pack_id=pack_id,
                                          threshold=threshold, monthly_cap=monthly_cap,
                                          enabled=enabled, provider=provider, target=target)

    def get_auto_recharge(self, member_id: str, *,
                          asset: str | None = None) -> AutoRechargeInfo | None:
        return recharge.get_auto_recharge(self.jeton, self.id, member_id,
                                          asset=asset or self.asset)

    def set_signup_bonus(self, amount: int, *, expiry_days: int | None = None,
                         asset: str | None = None) -> SignupBonus:
        return bonuses.set_signup_bonus(self.jeton, self.id, amount, expiry_days=expiry_days,
                                        asset=asset or self.asset)

    def get_signup_bonus(self) -> SignupBonus:
        return bonuses.get_signup_bonus(self.jeton, self.id)

    def staff_grant(self, member_id: str, amount: int, *, actor: StaffUser | str, reason: str,
                    idempotency_key: str, role: str | None = None, asset: str | None = None,
                    expires_at: datetime | None = None) -> TransferResult:
        """Credits posted by hand, within the actor's role limit, audited."""
        return grants.staff_grant(self.jeton, self.id, member_id, amount, actor=actor,
                                  reason=reason, idempotency_key=idempotency_key, role=role,
                                  asset=asset or self.asset, expires_at=expires_at)

    def staff_charge(self, member_id: str, amount: int, *, actor: StaffUser | str,
                     reason: str, idempotency_key: str, role: str | None = None,
                     asset: str | None = None) -> TransferResult:
        return grants.staff_charge(self.jeton, self.id, member_id, amount, actor=actor,
                                   reason=reason, idempotency_key=idempotency_key, role=role,
                                   asset=asset or self.asset)

    def set_role_limit(self, role: str, amount: int, *, period: str = "day",
                       asset: str | None = None) -> RoleLimit:
        return grants.set_role_limit(self.jeton, self.id, role, amount, period=period,
                                     asset=asset or self.asset)

    def set_transfer_limits(self, *, per_day: int | None = None, per_month: int | None = None,
                            fee_fixed: int = 0, fee_bp: int = 0,
                            asset: str | None = None) -> TransferLimits:
        return member_transfers.set_transfer_limits(
            self.jeton, self.id, per_day=per_day, per_month=per_month, fee_fixed=fee_fixed,
            fee_bp=fee_bp, asset=asset or self.asset)

    def get_transfer_limits(self, *, asset: str | None = None) -> TransferLimits:
        return member_transfers.get_transfer_limits(self.jeton, self.id, asset or self.asset)

    # ---- protection: frozen wallets, velocity limits (services/charging/protection.py) ----

    def freeze_wallet(self, member_id: str, *, reason: str,
                      actor: StaffUser | str) -> WalletFreeze:
        """Stop the member's wallet: no spend, charge, capture, transfer out or purchase until
        unfrozen. Audited with its reason; `wallet.frozen` goes to the outbox."""
        return protection.freeze(self.jeton, self.id, member_id, reason=reason, actor=actor)

    def unfreeze_wallet(self, member_id: str, *, reason: str,
                        actor: StaffUser | str) -> WalletFreeze:
        return protection.unfreeze(self.jeton, self.id, member_id, reason=reason, actor=actor)

    def get_wallet_freeze(self, member_id: str) -> WalletFreeze:
        return protection.get_freeze(self.jeton, self.id, member_id)

    def set_velocity_limit(self, *, service: str | None = None, per_hour: int | None = None,
                           per_day: int | None = None, new_member_per_hour: int | None = None,
                           new_member_per_day: int | None = None, asset: str | None = None,
                           actor: str | None = None) -> VelocityLimit:
        """Credits a member may spend per hour and per UTC day, on every service (`service`
        None) or one; `new_member_` figures apply to members newer than `new_member_days`.
        Every figure None removes the limit."""
        return velocity.set_velocity_limit(
            self.jeton, self.id, service=service, per_hour=per_hour, per_day=per_day,
            new_member_per_hour=new_member_per_hour, new_member_per_day=new_member_per_day,
            asset=asset or self.asset, actor=actor)

    def set_spending_settings(self, *, new_member_days: int | None = None,
                              alert_after_trips: int | None = None,
                              actor: str | None = None) -> SpendingLimits:
        """Who is a new member (days since joining), and how many declines by a limit in one
        UTC day send the owner `member.limit_tripped`."""
        return velocity.set_spending_settings(self.jeton, self.id,
                                              new_member_days=new_member_days,
                                              alert_after_trips=alert_after_trips, actor=actor)

    def spending_limits(self) -> SpendingLimits:
        return velocity.get_spending_limits(self.jeton, self.id)

    # ---- spending budgets of API keys (services/charging/key_budgets.py) ----

    def set_key_budget(self, key_id: str, *, period: str = "day", per_key: int | None = None,
                       per_member: int | None = None, asset: str | None = None,
                       actor: str | None = None) -> KeyBudget:
        """What the API key `key_id` may spend of members' credits per `period` (hour, day or
        month, UTC): `per_key` for all members together, `per_member` for each. Both None
        remove the budget. Spends and captures whose `actor` is the key (`api_key:<id>`, as
        the HTTP API records it) past a figure are declined with KeyBudgetExceeded."""
        return key_budgets.set_key_budget(
            self.jeton, self.id, key_id, period=period, per_key=per_key,
            per_member=per_member, asset=asset or self.asset, actor=actor)

    def key_budget(self, key_id: str, *, member_id: str | None = None,
                   asset: str | None = None) -> KeyBudget:
        """The key's budget and what it used in the window now running (and for `member_id`)."""
        return key_budgets.get_key_budget(self.jeton, self.id, key_id,
                                          asset=asset or self.asset, member_id=member_id)

    # ---- funding: coupons and affiliate codes (services/funding/coupons.py) ----

    def create_coupon(self, code: str | None = None, *, credits: int = 0,
                      asset: str | None = None, credit_expiry_days: int | None = None,
                      classes: Any = None, keys: Any = None,
                      max_redemptions: int | None = None, per_member_limit: int = 1,
                      expires_at: datetime | None = None) -> CouponInfo:
        return coupons.create_coupon(
            self.jeton, self.id, code=code, credits=credits, asset=asset or self.asset,
            credit_expiry_days=credit_expiry_days, classes=classes, keys=keys,
            max_redemptions=max_redemptions, per_member_limit=per_member_limit,
            expires_at=expires_at)

    def get_coupon(self, code: str) -> CouponInfo:
        return coupons.get_coupon(self.jeton, self.id, code)

    def redeem_coupon(self, member_id: str, code: str, *, idempotency_key: str) -> Redemption:
        return coupons.redeem_coupon(self.jeton, self.id, member_id, code,
                                     idempotency_key=idempotency_key)

    def set_affiliate_program(self, program: AffiliateProgram) -> AffiliateProgram:
        return coupons.set_affiliate_program(self.jeton, self.id, program)

    def create_affiliate_codes(self, member_id: str, count: int, *,
                               idempotency_key: str) -> AffiliateCodes:
        return coupons.create_affiliate_codes(self.jeton, self.id, member_id, count,
                                              idempotency_key=idempotency_key)

    # ---- member pages (services/access/member_links.py) ----

    def create_member_link(self, member_id: str, *, return_url: str | None = None,
                           ttl_s: int = limits.member_link_ttl_s_default,
                           actor: str = "system") -> MemberLink:
        """A link that opens the member's own pages (balance, store, plans, coupons,
        transfers) once, within `ttl_s` seconds (10 minutes by default, at most an hour): send
        the member's browser to `MemberLink.url` at once. `return_url` is where the pages send
        them back to."""
        return member_links.create_member_link(self.jeton, self.id, member_id,
                                               return_url=return_url, ttl_s=ttl_s, actor=actor)

    # ---- member classes and keys (services/charging/access_grants.py) ----

    def grant_class(self, member_id: str, name: str, *,
                    expires_at: datetime | None = None) -> MemberHoldings:
        return _grant_access(self, member_id, "class", name, expires_at)

    def grant_key(self, member_id: str, name: str, *,
                  expires_at: datetime | None = None) -> MemberHoldings:
        return _grant_access(self, member_id, "key", name, expires_at)

    def member_holdings(self, member_id: str, *, live_only: bool = True) -> MemberHoldings:
        """The member's classes and keys (live now, or all of them)."""
        now = self.jeton.clock.now() if live_only else None
        with self.jeton.store.read() as conn:
            return MemberHoldings(
                member_id=member_id,
                classes=[Holding(name=g.name, expires_at=g.expires_at)
                         for g in access_grants.member_classes(conn, self.id, member_id, now)],
                keys=[Holding(name=g.name, expires_at=g.expires_at)
                      for g in access_grants.member_keys(conn, self.id, member_id, now)])

    # ---- test clocks (services/ledger/clocks.py, services/ops/clocks.py, decision 0056) ----

    def test_clock(self) -> ClockInfo:
        """The community's test clock: its time and whether an advance is under way. A live
        community has none: Conflict `test_mode_required`."""
        return self._ledger.clocks.info(self.id)

    def advance_test_clock(self, *, to: datetime | None = None, seconds: int | None = None,
                           idempotency_key: str) -> ClockAdvance:
        """Move the test clock forward to `to`, or by `seconds`, running every job that falls
        due on the way in time order (renewals, expiry, hold timeouts, webhooks); returns when
        done. Refused: a live community (`test_mode_required`), a time not after the clock's
        (`clock_backwards`), another advance under way (`clock_advancing`)."""
        from jeton.services.ops import clocks

        return clocks.advance(self.jeton, self.id, to=to, seconds=seconds,
                              idempotency_key=idempotency_key)

    def run_funding_jobs(self) -> dict[str, int]:
        """Run the funding jobs for this community now (renewals, recharges, stale purchases,
        bills);
        `jeton worker` runs them on their intervals."""
        return {"plans.renew": renewals.renew_due(self.jeton, self.id),
                "recharge.run": recharge.run_recharges(self.jeton, self.id),
                "purchases.expire": purchases.expire_stale(self.jeton, self.id),
                "bills.issue": bills.issue_due(self.jeton, self.id)}

    # ---- sub-leased areas (services/charging/leases.py, services/reports/areas.py) ----

    def create_lease(self, area: str, operator: str, *, share_bp: int, price_min: int,
                     price_max: int, kinds: list[str] | None = None, idempotency_key: str,
                     actor: StaffUser | str = "owner") -> LeaseInfo:
        """Lease the services whose code starts with `area` to the member `operator`: they set
        prices within [price_min, price_max] of the `kinds` allowed and earn `share_bp` of
        every charge in the area."""
        return leases.create_lease(self.jeton, self.id, area=area, operator=operator,
                                   share_bp=share_bp, price_min=price_min,
                                   price_max=price_max, kinds=kinds,
                                   idempotency_key=idempotency_key, actor=actor)

    def end_lease(self, lease_id: str, *, reason: str,
                  actor: StaffUser | str = "owner") -> LeaseInfo:
        """End the lease now: no share from this instant; nothing already paid moves."""
        return leases.end_lease(self.jeton, self.id, lease_id, reason=reason, actor=actor)

    def get_lease(self, lease_id: str) -> LeaseInfo:
        return leases.get_lease(self.jeton, self.id, lease_id)

    def list_leases(self, *, active_only: bool = False,
                    operator: str | None = None) -> list[LeaseInfo]:
        return leases.list_leases(self.jeton, self.id, active_only=active_only,
                                  operator=operator)

    def bind_lease_staff(self, lease_id: str, *, email: str,
                         actor: StaffUser | str = "owner") -> LeaseInfo:
        """Make the support account `email` the operator's dashboard account for the lease."""
        return leases.bind_lease_staff(self.jeton, self.id, lease_id, email=email,
                                       actor=actor)

    def set_area_service(self, lease_id: str, code: str, entry: dict[str, Any], *,
                         actor: StaffUser | str = "operator") -> ServiceInfo:
        """Add or change a service of the lease's area within its bounds (the operator's
        prices and access); a new catalog version."""
        return leases.set_area_service(self.jeton, self.id, lease_id, code, entry,
                                       actor=actor)

    def area_report(self, lease_id: str) -> AreaReport:
        """Uses, credits charged and earned, and top members of the lease's area."""
        from jeton.services.reports.areas import area_report

        return area_report(self.jeton, self.id, lease_id, asset=self.asset)

    # ---- gamification (services/gamification) ----

    def achievements(self, member_id: str) -> MemberAchievements:
        """A member's points, level, badges (held and to earn) and challenges in progress, as
        counted by the awarding job (`award_achievements` runs it now)."""
        return self.jeton.gamification.achievements(self.id, member_id)

    def leaderboard(self, metric: str, *, period: str = "week",
                    limit: int = limits.leaderboard_size_default) -> Leaderboard:
        """Members by `metric` (points, credits_spent, royalties) in the current `period`
        (week, month, all)."""
        return self.jeton.gamification.leaderboard(self.id, metric, period=period, limit=limit)

    def achievement_awards(self, *, member_id: str | None = None,
                           limit: int = limits.page_size_default) -> list[AwardInfo]:
        """Badges, levels and challenges earned, newest first (of one member when named)."""
        return self.jeton.gamification.awards(self.id, member_id=member_id, limit=limit)

    def achievement_rules(self) -> GamificationRules:
        """The points rules, badges, levels and challenges of the active catalog."""
        return self.jeton.gamification.rules(self.id)

    def award_achievements(self) -> int:
        """Count new transfers into points, badges and leaderboards now (`jeton worker` does
        it every two seconds). Returns how many transfers were counted."""
        return self.jeton.gamification.award(self.id)

    # ---- catalog and charging (services/charging/catalogs.py, charging.py, metered.py) ----

    def set_catalog(self, catalog: Catalog | Iterable[Service | Reward], *,
                    actor: str = "system", dry_run: bool = False) -> CatalogLoad:
        """Make a catalog built in Python the active version, checked like a catalog file."""
        return self.jeton.charging.catalogs.put(self.id, catalog, actor=actor, dry_run=dry_run)

    def load_catalog(self, text: str, fmt: Literal["toml", "yaml"] = "toml", *,
                     actor: str = "system", dry_run: bool = False) -> CatalogLoad:
        """Load a catalog file (TOML or YAML text) as the active version. Any error: an
        InvalidRequest (`catalog_invalid`) listing every one in `extra["errors"]` (line,
        where, reason), and nothing written. Loading the active catalog again writes nothing."""
        return self.jeton.charging.catalogs.load(self.id, text, fmt, actor=actor,
                                                 dry_run=dry_run)

    def catalog(self, *, include_retired: bool = False) -> CatalogInfo:
        """The active catalog (and, asked, the retired services and rewards)."""
        return self.jeton.charging.catalogs.info(self.id, include_retired=include_retired)

    def preview_catalog(self, text: str | Catalog | Iterable[Service | Reward],
                        format: Literal["toml", "yaml"] = "toml", *,
                        days: int = limits.catalog_preview_days_default) -> CatalogPreview:
        """Replay the charges of the last `days` through a new catalog (a file's text, or a
        catalog built in Python) and say what would change, per service and per member, and
        who would be declined. Writes nothing. An invalid catalog raises as `load_catalog`
        does (`catalog_invalid`, every error with its line). docs/api/catalog.md."""
        from jeton.services.charging.preview import preview

        catalogs = self.jeton.charging.catalogs
        new = (catalogs.parse(text, format) if isinstance(text, str)
               else catalogs.checked(text))
        return preview(self.jeton.charging, self.id, new, days, self.asset)

    def member_catalog(self, member_id: str, *,
                       session_id: str | None = None) -> MemberCatalog:
        """The services this member can see, at their price, with what would let them in
        (or pay less) where they cannot. Writes nothing."""
        from jeton.services.charging.member_catalog import member_catalog

        return member_catalog(self.jeton.charging, self.id, member_id, session_id=session_id,
                              asset=self.asset)

    def check(self, member_id: str, service: str, quantity: int = 1, *,
              context: Mapping[str, str] | None = None,
              session_id: str | None = None) -> CheckResult:
        """May the member use `quantity` of `service`: price, lots that would pay, and when
        not, why and what would fix it. Writes nothing."""
        return self.jeton.charging.check(self.id, member_id, service, quantity,
                                         context=context, session_id=session_id,
                                         asset=self.asset)

    def charge(self, member_id: str, service: str, quantity: int = 1, *,
               idempotency_key: str, context: Mapping[str, str] | None = None,
               session_id: str | None = None, actor: str = "system",
               memo: str = "") -> ChargeReceipt:
        """Charge for `quantity` of `service` with its splits and free allowance, atomically
        and idempotently. `context` names the parties of the splits ({"uploader": "bob"});
        `session_id` is the window of a per-session allowance. Out of credits:
        InsufficientCredits (balance, required, fixes), nothing written. Over a velocity
        limit: VelocityLimitExceeded (`retry_after`); a frozen wallet: WalletFrozen."""
        with protection.tripwire(self.jeton, self.id, member_id):
            return self.jeton.charging.charge(self.id, member_id, service, quantity,
                                              idempotency_key=idempotency_key, context=context,
                                              session_id=session_id, asset=self.asset,
                                              actor=actor, memo=memo)

    def start_metered(self, member_id: str, service: str, estimated_quantity: int, *,
                      idempotency_key: str, context: Mapping[str, str] | None = None,
                      session_id: str | None = None,
                      timeout_s: int = limits.hold_timeout_s_default,
                      actor: str = "system") -> MeteredSession:
        """Hold credits for the estimated use (ten minutes of video); finish it with
        `finish_metered(session.id, actual)`."""
        return self.jeton.charging.metering.start(
            self.id, member_id, service, estimated_quantity, idempotency_key=idempotency_key,
            context=dict(context) if context is not None else None, session_id=session_id,
            asset=self.asset, timeout_s=timeout_s, actor=actor)

    def finish_metered(self, hold_id: str, actual_quantity: int, *, idempotency_key: str,
                       actor: str = "system") -> MeteredReceipt:
        """Capture what the use really cost (with splits) and release the rest of the hold."""
        with protection.tripwire(self.jeton, self.id, ""):
            return self.jeton.charging.metering.finish(self.id, hold_id, actual_quantity,
                                                       idempotency_key=idempotency_key,
                                                       actor=actor)

    def reward(self, member_id: str, reward: str, *, idempotency_key: str,
               session_id: str | None = None, actor: str = "system",
               memo: str = "") -> RewardResult:
        """Post a reward of the catalog to the member; past its limit, status
        `limit_exceeded` and nothing written."""
        return self.jeton.charging.reward(self.id, member_id, reward,
                                          idempotency_key=idempotency_key,
                                          session_id=session_id, asset=self.asset,
                                          actor=actor, memo=memo)

    def add_funding_source(self, source: FundingSource) -> None:
        """Ask `source` (a loyalty card...) before the wallet on this community's charges."""
        self.jeton.charging.funding_sources.register(source, community_id=self.id)
        self.jeton.charging.ensure_source_account(self.id, source.name, self.asset)

    # ---- webhooks, events and low-balance alerts (services/events/endpoints.py, events.py) ----
    # Over HTTP: /v1/webhook_endpoints, /v1/events, /v1/webhook_deliveries (docs/api/webhooks.md).

    @property
    def _webhooks(self) -> Webhooks:
        from jeton.services.events import endpoints as webhooks

        return webhooks.service(self.jeton)

    def create_webhook_endpoint(self, url: str, *, event_types: Sequence[str] | None = None,
                                description: str = "", enabled: bool = True,
                                idempotency_key: str | None = None) -> EndpointWithSecret:
        """Send events (`event_types`, or every type when None) to `url`, signed with the
        returned `secret` (Standard Webhooks). With `idempotency_key`, a retry returns the
        endpoint already made."""
        return self._webhooks.create_endpoint(self.id, url, event_types=event_types,
                                              description=description, enabled=enabled,
                                              idempotency_key=idempotency_key)

    def list_webhook_endpoints(self, *, include_deleted: bool = False,
                               limit: int = limits.page_size_default,
                               starting_after: str | None = None) -> Page[EndpointInfo]:
        """Endpoints by id, without their secrets."""
        found = self._webhooks.list_endpoints(self.id, include_deleted=include_deleted)
        return _page_by_id(found, limit, starting_after)

    def get_webhook_endpoint(self, endpoint_id: str) -> EndpointInfo:
        return self._webhooks.get_endpoint(self.id, endpoint_id)

    def update_webhook_endpoint(self, endpoint_id: str, *, url: str | None = None,
                                event_types: Sequence[str] | None = None,
                                description: str | None = None,
                                enabled: bool | None = None) -> EndpointInfo:
        """Change what is given; None leaves a field as it is (`event_types=["*"]`: every
        type). Disabling abandons the endpoint's pending deliveries."""
        from jeton.services.events.endpoints import UNCHANGED

        return self._webhooks.update_endpoint(
            self.id, endpoint_id, url=UNCHANGED if url is None else url,
            event_types=UNCHANGED if event_types is None else event_types,
            description=UNCHANGED if description is None else description,
            enabled=UNCHANGED if enabled is None else enabled)

    def delete_webhook_endpoint(self, endpoint_id: str) -> EndpointInfo:
        """Stop sending to the endpoint for good (it stays listed with `include_deleted`)."""
        return self._webhooks.delete_endpoint(self.id, endpoint_id)

    def rotate_webhook_secret(self, endpoint_id: str, *,
                              grace_s: int = limits.webhook_secret_grace_s_default,
                              ) -> EndpointWithSecret:
        """A new signing secret; the old one signs too for `grace_s` seconds."""
        return self._webhooks.rotate_secret(self.id, endpoint_id, grace_s=grace_s)

    def list_events(self, *, type: str | None = None, member_id: str | None = None,
                    limit: int = limits.page_size_default,
                    starting_after: str | None = None) -> Page[EventInfo]:
        """Events (balance.low, charge.declined, ...), newest first."""
        return self._webhooks.events.list_events(self.id, type=type, member_id=member_id,
                                                 limit=limit, starting_after=starting_after)

    def get_event(self, event_id: str) -> EventInfo:
        return self._webhooks.events.get_event(self.id, event_id)

    def list_webhook_deliveries(self, *, endpoint_id: str | None = None,
                                event_id: str | None = None, status: str | None = None,
                                limit: int = limits.page_size_default,
                                starting_after: str | None = None) -> Page[DeliveryInfo]:
        """Deliveries of events to endpoints, newest first (`get_webhook_delivery` has each
        attempt)."""
        return self._webhooks.list_deliveries(self.id, endpoint_id=endpoint_id,
                                              event_id=event_id, status=status, limit=limit,
                                              starting_after=starting_after)

    def get_webhook_delivery(self, delivery_id: str) -> DeliveryInfo:
        return self._webhooks.get_delivery(self.id, delivery_id)

    def redeliver_webhook(self, delivery_id: str) -> DeliveryInfo:
        """Send a delivery again at once, whatever its status."""
        return self._webhooks.redeliver(self.id, delivery_id)

    def set_low_balance_threshold(self, member_id: str, threshold: int | None, *,
                                  asset: str | None = None) -> LowBalanceAlert | None:
        """Send balance.low when the member's available balance falls below `threshold`, once
        per crossing; None removes the alert."""
        return self._webhooks.events.set_low_balance_threshold(
            self.id, member_id, threshold, asset=asset or self.asset)

    def low_balance_alert(self, member_id: str, *,
                          asset: str | None = None) -> LowBalanceAlert | None:
        """The member's low-balance alert, or None when none is set."""
        return self._webhooks.events.low_balance_alert(self.id, member_id,
                                                       asset=asset or self.asset)


    def set_low_balance_levels(self, member_id: str, levels: Mapping[str, int | None], *,
                               asset: str | None = None) -> LowBalanceLevels:
        """Low-balance alerts at several levels, e.g. `{"info": 500, "warning": 100,
        "critical": 20}`: balance.low with the `level` once per crossing of each. A level left
        out is removed; `{}` removes them all (services/events/balance_alerts.py)."""
        from jeton.services.events import balance_alerts

        return balance_alerts.set_levels(self._webhooks.events, self.id, member_id, levels,
                                         asset=asset or self.asset)

    def low_balance_levels(self, member_id: str, *,
                           asset: str | None = None) -> LowBalanceLevels:
        from jeton.services.events import balance_alerts

        return balance_alerts.get_levels(self._webhooks.events, self.id, member_id,
                                         asset=asset or self.asset)


# Methods that keep to the real time in a test-mode community: a member link is a sign-in,
# checked by pages against the real time; an advance sets the clock itself, stop by stop.
_REAL_TIME = frozenset({"create_member_link", "advance_test_clock"})


def _on_community_time(method: Callable[..., R]) -> Callable[..., R]:
    """Run a Community method on its community's time: the test clock's instant in test mode
    (read once per call), the real time otherwise (a set lookup once the community is known to
    be live)."""

    @functools.wraps(method)
    def scoped(self: Community, *args: Any, **kwargs: Any) -> R:
        clocks = self._ledger.clocks
        if self.id in clocks.live and current_community_time() is None:
            return method(self, *args, **kwargs)
        with clocks.scope(self.id):
            return method(self, *args, **kwargs)

    return scoped


for _name, _method in list(vars(Community).items()):
    if not _name.startswith("_") and inspect.isfunction(_method) and _name not in _REAL_TIME:
        setattr(Community, _name, _on_community_time(_method))


def _grant_access(community: Community, member_id: str, kind: str, name: str,
                  expires_at: datetime | None) -> MemberHoldings:
    j = community.jeton
    now_us = j.ledger.now_us()
    expires_us = to_us(expires_at) if expires_at is not None else None

    def tx(conn: Connection) -> None:
        funding_base.require_member(conn, community.id, member_id)
        grant = access_grants.grant_class if kind == "class" else access_grants.grant_key
        grant(conn, community.id, member_id, name, expires_at_us=expires_us, now_us=now_us)

    j.store.run_write(tx)
    return community.member_holdings(member_id)


def _page_by_id(items: list[EndpointInfo], limit: int,
                starting_after: str | None) -> Page[EndpointInfo]:
    """One page of a short list sorted by id (a community has at most a few endpoints)."""
    if type(limit) is not int or not 1 <= limit <= limits.page_size_max:
        from jeton.core.errors import InvalidRequest
        from jeton.core.statuses import Status

        raise InvalidRequest(f"limit must be 1-{limits.page_size_max}",
                             status=Status.value_invalid)
    after = [i for i in items if starting_after is None or i.id > starting_after]
    data = after[:limit]
    more = len(after) > limit
    return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)


_CHARGING_LOCK = threading.Lock()


def open(url: str | None = None, *, clock: Clock | None = None, migrate: bool = True,
         settings: Settings | None = None) -> Jeton:
    """Open Jeton on a store (`sqlite:///jeton.db`, `postgresql://...`; default from
    JETON_DATABASE_URL). With `migrate` (the default) the schema is brought up to date."""
    from jeton.store.engine import open_store

    store = open_store(url)
    if migrate:
        store.create_schema()
    return Jeton(store, clock=clock, settings=settings)
