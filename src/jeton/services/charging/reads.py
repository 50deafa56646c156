"""The few statements of the charge path beside the ledger's own.

- `snapshot`: in ONE statement, whether the member exists, every class and key they hold (with
  expiries, lapsed ones included so that a refusal can say "your vip class expired"), the
  community's active catalog version, its running leases (leases.py: who is paid a share of
  a charge in a leased area), and the member's plan discount (the funding side's query,
  charging_hooks.py). A charge sends it ahead with its write's first round trip on
  PostgreSQL (`snapshot_read`), so a charge of a service without an allowance makes the
  round trips of a plain spend (decision 0087).
- `add_allowance_use` / `allowance_used`: the allowance counter, raised by an atomic upsert that
  returns the new count (so two racing charges never both get the last free use), or read.
- `add_reward`: the reward counter, raised only while under the limit (a conditional upsert;
  at the limit it writes nothing and returns None).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from jeton.core.access import Grant, Holdings
from jeton.core.clock import from_us
from jeton.services.ledger.state import PreRead
from jeton.store.fastsql import Runner
from jeton.store.tables.catalog import catalog_versions
from jeton.store.tables.charging import allowance_uses, reward_counts
from jeton.store.tables.funding import member_classes, member_keys
from jeton.store.tables.leases import leases
from jeton.store.tables.ledger import members

_C = member_classes.c
_K = member_keys.c
_M = members.c
_V = catalog_versions.c
_L = leases.c
_COMMUNITY: sa.BindParameter[str] = sa.bindparam("c")
_MEMBER: sa.BindParameter[str] = sa.bindparam("m")
_NO_INSTANT = sa.cast(sa.null(), sa.BigInteger)
_BAR = sa.literal_column("'|'", sa.String)

_SNAPSHOT_PARTS: tuple[Any, ...] = (
    sa.select(sa.literal_column("'m'").label("what"), _M.member_id.label("name"),
              _NO_INSTANT.label("value")).where(
        _M.community_id == _COMMUNITY, _M.member_id == _MEMBER),
    sa.select(sa.literal_column("'c'"), _C["class"], _C.expires_at_us).where(
        _C.community_id == _COMMUNITY, _C.member_id == _MEMBER),
    sa.select(sa.literal_column("'k'"), _K.key, _K.expires_at_us).where(
        _K.community_id == _COMMUNITY, _K.member_id == _MEMBER),
    sa.select(sa.literal_column("'v'"), sa.cast(sa.null(), sa.String),
              sa.cast(sa.func.max(_V.version), sa.BigInteger)).where(_V.community_id == _COMMUNITY),
    # A running lease as `area|operator|lease id` and its share: few rows, none in most
    # communities (an indexed look-up that finds nothing).
    sa.select(sa.literal_column("'l'"),
              _L.area.concat(_BAR).concat(_L.operator_id).concat(_BAR).concat(_L.lease_id),
              sa.cast(_L.share_bp, sa.BigInteger)).where(
        _L.community_id == _COMMUNITY, _L.ended_at_us.is_(None)),
)
_SNAPSHOT = sa.union_all(*_SNAPSHOT_PARTS)
# The snapshot with a discount query folded in, per query object (one in practice: funding's).
_WITH_DISCOUNT: dict[sa.Select[Any], sa.CompoundSelect[Any]] = {}


@dataclass(frozen=True, slots=True)
class LeaseTerm:
    """A running lease as the charge sees it: who is paid what share in which area."""

    area: str
    operator_id: str
    lease_id: str
    share_bp: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    is_member: bool
    holdings: Holdings  # every grant, lapsed ones too; access rules look at `now`
    catalog_version: int  # 0: no catalog loaded
    discount_bp: int = 0  # the plan discount the query found (0: none, or no query)
    leases: tuple[LeaseTerm, ...] = ()

    def lease_for(self, code: str) -> LeaseTerm | None:
        """The running lease whose area holds service `code` (areas never overlap)."""
        return _lease_for(self.leases, code)


def _lease_for(terms: Iterable[LeaseTerm], code: str) -> LeaseTerm | None:
    return next((term for term in terms if code.startswith(term.area)), None)


_RUNNING_LEASES = sa.select(_L.area, _L.operator_id, _L.lease_id, _L.share_bp).where(
    _L.community_id == _COMMUNITY, _L.ended_at_us.is_(None))


def running_leases_read(community_id: str) -> PreRead:
    """The running leases of a community, for a metered use's capture (decision 0093): its
    price reads them, and its write sends the read ahead to check them again."""
    return PreRead("leases:running", _RUNNING_LEASES, {"c": community_id}, all_rows=True)


def lease_of(rows: Iterable[Any], code: str) -> LeaseTerm | None:
    """The lease of `running_leases_read`'s rows whose area holds service `code`."""
    return _lease_for((LeaseTerm(area, operator, lease_id, int(bp))
                       for area, operator, lease_id, bp in rows), code)


def snapshot(conn: Connection, community_id: str, member_id: str, now_us: int,
             discount: sa.Select[Any] | None = None) -> Snapshot:
    """The member's snapshot; `discount` (charging_hooks.py) is read in the same statement."""
    read = snapshot_read(community_id, member_id, now_us, discount)
    return snapshot_of(Runner(conn, conn.dialect.name).rows(read.stmt, read.params))


def snapshot_read(community_id: str, member_id: str, now_us: int,
                  discount: sa.Select[Any] | None = None) -> PreRead:
    """The snapshot's read, for a write to send ahead with its first round trip (a charge's
    on PostgreSQL: decision 0087); `snapshot_of` its rows."""
    return PreRead(f"snapshot:{member_id}:{now_us}", _statement(discount),
                   {"c": community_id, "m": member_id, "now": now_us}, all_rows=True)


def snapshot_of(rows: list[tuple[Any, ...]]) -> Snapshot:
    is_member = False
    version = 0
    discount_bp = 0
    classes: list[Grant] = []
    keys: list[Grant] = []
    terms: list[LeaseTerm] = []
    for what, name, value in rows:
        if what == "m":
            is_member = True
        elif what == "v":
            version = int(value or 0)
        elif what == "d":
            discount_bp = int(value or 0)
        elif what == "l":
            area, rest = name.split("|", 1)  # an area has no '|', nor a lease id
            operator_id, lease_id = rest.rsplit("|", 1)
            terms.append(LeaseTerm(area, operator_id, lease_id, int(value)))
        else:
            grant = Grant(name, from_us(value) if value is not None else None)
            (classes if what == "c" else keys).append(grant)
    classes.sort(key=lambda g: g.name)
    keys.sort(key=lambda g: g.name)
    return Snapshot(is_member, Holdings(tuple(classes), tuple(keys)), version, discount_bp,
                    tuple(terms))


def _statement(discount: sa.Select[Any] | None) -> sa.CompoundSelect[Any]:
    if discount is None:
        return _SNAPSHOT
    found = _WITH_DISCOUNT.get(discount)
    if found is None:
        found = _WITH_DISCOUNT[discount] = sa.union_all(*_SNAPSHOT_PARTS, sa.select(
            sa.literal_column("'d'"), sa.cast(sa.null(), sa.String),
            sa.cast(discount.scalar_subquery(), sa.BigInteger)))
    return found


def _insert(dialect: str, table: sa.Table) -> Any:
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


_A = allowance_uses.c
_R = reward_counts.c


def add_allowance_use(conn: Connection, community_id: str, member_id: str, service: str,
                      window: str, units: int, now_us: int) -> int:
    """Count `units` more in the window; returns the count *before* them."""
    stmt = _insert(conn.dialect.name, allowance_uses).values(
        community_id=community_id, member_id=member_id, service=service, window_key=window,
        used=units, updated_at_us=now_us)
    stmt = stmt.on_conflict_do_update(
        index_elements=["community_id", "member_id", "service", "window_key"],
        set_={"used": _A.used + stmt.excluded.used, "updated_at_us": stmt.excluded.updated_at_us},
    ).returning(_A.used)
    after = int(conn.execute(stmt).scalar_one())
    return after - units


def allowance_used(conn: Connection, community_id: str, member_id: str, service: str,
                   window: str) -> int:
    found = conn.execute(sa.select(_A.used).where(
        _A.community_id == community_id, _A.member_id == member_id, _A.service == service,
        _A.window_key == window)).scalar()
    return int(found or 0)


def prune_counters(conn: Connection, community_id: str, before_us: int, limit: int) -> int:
    """Delete up to `limit` allowance and reward counters last raised before `before_us`."""
    gone = 0
    for table, key in ((allowance_uses, "service"), (reward_counts, "reward")):
        t = table.c
        keys = (t.member_id, t[key], t.window_key)
        old = [tuple(r) for r in conn.execute(sa.select(*keys).where(
            t.community_id == community_id, t.updated_at_us < before_us).limit(limit - gone))]
        if old:
            conn.execute(table.delete().where(t.community_id == community_id,
                                              sa.tuple_(*keys).in_(old)))
        gone += len(old)
        if gone >= limit:
            break
    return gone


def add_reward(conn: Connection, community_id: str, member_id: str, reward: str, window: str,
               limit: int, now_us: int) -> int | None:
    """Count one more reward in the window if under `limit`; returns the count before it, or
    None (and writes nothing) at the limit."""
    stmt = _insert(conn.dialect.name, reward_counts).values(
        community_id=community_id, member_id=member_id, reward=reward, window_key=window,
        received=1, updated_at_us=now_us)
    stmt = stmt.on_conflict_do_update(
        index_elements=["community_id", "member_id", "reward", "window_key"],
        set_={"received": _R.received + 1, "updated_at_us": stmt.excluded.updated_at_us},
        where=_R.received < limit,
    ).returning(_R.received)
    after = conn.execute(stmt).scalar()
    return None if after is None else int(after) - 1


def rewards_received(conn: Connection, community_id: str, member_id: str, reward: str,
                     window: str) -> int:
    found = conn.execute(sa.select(_R.received).where(
        _R.community_id == community_id, _R.member_id == member_id, _R.reward == reward,
        _R.window_key == window)).scalar()
    return int(found or 0)
