"""Free allowances and per-period windows: "5 free chat messages a session".

An allowance gives `uses` free units of a service per window: a session, a calendar day, an ISO
week or a calendar month. Units are the service's quantity (uses for a fixed price; minutes or
bytes for a per-unit price), so "10 free minutes of video a day" is an allowance of 10 on
`video.minute`. What happens past the allowance is a flag on the rule: `charge` (the normal
price applies to the rest) or `prompt` (the action is refused and the member is asked to buy;
the teaser of a chat room).

This module is the arithmetic only. The services layer counts the units already used in the
window (it stores counts under the window key) and passes the count in.

Windows are calendar periods of `now` *as given*: pass `now` in the community's time zone to
get local days (a day that starts at local midnight); pass UTC for UTC days. Keys are readable
and sort in time order within a period: `2026-11-21`, `2026-W47` (ISO 8601 week, which starts
on Monday and belongs to the year of its Thursday), `2026-11`, or the session id itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jeton.core import limits
from jeton.core.amounts import external_id
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status


class Period(StrEnum):
    session = "session"
    day = "day"
    week = "week"
    month = "month"


class AfterAllowance(StrEnum):
    charge = "charge"  # the normal price applies to what is not free
    prompt = "prompt"  # refuse the action and prompt the member to buy


@dataclass(frozen=True, slots=True)
class Allowance:
    uses: int  # free units per window
    period: Period
    after: AfterAllowance = AfterAllowance.charge

    def __post_init__(self) -> None:
        if type(self.uses) is not int or not 1 <= self.uses <= limits.quantity_max:
            raise InvalidRequest(f"an allowance gives 1-{limits.quantity_max} free uses, "
                                 f"got {self.uses!r}", status=Status.value_invalid)
        if not isinstance(self.period, Period):
            raise InvalidRequest(f"period must be one of {[p.value for p in Period]}, "
                                 f"got {self.period!r}", status=Status.value_invalid)
        if not isinstance(self.after, AfterAllowance):
            raise InvalidRequest(f"after an allowance: one of "
                                 f"{[a.value for a in AfterAllowance]}, got {self.after!r}",
                                 status=Status.value_invalid)


@dataclass(frozen=True, slots=True)
class AllowanceUse:
    """How a request of `free + priced` units is met by an allowance."""

    window: str  # the key under which the services layer counts uses
    free: int  # units of the request that are free
    priced: int  # units left to the normal price (0 when refused)
    refused: bool  # true when `after` is prompt and the request goes past the allowance
    left_after: int  # free units left in the window once this request is done (if not refused)


def window_key(period: Period, now: datetime, session_id: str | None = None) -> str:
    """The window `now` falls in: '2026-11-21', '2026-W47', '2026-11' or the session id."""
    if period is Period.session:
        if session_id is None:
            raise InvalidRequest("a per-session allowance needs the session id",
                                 status=Status.value_invalid)
        return external_id(session_id, "session id")
    if now.tzinfo is None:
        raise InvalidRequest("now must be timezone-aware", status=Status.value_invalid)
    if period is Period.day:
        return now.date().isoformat()
    if period is Period.week:
        year, week, _ = now.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{now.year:04d}-{now.month:02d}"


def use_allowance(allowance: Allowance, used: int, quantity: int, now: datetime,
                  session_id: str | None = None) -> AllowanceUse:
    """Apply `allowance` to a request of `quantity` units when `used` were already free this window.

    Free units are taken first; the rest is priced, or with `after=prompt` the whole request is
    refused (never half done: a message is sent or it is not). A `used` count above the
    allowance (the rule was lowered mid-window) simply leaves nothing free.
    """
    window = window_key(allowance.period, now, session_id)
    if type(used) is not int or not 0 <= used <= limits.amount_max:
        raise InvalidRequest(f"uses already counted must be an integer 0 or more, got {used!r}",
                             status=Status.value_invalid)
    if type(quantity) is not int or not 0 <= quantity <= limits.quantity_max:
        raise InvalidRequest(f"quantity must be an integer 0-{limits.quantity_max}, "
                             f"got {quantity!r}", status=Status.value_invalid)
    left = max(allowance.uses - used, 0)
    free = min(left, quantity)
    rest = quantity - free
    if rest > 0 and allowance.after is AfterAllowance.prompt:
        return AllowanceUse(window=window, free=0, priced=0, refused=True, left_after=left)
    return AllowanceUse(window=window, free=free, priced=rest, refused=False,
                        left_after=left - free)
