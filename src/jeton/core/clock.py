"""Business time. Every rule that depends on time (expiry, cycles, hold timeouts) asks a Clock.

`ManualClock` is public so that users test their own integration with time they control.

A community created in test mode has a clock of its own (a test clock, decision 0056): while an
operation of that community runs, `community_time(...)` says its frozen instant, and
`CommunityClock.now()` (the clock every service of a Jeton holds) answers it instead of the
base clock. Outside such an operation, and for live communities, the base clock answers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved. Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = ensure_utc(start) if start else datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("a ManualClock only moves forward")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = ensure_utc(when)


class CommunityClock:
    """The clock of a Jeton: its base clock, or the frozen instant of the test-mode community
    whose operation is running (`community_time`). Anything else (a ManualClock's `advance`)
    is the base clock's."""

    def __init__(self, base: Clock) -> None:
        self.base = base

    def now(self) -> datetime:
        scope = _community_time.get()
        if scope is not None and scope[1] is not None:
            return scope[1]
        return self.base.now()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


# (community id, its frozen instant or None for a live community) of the running operation.
# Context variables follow threads that copy the context (the SQLite group commit does).
_community_time: ContextVar[tuple[str, datetime | None] | None] = ContextVar(
    "jeton_community_time", default=None)


def current_community_time() -> tuple[str, datetime | None] | None:
    """The community whose time is in force here, and its frozen instant (None: live)."""
    return _community_time.get()


@contextmanager
def community_time(community_id: str, frozen: datetime | None) -> Iterator[None]:
    """Run the block on `community_id`'s time: `frozen` (a test clock) or, None, the base
    clock's."""
    token = _community_time.set((community_id, ensure_utc(frozen) if frozen else None))
    try:
        yield
    finally:
        _community_time.reset(token)


def ensure_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    try:
        return when.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+04:00 is before the first instant of year 1 in UTC
        raise ValueError("datetimes must fall within the years 1 to 9999 in UTC") from None


def to_us(when: datetime) -> int:
    """Microseconds since the Unix epoch: how Jeton stores an instant."""
    when = ensure_utc(when)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
