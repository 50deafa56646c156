"""What Jeton's writes and reads return: the same types in-process, over HTTP and in the client.

They are Pydantic models so that the API serialises them, the idempotency table stores them,
and `jeton.Client` parses them back into the very same classes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_setattr = object.__setattr__


class Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CommunityInfo(Result):
    id: str
    name: str
    created_at: datetime
    # Made in test mode: its time is a test clock the API can advance (decision 0056).
    test_mode: bool = False


class AssetInfo(Result):
    code: str
    scale: int
    name: str = ""


class MemberInfo(Result):
    id: str
    name: str = ""
    email: str | None = None
    metadata: dict[str, Any] = {}
    created_at: datetime


class AccountInfo(Result):
    id: str
    kind: str
    asset: str
    name: str = ""
    member_id: str | None = None
    floor: int | None = None


class Balance(Result):
    member_id: str | None = None
    account_id: str
    asset: str
    posted: int
    pending: int
    available: int


class BalanceAt(Result):
    """A wallet's posted balance at an instant, read from the journal: the balance after the
    last posting on the wallet effective at or before `as_of` (decision 0063). `version` and
    `transfer_id` name that posting; both are None when the wallet had none yet."""
    member_id: str
    account_id: str
    asset: str
    as_of: datetime
    posted: int
    version: int | None = None
    transfer_id: str | None = None


class BalancePoint(Result):
    """The posted balance at the end of one interval (`at` is the interval's end)."""
    at: datetime
    posted: int


class BalanceHistory(Result):
    """The posted balance at `since` (`opening`) and at the end of each interval up to
    `until`, UTC hours or days."""
    member_id: str
    account_id: str
    asset: str
    interval: str
    since: datetime
    until: datetime
    opening: int
    points: list[BalancePoint]


class LotInfo(Result):
    id: str
    source: str
    paid: bool
    amount: int
    remaining: int
    cost_minor: int = 0
    cost_currency: str | None = None
    expires_at: datetime | None = None
    priority: int = 0
    scope: str | None = None
    created_at: datetime


class LotMoveInfo(Result):
    lot_id: str
    account_id: str
    amount: int


class PostingInfo(Result):
    account_id: str
    amount: int
    balance_after: int | None = None


class TransferResult(Result):
    id: str
    kind: str
    asset: str
    amount: int
    member_id: str | None = None
    service: str | None = None
    reverses_id: str | None = None
    hold_id: str | None = None
    postings: list[PostingInfo]
    lots: list[LotMoveInfo]
    actor: str = ""
    reason_code: str = ""
    memo: str = ""
    metadata: dict[str, Any] = {}
    effective_at: datetime
    balance_after: int | None = None  # the member's posted balance after it, when one is involved
    replayed: bool = False


class HoldResult(Result):
    id: str
    member_id: str
    asset: str
    amount: int
    captured: int
    voided: int
    status: str
    service: str | None = None
    expires_at: datetime
    created_at: datetime
    lots: list[LotMoveInfo] = []
    transfer: TransferResult | None = None  # the capture, when this result is one
    replayed: bool = False


class StatementLine(Result):
    transfer_id: str
    kind: str
    amount: int
    balance_after: int | None
    service: str | None = None
    memo: str = ""
    reason_code: str = ""
    actor: str = ""
    effective_at: datetime
    version: int | None = None


class Page(BaseModel, Generic[T]):
    """A page of a list, newest first. Pass `next_cursor` as `starting_after` for the next."""

    data: list[T]
    has_more: bool
    next_cursor: str | None = None


class BatchItem(Result):
    index: int
    status: str
    detail: str = ""
    result: TransferResult | None = None


class Split(BaseModel):
    """Part of a charge paid to someone other than the platform: a member's wallet (a royalty)
    or a named account of the community (an app-store fee)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: int
    member: str | None = None
    account: str | None = None


class SpendRequest(BaseModel):
    """One spend of a batch (see Ledger.spend_batch)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    member: str
    amount: int
    idempotency_key: str
    asset: str = "CREDIT"
    service: str | None = None
    # Factories, not `[]` and `{}`: pydantic deep-copies a mutable default for every request.
    splits: list[Split] = Field(default_factory=list)
    memo: str = ""
    reason_code: str = "spend"
    metadata: dict[str, Any] = Field(default_factory=dict)


_ALL_SET: dict[type[BaseModel], set[str]] = {}


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    """A result the ledger built itself, from `values` naming every field in declared order.

    What `model_construct` makes (every field set, no validation), without its per-field
    lookups of aliases and defaults: a batch of spends builds five of these per item.
    """
    obj = cls.__new__(cls)
    _setattr(obj, "__dict__", values)
    # Every field is set, so every result of a class shares one set of their names (pydantic
    # only adds names to it, and copies it first on `model_copy`): no set per result.
    _setattr(obj, "__pydantic_fields_set__",
             _ALL_SET.get(cls) or _ALL_SET.setdefault(cls, set(cls.model_fields)))
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj
