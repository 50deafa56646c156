"""The small balance series both the member's page and the owner's member page show: the
member's posted balance at the end of each of the last days, from the journal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from jeton.core import limits

if TYPE_CHECKING:
    from jeton.app import Community


@dataclass(frozen=True, slots=True)
class DayBalance:
    day: date
    posted: int


def last_days(community: Community, member_id: str, now: datetime,
              days: int = limits.balance_series_days) -> tuple[list[DayBalance], int]:
    """The balance at the end of each of the last `days` UTC days (today: so far), oldest
    first, and the highest of them (the scale of the bars)."""
    today = now.astimezone(UTC).date()
    since = datetime.combine(today - timedelta(days=days - 1), time(), UTC)
    series = community.balance_history(member_id, since, now, interval="day")
    points = [DayBalance((p.at - timedelta(microseconds=1)).date(), p.posted)
              for p in series.points]
    return points, max([p.posted for p in points] + [1])
