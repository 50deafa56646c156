"""Jeton: credits and micropayments for online communities and SaaS products.

    import jeton
    chat = jeton.open("sqlite:///jeton.db").create_community("Chat", community_id="chat")
    chat.create_member("alice")
    chat.grant("alice", 100, idempotency_key="welcome-alice")
    chat.spend("alice", 3, service="files.download", idempotency_key="dl-1")
"""

from jeton.app import Community, Jeton, open
from jeton.core.clock import Clock, ManualClock, SystemClock
from jeton.core.errors import (
    Conflict,
    Declined,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    InvariantViolation,
    JetonError,
    NotFound,
)
from jeton.core.statuses import Status
from jeton.services.results import (
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

__all__ = [
    "AccountInfo",
    "AssetInfo",
    "Balance",
    "BatchItem",
    "Clock",
    "Community",
    "CommunityInfo",
    "Conflict",
    "Declined",
    "HoldResult",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InvalidRequest",
    "InvariantViolation",
    "Jeton",
    "JetonError",
    "LotInfo",
    "LotMoveInfo",
    "ManualClock",
    "MemberInfo",
    "NotFound",
    "Page",
    "PostingInfo",
    "SpendRequest",
    "Split",
    "StatementLine",
    "Status",
    "SystemClock",
    "TransferResult",
    "__version__",
    "open",
]
