"""Splits and royalties: how the credits of one charge are divided between accounts.

A split is a list of parts, each to a target: a *share* in basis points of the price (30 % of a
download to the uploader) or a *fee* of a fixed number of credits (1 credit to an app store
account). Whatever the parts do not take goes to a default target, the community's revenue.

Rounding: floor each share, remainder to revenue. Every share is `floor(price × bp / 10,000)`,
so a payee never gets more than its stated percentage, and the crumbs (under one credit per
share) go to revenue. The result is exact: the amounts always sum to the price and none is
negative. Largest-remainder rounding was considered; it would hand the crumbs to whichever payee
is closest to the next credit, so a royalty could exceed its stated percentage, and it is harder
to explain on a statement than "the uploader gets 30 %, rounded down".

A split that cannot be honoured is refused with `split_invalid`, never trimmed: shares above
100 %, or fees and shares that together exceed the price. Payments *to* a member (negative
prices) are not split; the services layer pays them from the promotions account.

Targets are resolved by the services layer: an `account` target names an account of the
community (`account:revenue`, `account:appstore`); a `party` target names someone given with
the charge (`party:uploader` is the uploader of the file being downloaded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from jeton.core import limits
from jeton.core.amounts import external_id
from jeton.core.errors import InvalidRequest
from jeton.core.prices import BP_WHOLE
from jeton.core.statuses import Status


class TargetKind(StrEnum):
    account = "account"  # a named account of the community
    party = "party"  # a member named with the charge (the uploader)


@dataclass(frozen=True, slots=True, order=True)
class Target:
    kind: TargetKind
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, TargetKind):
            raise InvalidRequest(f"split target kind must be 'account' or 'party', "
                                 f"got {self.kind!r}", status=Status.split_invalid)
        external_id(self.name, "split target")

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"

    @classmethod
    def parse(cls, text: object) -> Target:
        """`account:appstore` or `party:uploader`, as written in a catalog."""
        if not isinstance(text, str) or ":" not in text:
            raise InvalidRequest(
                f"split target must look like 'account:NAME' or 'party:NAME', got {text!r}",
                status=Status.split_invalid)
        kind, _, name = text.partition(":")
        if kind not in TargetKind.__members__:
            raise InvalidRequest(
                f"split target must start with 'account:' or 'party:', got {text!r}",
                status=Status.split_invalid)
        return cls(TargetKind(kind), name)


REVENUE = Target(TargetKind.account, "revenue")
REVENUE_TEXT = str(REVENUE)  # as a split line names it; every charge compares its lines to it


class PartKind(StrEnum):
    share = "share"  # basis points of the price
    fee = "fee"  # a fixed number of credits


@dataclass(frozen=True, slots=True)
class SplitPart:
    target: Target
    kind: PartKind
    value: int  # basis points for a share, credits for a fee

    def __post_init__(self) -> None:
        if not isinstance(self.kind, PartKind):
            raise InvalidRequest(f"split part kind must be 'share' or 'fee', got {self.kind!r}",
                                 status=Status.split_invalid)
        top = BP_WHOLE if self.kind is PartKind.share else limits.amount_max
        if type(self.value) is not int or not 1 <= self.value <= top:
            unit = "basis points" if self.kind is PartKind.share else "credits"
            raise InvalidRequest(f"a {self.kind.value} must be 1-{top} {unit}, got {self.value!r}",
                                 status=Status.split_invalid)

    @classmethod
    def share(cls, target: Target, bp: int) -> SplitPart:
        return cls(target, PartKind.share, bp)

    @classmethod
    def fee(cls, target: Target, credits: int) -> SplitPart:
        return cls(target, PartKind.fee, credits)


def check_parts(parts: Sequence[SplitPart]) -> None:
    """Refuse parts that are wrong whatever the price: too many, a target twice, over 100 %."""
    if len(parts) > limits.split_parts_max:
        raise InvalidRequest(f"a split has at most {limits.split_parts_max} parts, "
                             f"got {len(parts)}", status=Status.split_invalid)
    targets = [str(p.target) for p in parts]
    if len(set(targets)) != len(targets):
        raise InvalidRequest(f"a split names a target twice: {targets}",
                             status=Status.split_invalid)
    shares_bp = sum(p.value for p in parts if p.kind is PartKind.share)
    if shares_bp > BP_WHOLE:
        raise InvalidRequest(f"shares add up to {shares_bp} basis points, over 100 %",
                             status=Status.split_invalid)


def fees_total(parts: Sequence[SplitPart]) -> int:
    return sum(p.value for p in parts if p.kind is PartKind.fee)


def shares_bp(parts: Sequence[SplitPart]) -> int:
    return sum(p.value for p in parts if p.kind is PartKind.share)


def split(price: int, parts: Sequence[SplitPart],
          default: Target = REVENUE) -> list[tuple[Target, int]]:
    """Divide `price` credits between the parts; the rest goes to `default`.

    Returns (target, amount) pairs: the parts in their order, then `default`; a target whose
    amount rounds to zero is left out (a posting of zero is not a posting), and when `default`
    is also one of the parts its amounts are merged into one pair. A price of zero has nothing
    to divide and returns no pairs. The amounts always sum to `price`; none is negative.
    """
    if type(price) is not int or price < 0:
        raise InvalidRequest(f"only a charge of zero or more credits is split, got {price!r}",
                             status=Status.amount_invalid)
    check_parts(parts)
    if price == 0:
        return []
    amounts: dict[Target, int] = {}
    for part in parts:
        if part.kind is PartKind.fee:
            amounts[part.target] = part.value
        else:
            amounts[part.target] = price * part.value // BP_WHOLE
    taken = sum(amounts.values())
    if taken > price:
        raise InvalidRequest(
            f"the split takes {taken} credits (fees {fees_total(parts)}, shares "
            f"{shares_bp(parts)} bp) out of a price of {price}",
            status=Status.split_invalid, price=price, required=taken)
    amounts[default] = amounts.get(default, 0) + price - taken
    return [(target, amount) for target, amount in amounts.items() if amount > 0]
