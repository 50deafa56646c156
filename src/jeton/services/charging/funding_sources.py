"""Funding sources: replaceable deduction logic, asked before (or instead of) the wallet.

An operator may pay for charges, wholly or in part, from something outside Jeton's wallets: a
loyalty-card points database, a company's prepaid budget, a partner's voucher system. Such a
source implements `FundingSource` and is registered for a community:

    j.charging.funding_sources.register(LoyaltyCardSource("loyalty.db"), community_id="shop")

or installed by a package under the entry point group `jeton.funding_sources` and registered by
name (`register_entry_point("loyalty", community_id="shop", path="loyalty.db")`); the entry
point names a callable that takes keyword options and returns the source.

The protocol (every method is called with a `FundingRequest`, or its `reference`):

- `quote(request) -> int`: what the source would pay now, 0..request.amount, with no side
  effect. `check` calls it.
- `try_pay(request) -> int`: pay up to `request.amount` now and return what was paid. It must
  be idempotent per `request.reference`: asked again with the same reference (a retried charge,
  a database retry) it returns the first answer and takes nothing more.
- `refund(reference)`: give back what was paid under `reference` (nothing if nothing was). Also
  idempotent. After a refund, `try_pay` with the same reference may pay again.
- `name`: an id (letters, digits, `._-`); also the name of the ledger account the source's
  payments are booked against (created on first use, kind `external`). The account goes
  negative by what the source paid for: it is what the outside system owes the community.
- `replaces_wallet`: False (the default) asks the source *first* and the wallet pays the rest;
  True asks it *instead*: what it cannot pay is declined as insufficient credits.

Atomic from the caller's view. `charge` asks the sources inside its database transaction (after
the idempotency check, so a replayed charge asks nobody), then books one transfer: the member's
wallet and each source's account on the debit side, splits and revenue on the credit side. If
anything fails after a source paid (the wallet is short, the database refuses), every source
that paid is refunded before the error reaches the caller. The reference is derived from the
community and the charge's idempotency key, so a caller retrying after a crash never pays twice.
Sources are called while the charge's transaction is open; keep them fast (a local database,
not a slow network service), or put a cache in front.

Metered use (holds) is paid from the wallet only.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from jeton.core import limits
from jeton.core.amounts import external_id, whole_amount
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.statuses import Status

ENTRY_POINT_GROUP = "jeton.funding_sources"


@dataclass(frozen=True, slots=True)
class FundingRequest:
    community_id: str
    member_id: str
    service: str
    amount: int  # credits still to pay when this source is asked
    asset: str
    reference: str  # the same for every attempt of one charge


@runtime_checkable
class FundingSource(Protocol):
    name: str
    replaces_wallet: bool

    def quote(self, request: FundingRequest) -> int: ...

    def try_pay(self, request: FundingRequest) -> int: ...

    def refund(self, reference: str) -> None: ...


def reference_for(community_id: str, idempotency_key: str, source: str) -> str:
    """A charge's reference at one source: stable across retries, short, no raw key in it."""
    raw = f"{community_id}\x00{idempotency_key}\x00{source}".encode()
    return hashlib.sha256(raw).hexdigest()[:40]


def paid_amount(source: FundingSource, value: object, asked: int) -> int:
    """A source's answer, checked: a whole number 0..asked. Anything else is the source's bug."""
    amount = whole_amount(value, f"what funding source {source.name!r} paid")
    if not 0 <= amount <= asked:
        raise InvalidRequest(f"funding source {source.name!r} answered {amount} for a request "
                             f"of {asked}", status=Status.value_invalid)
    return amount


class FundingSources:
    """The sources registered per community (and for every community), in the order asked."""

    def __init__(self) -> None:
        self._by_community: dict[str | None, list[FundingSource]] = {}
        self._lock = threading.Lock()

    def register(self, source: FundingSource, *, community_id: str | None = None) -> None:
        """Ask `source` on charges of `community_id` (None: of every community), after the
        sources registered before it."""
        if not isinstance(source, FundingSource):
            raise InvalidRequest("a funding source has name, replaces_wallet, quote, try_pay "
                                 "and refund", status=Status.value_invalid)
        external_id(source.name, "funding source name")
        with self._lock:
            found = self._by_community.setdefault(community_id, [])
            if any(s.name == source.name for s in found):
                raise InvalidRequest(f"a funding source named {source.name!r} is registered",
                                     status=Status.already_exists)
            if len(found) >= limits.funding_sources_max:
                raise InvalidRequest(f"at most {limits.funding_sources_max} funding sources",
                                     status=Status.value_invalid)
            found.append(source)

    def unregister(self, name: str, *, community_id: str | None = None) -> None:
        with self._lock:
            found = self._by_community.get(community_id, [])
            self._by_community[community_id] = [s for s in found if s.name != name]

    def register_entry_point(self, name: str, *, community_id: str | None = None,
                             **options: Any) -> FundingSource:
        """Make the source installed under `name` in the `jeton.funding_sources` group and
        register it."""
        source = from_entry_point(name, **options)
        self.register(source, community_id=community_id)
        return source

    def for_community(self, community_id: str) -> list[FundingSource]:
        with self._lock:
            return [*self._by_community.get(community_id, ()),
                    *self._by_community.get(None, ())]

    def __bool__(self) -> bool:
        return any(self._by_community.values())


def from_entry_point(name: str, **options: Any) -> FundingSource:
    """The source made by the factory installed as `name` in the `jeton.funding_sources`
    entry point group, called with `options`."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            factory: Callable[..., FundingSource] = ep.load()
            source = factory(**options)
            if not isinstance(source, FundingSource):
                raise InvalidRequest(f"entry point {name!r} did not make a funding source",
                                     status=Status.value_invalid)
            return source
    raise NotFound(f"no funding source {name!r} is installed (entry point group "
                   f"{ENTRY_POINT_GROUP})", status=Status.not_found)


class LoyaltyCardSource:
    """A working example: loyalty-card points in a small SQLite database pay for charges.

    Each member's card holds points; `points_per_credit` points pay one credit. Payments are
    recorded per reference, which makes `try_pay` and `refund` idempotent. `path` is a file, or
    ":memory:" for tests. Thread-safe (one connection behind a lock: the example favours clarity
    over throughput).
    """

    def __init__(self, path: str | Path = ":memory:", *, name: str = "loyalty",
                 points_per_credit: int = 1, replaces_wallet: bool = False) -> None:
        if type(points_per_credit) is not int or points_per_credit < 1:
            raise InvalidRequest("points_per_credit must be a whole number, at least 1",
                                 status=Status.value_invalid)
        self.name = external_id(name, "funding source name")
        self.points_per_credit = points_per_credit
        self.replaces_wallet = replaces_wallet
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS cards (member_id TEXT PRIMARY KEY, "
                       "points INTEGER NOT NULL CHECK (points >= 0))")
            db.execute("CREATE TABLE IF NOT EXISTS payments (reference TEXT PRIMARY KEY, "
                       "member_id TEXT NOT NULL, credits INTEGER NOT NULL, "
                       "points INTEGER NOT NULL)")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _card_key(self, request: FundingRequest) -> str:
        return f"{request.community_id}/{request.member_id}"

    # ---- the card itself (what the loyalty program does) ----

    def add_points(self, community_id: str, member_id: str, points: int) -> int:
        """Put points on a member's card; returns the card's points."""
        if type(points) is not int or points < 1:
            raise InvalidRequest("points must be a whole number, at least 1",
                                 status=Status.value_invalid)
        card = f"{community_id}/{member_id}"
        with self._tx() as db:
            db.execute("INSERT INTO cards (member_id, points) VALUES (?, ?) ON CONFLICT "
                       "(member_id) DO UPDATE SET points = points + excluded.points",
                       (card, points))
            return int(db.execute("SELECT points FROM cards WHERE member_id = ?",
                                  (card,)).fetchone()[0])

    def points(self, community_id: str, member_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT points FROM cards WHERE member_id = ?",
                                   (f"{community_id}/{member_id}",)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- the FundingSource protocol ----

    def quote(self, request: FundingRequest) -> int:
        return min(request.amount,
                   self.points(request.community_id, request.member_id)
                   // self.points_per_credit)

    def try_pay(self, request: FundingRequest) -> int:
        with self._tx() as db:
            done = db.execute("SELECT credits FROM payments WHERE reference = ?",
                              (request.reference,)).fetchone()
            if done is not None:
                return int(done[0])
            card = self._card_key(request)
            row = db.execute("SELECT points FROM cards WHERE member_id = ?", (card,)).fetchone()
            credits = min(request.amount, (int(row[0]) if row else 0) // self.points_per_credit)
            if credits == 0:
                return 0
            points = credits * self.points_per_credit
            db.execute("UPDATE cards SET points = points - ? WHERE member_id = ?",
                       (points, card))
            db.execute("INSERT INTO payments (reference, member_id, credits, points) "
                       "VALUES (?, ?, ?, ?)", (request.reference, card, credits, points))
            return credits

    def refund(self, reference: str) -> None:
        with self._tx() as db:
            row = db.execute("SELECT member_id, points FROM payments WHERE reference = ?",
                             (reference,)).fetchone()
            if row is None:
                return
            db.execute("UPDATE cards SET points = points + ? WHERE member_id = ?",
                       (row[1], row[0]))
            db.execute("DELETE FROM payments WHERE reference = ?", (reference,))
