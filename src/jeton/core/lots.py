"""Lots and the order in which they are spent.

A wallet's credits are lots: an amount left, where it came from, paid or free, its cost basis,
when it expires, a priority and an optional scope (the services it may pay for). Spending draws
lots in a fixed order (DESIGN.md §2):

1. lots scoped to the service being paid for, before unscoped lots;
2. higher priority first;
3. soonest expiry first (a lot that never expires goes last);
4. free before paid;
5. oldest first (lot ids are time-ordered).

Expired lots are never drawn, even before the expiry job has moved them to breakage. A wallet
allowed below zero (a credit line) keeps what it owes in one `overdraft` lot whose amount is
zero or negative; incoming credits repay it first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

OVERDRAFT = "overdraft"


class LotLike(Protocol):
    """What the spend rules read of a lot (core `Lot`, or a working set's copy of one)."""

    @property
    def id(self) -> str: ...
    @property
    def remaining(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def expires_at_us(self) -> int | None: ...
    @property
    def scope(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Lot:
    id: str
    remaining: int
    paid: bool
    expires_at_us: int | None
    priority: int
    scope: str | None
    source: str


def scope_matches(scope: str | None, service: str | None) -> bool:
    """An unscoped lot pays for anything; `video.*` pays for `video.minute`; `a.b` for `a.b`."""
    if scope is None:
        return True
    if service is None:
        return False
    if scope.endswith(".*"):
        return service.startswith(scope[:-1])
    return scope == service


def spend_order_key(lot: Lot, service: str | None) -> tuple[int, int, int, int, str]:
    scoped_first = 0 if lot.scope is not None else 1
    never = 2**63
    return (
        scoped_first,
        -lot.priority,
        lot.expires_at_us if lot.expires_at_us is not None else never,
        1 if lot.paid else 0,
        lot.id,
    )


def may_pay(lot: LotLike, service: str | None, now_us: int) -> bool:
    """Whether the lot may pay for `service` now, whatever is left in it: not the credit line,
    not expired, and in scope."""
    return (lot.source != OVERDRAFT
            and (lot.expires_at_us is None or lot.expires_at_us > now_us)
            and scope_matches(lot.scope, service))


def spendable(lots: list[Lot], service: str | None, now_us: int) -> list[Lot]:
    """The lots that may pay for `service` now, in spend order."""
    eligible = [lot for lot in lots if lot.remaining > 0 and may_pay(lot, service, now_us)]
    eligible.sort(key=lambda lot: spend_order_key(lot, service))
    return eligible


@dataclass(frozen=True, slots=True)
class DrawPlan:
    draws: list[tuple[str, int]]  # (lot id, amount taken), in spend order
    covered: int  # what the lots cover
    shortfall: int  # what they do not


def plan_draw(lots: list[Lot], amount: int, service: str | None, now_us: int) -> DrawPlan:
    """Which lots pay for `amount`, in spend order. Pure: nothing is changed."""
    return draw_in_order(spendable(lots, service, now_us), amount)


def draw_in_order(ordered: Iterable[LotLike], amount: int) -> DrawPlan:
    """Take `amount` from lots already in spend order (empty ones are passed over)."""
    draws: list[tuple[str, int]] = []
    left = amount
    for lot in ordered:
        if left == 0:
            break
        if lot.remaining > 0:
            take = min(lot.remaining, left)
            draws.append((lot.id, take))
            left -= take
    return DrawPlan(draws=draws, covered=amount - left, shortfall=left)


def available_from_lots(lots: list[Lot], service: str | None, now_us: int) -> int:
    return sum(lot.remaining for lot in spendable(lots, service, now_us))
