"""A wallet's balance at any instant, and its history over a range, read from the journal.

Every posting on a wallet carries the wallet's balance after it and the wallet's version (a
counter bumped under the wallet's row lock), so the balance at an instant is the
`balance_after` of the last posting effective at or before it. Postings are indexed by
(community, account, version) (`ix_postings_version`), and a wallet's effective times rise
with its versions, so that posting is found by bisecting the versions: about log2(version)
index probes, a few dozen on a wallet of a million postings, whatever the range. No checkpoint
or running total is written on the write path (decision 0063).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.clock import ensure_utc, to_us
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.store.tables.ledger import postings, transfers

INTERVALS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}

P, T = postings.c, transfers.c

_COLS = (P.account_version, P.balance_after, P.transfer_id, T.effective_at_us)
_JOIN = postings.join(transfers, sa.and_(T.community_id == P.community_id,
                                         T.transfer_id == P.transfer_id))
_WALLET = sa.and_(P.community_id == sa.bindparam("c"), P.account_id == sa.bindparam("a"),
                  P.account_version.is_not(None))
# The first posting with lo <= version < hi: one probe of ix_postings_version.
_PROBE = (sa.select(*_COLS).select_from(_JOIN)
          .where(_WALLET, P.account_version >= sa.bindparam("lo"),
                 P.account_version < sa.bindparam("hi"))
          .order_by(P.account_version).limit(1))
_LAST = sa.select(*_COLS).select_from(_JOIN).where(_WALLET).order_by(
    P.account_version.desc()).limit(1)
_FIRST = sa.select(*_COLS).select_from(_JOIN).where(_WALLET).order_by(
    P.account_version).limit(1)


def wallet_postings(community_id: str, account_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    """The terms that find a wallet's postings, by its version (`ix_postings_version`): an
    untracked account's postings carry none and are found by transfer (decision 0108)."""
    return (P.community_id == community_id, P.account_id == account_id,
            P.account_version.is_not(None))


def version_at(community_id: str, account_id: str, transfer_id: str) -> Any:
    """The wallet's version after `transfer_id` (NULL if that transfer did not post to it):
    where a page of its postings, in the order its balance moved, goes on from."""
    return sa.select(P.account_version).where(
        *wallet_postings(community_id, account_id), P.transfer_id == transfer_id
    ).scalar_subquery()


@dataclass(frozen=True, slots=True)
class Point:
    """A posting on the wallet: its version, the balance after it, its transfer and when."""
    version: int
    balance: int
    transfer_id: str
    effective_at_us: int


def _point(row: Any) -> Point | None:
    return None if row is None else Point(int(row[0]), int(row[1]), str(row[2]), int(row[3]))


class WalletHistory:
    """Bisects one wallet's postings. Reads in the connection it is given (one snapshot)."""

    def __init__(self, conn: Connection, community_id: str, account_id: str) -> None:
        self.conn = conn
        self.params = {"c": community_id, "a": account_id}
        self.probes = 0
        self.last = self._one(_LAST)
        self.first = self._one(_FIRST) if self.last is not None else None

    def _one(self, stmt: Any, **extra: int) -> Point | None:
        self.probes += 1
        return _point(self.conn.execute(stmt, {**self.params, **extra}).first())

    def at(self, at_us: int, after: Point | None = None) -> Point | None:
        """The last posting effective at or before `at_us` (None: none yet). `after`, a
        posting known to be effective at or before `at_us`, narrows the search."""
        first, last = self.first, self.last
        if first is None or last is None or first.effective_at_us > at_us:
            return None
        if last.effective_at_us <= at_us:
            return last
        lo = after if after is not None and after.version >= first.version else first
        hi = last.version  # every posting from `hi` on is effective after `at_us`
        while hi - lo.version > 1:
            mid = (lo.version + hi) // 2
            found = self._one(_PROBE, lo=mid, hi=hi)
            if found is not None and found.effective_at_us <= at_us:
                lo = found
            else:  # nothing in [mid, hi) is effective by `at_us`
                hi = mid
        return lo


def series_bounds(since: datetime, until: datetime, interval: str) -> list[datetime]:
    """The ends of the intervals from `since` to `until`: every whole step, then `until`."""
    step = INTERVALS.get(interval)
    if step is None:
        raise InvalidRequest(f"interval must be one of {', '.join(INTERVALS)}",
                             status=Status.value_invalid)
    try:
        since, until = ensure_utc(since), ensure_utc(until)
    except ValueError as exc:
        raise InvalidRequest(str(exc), status=Status.value_invalid) from exc
    if until <= since:
        raise InvalidRequest("until must be after since", status=Status.value_invalid)
    count = -(-(until - since) // step)  # whole and started intervals
    if count > limits.balance_history_points_max:
        raise InvalidRequest(
            f"{count} points asked; at most {limits.balance_history_points_max} per history "
            "(a longer interval or a shorter range)", status=Status.value_invalid)
    ends = [since + step * k for k in range(1, count)]
    return [*ends, until]


def instant_us(when: datetime, what: str) -> int:
    try:
        return to_us(when)
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidRequest(f"{what} must be a timezone-aware instant",
                             status=Status.value_invalid) from exc
