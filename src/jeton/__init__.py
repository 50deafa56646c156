"""Jeton: credits and micropayments for online communities and SaaS products.

    import jeton
    chat = jeton.open("sqlite:///jeton.db").create_community("Chat", community_id="chat")
    chat.create_member("alice")
    chat.grant("alice", 100, idempotency_key="welcome-alice")
    chat.spend("alice", 3, service="files.download", idempotency_key="dl-1")
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jeton.app import Community, Jeton, open
    from jeton.client import Client
    from jeton.core.access import AccessLevel, AccessRule, Requirement
    from jeton.core.allowances import AfterAllowance, Allowance, Period
    from jeton.core.catalog import Catalog, Service
    from jeton.core.clock import Clock, ManualClock, SystemClock
    from jeton.core.errors import (
        Conflict,
        CreditLineSuspended,
        Declined,
        IdempotencyConflict,
        InsufficientCredits,
        InvalidRequest,
        InvariantViolation,
        JetonError,
        KeyBudgetExceeded,
        NotFound,
        VelocityLimitExceeded,
        WalletFrozen,
    )
    from jeton.core.prices import ClassPrice, Money, PriceKind, PriceRule
    from jeton.core.rewards import Reward
    from jeton.core.splits import SplitPart, Target
    from jeton.core.statuses import Status
    from jeton.services.access.member_links import MemberLink
    from jeton.services.charging.funding_sources import (
        FundingRequest,
        FundingSource,
        LoyaltyCardSource,
    )
    from jeton.services.charging.results import (
        AreaMember,
        AreaReport,
        AreaService,
        CatalogErrorInfo,
        CatalogInfo,
        CatalogLoad,
        ChargeReceipt,
        CheckResult,
        ExternalPayment,
        FixInfo,
        KeyBudget,
        LeaseInfo,
        MemberCatalog,
        MemberService,
        MeteredReceipt,
        MeteredSession,
        MoneyInfo,
        PackSuggestion,
        PriceInfo,
        ReasonInfo,
        RewardInfo,
        RewardResult,
        ServiceInfo,
        SpendingLimits,
        SplitLine,
        VelocityLimit,
        WalletFreeze,
    )
    from jeton.services.funding.results import (
        AffiliateCodes,
        AffiliateProgram,
        AutoRechargeInfo,
        BillInfo,
        BillingSettings,
        BillLine,
        Checkout,
        CouponInfo,
        Entitlement,
        Holding,
        MemberHoldings,
        PackInfo,
        PaymentProfile,
        PlanInfo,
        PurchaseInfo,
        Redemption,
        RefundInfo,
        RoleLimit,
        RolloverInfo,
        SignupBonus,
        SubscriptionInfo,
        TransferLimits,
        WebhookOutcome,
    )
    from jeton.services.ledger.clocks import ClockAdvance, ClockInfo
    from jeton.services.ledger.results import (
        AccountInfo,
        AssetInfo,
        Balance,
        BatchItem,
        CommunityInfo,
        HoldResult,
        LotInfo,
        LotMoveInfo,
        MemberInfo,
        Page,
        PostingInfo,
        SpendRequest,
        Split,
        StatementLine,
        TransferResult,
    )

__version__ = "0.1.0"

# Names load on first use (PEP 562), so `import jeton` and the command line start quickly:
# `jeton --help` needs none of them, `jeton balance` only the ledger.
_MODULES: dict[str, tuple[str, ...]] = {
    "jeton.app": (
        "Community", "Jeton", "open",
    ),
    "jeton.client": (
        "Client",
    ),
    "jeton.core.access": (
        "AccessLevel", "AccessRule", "Requirement",
    ),
    "jeton.core.allowances": (
        "AfterAllowance", "Allowance", "Period",
    ),
    "jeton.core.catalog": (
        "Catalog", "Service",
    ),
    "jeton.core.clock": (
        "Clock", "ManualClock", "SystemClock",
    ),
    "jeton.core.errors": (
        "Conflict", "CreditLineSuspended", "Declined", "IdempotencyConflict",
        "InsufficientCredits", "InvalidRequest", "InvariantViolation", "JetonError",
        "KeyBudgetExceeded", "NotFound",
        "VelocityLimitExceeded", "WalletFrozen",
    ),
    "jeton.core.prices": (
        "ClassPrice", "Money", "PriceKind", "PriceRule",
    ),
    "jeton.core.rewards": (
        "Reward",
    ),
    "jeton.core.splits": (
        "SplitPart", "Target",
    ),
    "jeton.core.statuses": (
        "Status",
    ),
    "jeton.services.access.member_links": (
        "MemberLink",
    ),
    "jeton.services.charging.funding_sources": (
        "FundingRequest", "FundingSource", "LoyaltyCardSource",
    ),
    "jeton.services.charging.results": (
        "AreaMember", "AreaReport", "AreaService", "CatalogErrorInfo", "CatalogInfo",
        "CatalogLoad", "ChargeReceipt", "CheckResult", "ExternalPayment", "FixInfo", "KeyBudget",
        "LeaseInfo", "MemberCatalog", "MemberService", "MeteredReceipt",
        "MeteredSession", "MoneyInfo", "PackSuggestion", "PriceInfo", "ReasonInfo",
        "RewardInfo", "RewardResult", "ServiceInfo", "SpendingLimits", "SplitLine",
        "VelocityLimit", "WalletFreeze",
    ),
    "jeton.services.funding.results": (
        "AffiliateCodes", "AffiliateProgram", "AutoRechargeInfo", "BillInfo", "BillLine",
        "BillingSettings", "Checkout", "CouponInfo", "Entitlement", "Holding", "MemberHoldings",
        "PackInfo", "PaymentProfile", "PlanInfo", "PurchaseInfo", "Redemption", "RefundInfo",
        "RoleLimit", "RolloverInfo", "SignupBonus",
        "SubscriptionInfo", "TransferLimits", "WebhookOutcome",
    ),
    "jeton.services.ledger.clocks": (
        "ClockAdvance", "ClockInfo",
    ),
    "jeton.services.ledger.results": (
        "AccountInfo", "AssetInfo", "Balance", "BatchItem", "CommunityInfo", "HoldResult",
        "LotInfo", "LotMoveInfo", "MemberInfo", "Page", "PostingInfo", "SpendRequest",
        "Split", "StatementLine", "TransferResult",
    ),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'jeton' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AccessLevel",
    "AccessRule",
    "AccountInfo",
    "AffiliateCodes",
    "AffiliateProgram",
    "AfterAllowance",
    "Allowance",
    "AreaMember",
    "AreaReport",
    "AreaService",
    "AssetInfo",
    "AutoRechargeInfo",
    "Balance",
    "BatchItem",
    "BillInfo",
    "BillLine",
    "BillingSettings",
    "Catalog",
    "CatalogErrorInfo",
    "CatalogInfo",
    "CatalogLoad",
    "ChargeReceipt",
    "CheckResult",
    "Checkout",
    "ClassPrice",
    "Client",
    "Clock",
    "ClockAdvance",
    "ClockInfo",
    "Community",
    "CommunityInfo",
    "Conflict",
    "CouponInfo",
    "CreditLineSuspended",
    "Declined",
    "Entitlement",
    "ExternalPayment",
    "FixInfo",
    "FundingRequest",
    "FundingSource",
    "HoldResult",
    "Holding",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InvalidRequest",
    "InvariantViolation",
    "Jeton",
    "JetonError",
    "KeyBudget",
    "KeyBudgetExceeded",
    "LeaseInfo",
    "LotInfo",
    "LotMoveInfo",
    "LoyaltyCardSource",
    "ManualClock",
    "MemberCatalog",
    "MemberHoldings",
    "MemberInfo",
    "MemberLink",
    "MemberService",
    "MeteredReceipt",
    "MeteredSession",
    "Money",
    "MoneyInfo",
    "NotFound",
    "PackInfo",
    "PackSuggestion",
    "Page",
    "PaymentProfile",
    "Period",
    "PlanInfo",
    "PostingInfo",
    "PriceInfo",
    "PriceKind",
    "PriceRule",
    "PurchaseInfo",
    "ReasonInfo",
    "Redemption",
    "RefundInfo",
    "Requirement",
    "Reward",
    "RewardInfo",
    "RewardResult",
    "RoleLimit",
    "RolloverInfo",
    "Service",
    "ServiceInfo",
    "SignupBonus",
    "SpendRequest",
    "SpendingLimits",
    "Split",
    "SplitLine",
    "SplitPart",
    "StatementLine",
    "Status",
    "SubscriptionInfo",
    "SystemClock",
    "Target",
    "TransferLimits",
    "TransferResult",
    "VelocityLimit",
    "VelocityLimitExceeded",
    "WalletFreeze",
    "WalletFrozen",
    "WebhookOutcome",
    "__version__",
    "open",
]
