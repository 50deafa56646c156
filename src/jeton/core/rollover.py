"""Capped rollover of a plan's unused cycle credits (docs/decisions/0060). Pure: no I/O.

A plan's terms in the catalog file may say that, when a cycle ends, part of the credits it left
unused roll into the next cycle instead of expiring:

    [plans.pro.rollover]
    share_percent = 50   # half of what is left rolls (rounded down)...
    cap = 200            # ...but at most 200 credits per cycle end
    cycles = 2           # a credit rolls at most twice, then expires

At least one of `share_percent` and `cap` is given; `cycles` is 1 when left out. Rolled credits
are a new lot that expires at the end of the next cycle; what does not roll expires to breakage.
"""

from __future__ import annotations

from dataclasses import dataclass

from jeton.core import limits
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status

PERCENT_WHOLE = 100


@dataclass(frozen=True, slots=True)
class Rollover:
    share_percent: int | None = None  # 1-100 of what is left; None: all of it (up to the cap)
    cap: int | None = None  # most credits rolled at one cycle end; None: no cap
    cycles: int = 1  # times a credit may roll before it expires for good

    def __post_init__(self) -> None:
        if self.share_percent is None and self.cap is None:
            raise InvalidRequest("a rollover needs share_percent, cap or both",
                                 status=Status.value_invalid)
        for key, value in (("share_percent", self.share_percent), ("cap", self.cap)):
            if value is not None:
                CHECKS[key](value)
        CHECKS["cycles"](self.cycles)

    def rolled(self, unused: int) -> int:
        """Credits that roll out of `unused` credits left at a cycle's end."""
        if unused <= 0:
            return 0
        share = unused if self.share_percent is None else (
            unused * self.share_percent // PERCENT_WHOLE)
        return share if self.cap is None else min(share, self.cap)


def _share(value: object) -> int:
    if type(value) is not int or not 1 <= value <= PERCENT_WHOLE:
        raise InvalidRequest(f"share_percent must be an integer 1-{PERCENT_WHOLE}, got "
                             f"{value!r}", status=Status.value_invalid)
    return value


def _cap(value: object) -> int:
    if type(value) is not int or not 1 <= value <= limits.amount_max:
        raise InvalidRequest(f"cap must be a positive integer of credits, got {value!r}",
                             status=Status.value_invalid)
    return value


def _cycles(value: object) -> int:
    if type(value) is not int or not 1 <= value <= limits.rollover_cycles_max:
        raise InvalidRequest(f"cycles must be an integer 1-{limits.rollover_cycles_max}, got "
                             f"{value!r}", status=Status.value_invalid)
    return value


# Each figure's own check, so a catalog file's error points at the figure's line.
CHECKS = {"share_percent": _share, "cap": _cap, "cycles": _cycles}


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """What the catalog says of a plan (sold and priced elsewhere): its rollover, for now."""

    plan_id: str
    rollover: Rollover | None = None
