"""The state a write works on: accounts and lots as loaded, what comes into a wallet, the
transfer's header, and a declined plan. No I/O: the working set (workset.py) loads and writes it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from jeton.core import limits
from jeton.core import lots as lotlib
from jeton.core.errors import error_for
from jeton.core.statuses import Status
from jeton.core.transfers import TransferKind

SYSTEM_KINDS = ("issuance", "promotions", "revenue", "breakage")


def wallet_id(member_id: str, asset: str) -> str:
    return f"wallet:{member_id}:{asset}"


def system_id(name: str, asset: str) -> str:
    return f"{name}:{asset}"


@dataclass(slots=True)
class Acct:
    account_id: str
    kind: str
    member_id: str | None
    asset: str
    tracked: bool
    floor: int | None
    posted: int
    pending: int
    version: int
    dirty: bool = False


@dataclass(slots=True)
class LotState:
    id: str
    account_id: str
    source: str
    paid: bool
    cost_minor: int
    cost_currency: str | None
    amount: int
    remaining: int
    expires_at_us: int | None
    priority: int
    scope: str | None
    merge_key: str | None
    origin_transfer_id: str
    created_at_us: int
    new: bool = False
    dirty: bool = False

    def core(self) -> lotlib.Lot:
        return lotlib.Lot(self.id, self.remaining, self.paid, self.expires_at_us, self.priority,
                          self.scope, self.source)


@dataclass(frozen=True, slots=True)
class LotSpec:
    """The attributes of credits coming into a wallet."""

    source: str
    paid: bool = False
    cost_minor: int = 0
    cost_currency: str | None = None
    expires_at_us: int | None = None
    priority: int = 0
    scope: str | None = None
    # The sender's lot that paid credits carried by a member transfer come from (None for
    # every other credit).
    carried_from: str | None = None

    def merge_key(self) -> str | None:
        # Free credits with identical attributes share one lot, so that a wallet receiving a
        # royalty on every download keeps one royalty lot rather than millions. Paid credits
        # keep their own cost basis: a purchase's lot is never merged, but the pieces of one
        # paid lot that transfers carry into a wallet share one lot there (their cost per
        # credit is that lot's), so a member paid by many transfers from one sender keeps one
        # lot, not one per transfer that every later debit would read (decision 0081).
        if self.paid or self.cost_minor:
            return f"carried|{self.carried_from}" if self.carried_from else None
        return (f"{self.source}|{self.expires_at_us or ''}|{self.priority}|{self.scope or ''}")


@dataclass(frozen=True, slots=True)
class PreRead:
    """A read a hook will make, sent ahead with a write's first round trip (`WorkSet.preload`);
    its row (or None) waits in `WorkSet.prefetched[name]`. `name` names the row: within a
    community, two reads with one name read the same row (the SQLite writer cache keeps rows
    by community and name, services/ledger/cache.py), so it carries every parameter but the
    community's, as `protection:{member}:{asset}` does."""

    name: str
    stmt: Any  # a SQLAlchemy Core select
    params: dict[str, Any]
    all_rows: bool = False  # keep every row (a list), not the first
    # False: a row the write itself changes (a metered use's), never kept by the SQLite
    # writer's cache for the next write.
    cached: bool = True


def member_read(kind: str, stmt: Any) -> Callable[[str, str, str], PreRead]:
    """A hook's read of one member's row for an asset (`stmt` binds `c`, `m` and `a`), named
    `kind:member:asset`. Every debit asks for it at least twice (sent ahead, then read): the
    read is made once per community, member and asset, and the latest
    `limits.member_reads_kept` are kept."""

    @functools.lru_cache(maxsize=limits.member_reads_kept)
    def read(community_id: str, member_id: str, asset: str) -> PreRead:
        return PreRead(f"{kind}:{member_id}:{asset}", stmt,
                       {"c": community_id, "m": member_id, "a": asset})

    return read


class LockBy(NamedTuple):
    """Accounts a write names by what holds them (a transfer's postings, a hold), locked and
    read in its first round trip after the wallets it names (`WorkSet.preload`). `with_lots`:
    the write's `lot_reads` bring every live lot of those accounts, so they count as loaded
    whole (`WorkSet.loaded`); `credit_lots`: and those a credit to them may touch."""

    stmt: Any  # a SQLAlchemy Core select ... FOR UPDATE
    params: dict[str, Any]
    with_lots: bool = False
    # The `lot_reads` also bring every lot a credit to those accounts may touch (their drained
    # mergeable lots too, as `statements.credit_lots_of`): a credit reads nothing more.
    credit_lots: bool = False


@dataclass(frozen=True, slots=True)
class MemberBy:
    """The member and asset a write debits when its caller knows them only by what holds them
    (a hold placed by another process): scalar subqueries that stand in for the `m` and `a`
    parameters of the hooks' reads sent ahead (`LedgerBase.pre_reads`), their own parameters,
    and how to tell the member and asset from the rows the first round trip read
    (`WorkSet.prefetched`), None where it found none."""

    member: Any  # a SQLAlchemy scalar subquery
    asset: Any
    params: dict[str, Any]
    found: Callable[[dict[str, Any]], tuple[str, str] | None]


@dataclass(slots=True)
class Header:
    kind: TransferKind
    asset: str
    member_id: str | None = None
    service: str | None = None
    reverses_id: str | None = None
    hold_id: str | None = None
    actor: str = "system"
    reason_code: str = ""
    memo: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


class Declined(Exception):
    """An operation planned against the working set failed; nothing was applied."""

    def __init__(self, status: Status, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra

    def error(self) -> Exception:
        return error_for(self.status, self.detail, **self.extra)


def too_few_credits(member_id: str | None, asset: str, held: int, required: int,
                    floor: int | None = None) -> Declined:
    """A debit its wallet (lots and credit line) cannot pay, as every path declines it.

    `held`: the credits the wallet's lots hold less what its credit line owes already;
    `floor`: the wallet's floor. The decline's `balance` is what the member could still
    spend, the `available` of their balance (`held` and the credit line's room), so that a
    402, `GET .../balance` and the shortfall a charge's fixes cover agree."""
    available = held - min(floor or 0, 0)
    return Declined(Status.insufficient_credits,
                    f"member {member_id!r} has {available} {asset} available, "
                    f"{required} required", balance=available, required=required,
                    member=member_id, asset=asset)


class CreditNeedsLock(Exception):
    """A wallet a write meant to credit without its lock (`WorkSet.preload`'s `credited`)
    needs it after all (a credit line, a low-balance alert): the write is done again with
    every wallet locked, and the ledger remembers `account_id` for a while."""

    def __init__(self, reason: str, account_id: str) -> None:
        super().__init__(reason)
        self.account_id = account_id
