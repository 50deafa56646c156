"""Test clocks, the ledger's side (decision 0056): which communities run on a clock of their
own, and the scope that puts an operation of a community on its time.

`CommunityClocks.scope(community_id)` is entered by every operation of one community (the
`Community` methods in app.py, which the HTTP API and the pages call, and each job run). For a
community made in test mode it reads the community's frozen instant once, and every
`clock.now()` inside answers it; for a live community it reads nothing after the first time (a
community's mode never changes), so the live path costs a set lookup.

Advancing a clock runs every domain's jobs, so it lives above them, in services/ops/clocks.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core.clock import community_time, current_community_time, from_us
from jeton.core.errors import Conflict, NotFound
from jeton.core.statuses import Status
from jeton.services.ledger.results import CommunityInfo, Result
from jeton.store.engine import Store
from jeton.store.tables.clocks import test_clocks
from jeton.store.tables.ledger import communities

_c = test_clocks.c


class ClockInfo(Result):
    """A test-mode community's clock: its `now`, and whether an advance is under way."""

    now: datetime
    status: Literal["ready", "advancing"]
    advancing_to: datetime | None = None
    created_at: datetime


class ClockAdvance(Result):
    """What one advance did: from when to when, how many stops on the way, the jobs' work."""

    previous_now: datetime
    now: datetime
    steps: int
    jobs: dict[str, int]
    replayed: bool = False


_MODE = (sa.select(communities.c.community_id, _c.frozen_time_us)
         .select_from(communities.outerjoin(test_clocks,
                                            _c.community_id == communities.c.community_id)))


# A community with its mode: what `CommunityInfo` is read from (`community_info`).
COMMUNITY_SELECT = sa.select(communities.c.community_id, communities.c.name,
                             communities.c.created_at_us, _c.community_id.is_not(None)).select_from(
    communities.outerjoin(test_clocks, _c.community_id == communities.c.community_id))


def community_info(row: Sequence[Any]) -> CommunityInfo:
    return CommunityInfo(id=row[0], name=row[1], created_at=from_us(row[2]),
                         test_mode=bool(row[3]))


class CommunityClocks:
    """The test clocks of one store. Thread-safe; one per Ledger."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # Communities known to be live. Only grows (a mode never changes), and only with
        # communities that exist, so its size is the store's number of communities.
        self.live: set[str] = set()

    def frozen_us(self, community_id: str) -> int | None:
        """The community's frozen instant, or None when it is live (or does not exist: the
        operation itself reports that)."""
        if community_id in self.live:
            return None
        with self.store.read() as conn:
            row = conn.execute(_MODE.where(communities.c.community_id == community_id)).first()
        if row is None:
            return None
        if row[1] is None:
            self.live.add(community_id)
            return None
        return int(row[1])

    @contextmanager
    def scope(self, community_id: str) -> Iterator[None]:
        """Run the block on the community's time (its test clock's, or the real time)."""
        current = current_community_time()
        if current is not None and current[0] == community_id:
            yield  # already on this community's time (a method calling another)
            return
        if current is None and community_id in self.live:
            yield
            return
        frozen = self.frozen_us(community_id)
        with community_time(community_id, from_us(frozen) if frozen is not None else None):
            yield

    def info(self, community_id: str) -> ClockInfo:
        with self.store.read() as conn:
            return read_clock(conn, community_id)


def read_clock(conn: Connection, community_id: str, *, for_update: bool = False) -> ClockInfo:
    """The community's test clock; NotFound without the community, Conflict
    (`test_mode_required`) for a live one."""
    stmt = sa.select(_c.frozen_time_us, _c.status, _c.advance_to_us, _c.created_at_us).where(
        _c.community_id == community_id)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        exists = conn.execute(sa.select(communities.c.community_id).where(
            communities.c.community_id == community_id)).first()
        if exists is None:
            raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)
        raise Conflict(f"community {community_id!r} is live: its clock is the real time and "
                       "cannot be moved; create a community in test mode to move time",
                       status=Status.test_mode_required)
    advancing = row[1] == "advancing"
    return ClockInfo(now=from_us(row[0]), status="advancing" if advancing else "ready",
                     advancing_to=from_us(row[2]) if advancing and row[2] is not None else None,
                     created_at=from_us(row[3]))


def start_clock(conn: Connection, community_id: str, now_us: int) -> None:
    """Give a community being made in test mode its clock, stopped at `now_us`."""
    conn.execute(test_clocks.insert().values(community_id=community_id, frozen_time_us=now_us,
                                             status="ready", created_at_us=now_us))


def is_test_mode(conn: Connection, community_id: str) -> bool:
    return conn.execute(sa.select(_c.community_id).where(
        _c.community_id == community_id)).first() is not None
