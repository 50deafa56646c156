"""Billing cycles of plans: where each cycle starts and ends. Pure calendar arithmetic, no I/O.

A subscription has an *anchor* (the instant its first cycle starts). Cycle `n` runs from
`cycle_start(anchor, cycle, n)` to `cycle_start(anchor, cycle, n + 1)`, end excluded.

Weekly cycles are 7 days. Month-based cycles (monthly, quarterly, semi-annual, yearly) keep the
anchor's day of the month and time of day, clamped to the last day of shorter months, and are
always counted from the anchor, never from the previous cycle: an anchor on January 31 gives
February 28 (29 in a leap year), then March 31, April 30, May 31. Chaining from the previous
cycle instead would drift to the 28th for good after the first February.

All instants are timezone-aware and handled in UTC, so a cycle never gains or loses an hour at a
daylight-saving change.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from enum import StrEnum

from jeton.core.clock import ensure_utc
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status


class Cycle(StrEnum):
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    semiannual = "semiannual"
    yearly = "yearly"


_MONTHS = {Cycle.monthly: 1, Cycle.quarterly: 3, Cycle.semiannual: 6, Cycle.yearly: 12}
_WEEK = timedelta(days=7)


def parse_cycle(value: object) -> Cycle:
    try:
        return Cycle(str(value))
    except ValueError:
        raise InvalidRequest(f"cycle must be one of {[c.value for c in Cycle]}, got {value!r}",
                             status=Status.value_invalid) from None


def add_months(anchor: datetime, months: int) -> datetime:
    """`anchor` moved by whole calendar months, its day clamped to the target month's end."""
    anchor = ensure_utc(anchor)
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month0 = divmod(index, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return anchor.replace(year=year, month=month0 + 1, day=min(anchor.day, last_day))


def cycle_start(anchor: datetime, cycle: Cycle, n: int) -> datetime:
    """The start of cycle `n` (0 is the first) of a subscription anchored at `anchor`."""
    anchor = ensure_utc(anchor)
    if cycle is Cycle.weekly:
        return anchor + n * _WEEK
    return add_months(anchor, n * _MONTHS[cycle])


def cycle_bounds(anchor: datetime, cycle: Cycle, n: int) -> tuple[datetime, datetime]:
    """Start (included) and end (excluded) of cycle `n`."""
    return cycle_start(anchor, cycle, n), cycle_start(anchor, cycle, n + 1)


def cycle_index(anchor: datetime, cycle: Cycle, when: datetime) -> int:
    """The cycle that contains `when`; -1 before the anchor."""
    anchor, when = ensure_utc(anchor), ensure_utc(when)
    if when < anchor:
        return -1
    if cycle is Cycle.weekly:
        return (when - anchor) // _WEEK
    step = _MONTHS[cycle]
    months = (when.year - anchor.year) * 12 + (when.month - anchor.month)
    n = max(months // step, 0)
    # The estimate is off by at most one either way (day and time of day within the month).
    while n > 0 and cycle_start(anchor, cycle, n) > when:
        n -= 1
    while cycle_start(anchor, cycle, n + 1) <= when:
        n += 1
    return n
