"""Member classes and keys as stored: who holds what, until when.

Funding grants them (a pack's class upgrade, a plan's class for its cycle, a coupon's key);
charging reads them through `holdings`, which returns `core.access.Holdings` for the access
rules and class prices. Every function takes an open connection so that a grant commits with the
purchase, cycle or redemption that gave it.

Granting a class or key the member already holds keeps the later expiry (a grant for good wins
over any expiry): a 30-day upgrade bought twice does not shorten the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core.access import Grant, Holdings
from jeton.core.amounts import external_id
from jeton.core.clock import from_us, to_us
from jeton.store.sql import insert_new
from jeton.store.tables import funding as tables


def _grant(conn: Connection, table: sa.Table, column: str, community_id: str, member_id: str,
           name: str, expires_at_us: int | None, now_us: int, source: str) -> int | None:
    name = external_id(name, f"{column} name")
    t = table.c
    row = {"community_id": community_id, "member_id": member_id, column: name,
           "expires_at_us": expires_at_us, "source": source, "granted_at_us": now_us}
    if insert_new(conn, table, ["community_id", "member_id", column], row):
        return expires_at_us
    where = (t.community_id == community_id, t.member_id == member_id, t[column] == name)
    current = conn.execute(sa.select(t.expires_at_us).where(*where)).scalar_one()
    if current is None:
        return None
    if current <= now_us:  # lapsed: the new grant starts afresh
        new = expires_at_us
    else:
        new = None if expires_at_us is None else max(current, expires_at_us)
    if new != current:
        conn.execute(table.update().where(*where).values(expires_at_us=new, source=source,
                                                         granted_at_us=now_us))
    return new


def grant_class(conn: Connection, community_id: str, member_id: str, name: str, *,
                expires_at_us: int | None, now_us: int, source: str = "grant") -> int | None:
    """Give the member a class until `expires_at_us` (None: for good). Returns its expiry now."""
    return _grant(conn, tables.member_classes, "class", community_id, member_id, name,
                  expires_at_us, now_us, source)


def grant_key(conn: Connection, community_id: str, member_id: str, name: str, *,
              expires_at_us: int | None, now_us: int, source: str = "grant") -> int | None:
    """Give the member a key until `expires_at_us` (None: for good). Returns its expiry now."""
    return _grant(conn, tables.member_keys, "key", community_id, member_id, name,
                  expires_at_us, now_us, source)


def _list(conn: Connection, table: sa.Table, column: str, community_id: str, member_id: str,
          now: datetime | None) -> list[Grant]:
    t = table.c
    stmt = sa.select(t[column], t.expires_at_us).where(t.community_id == community_id,
                                                       t.member_id == member_id)
    if now is not None:
        stmt = stmt.where(sa.or_(t.expires_at_us.is_(None), t.expires_at_us > to_us(now)))
    return [Grant(name, from_us(exp) if exp is not None else None)
            for name, exp in conn.execute(stmt.order_by(t[column]))]


def member_classes(conn: Connection, community_id: str, member_id: str,
                   now: datetime | None) -> list[Grant]:
    """The member's classes; with `now`, only those still live then."""
    return _list(conn, tables.member_classes, "class", community_id, member_id, now)


def member_keys(conn: Connection, community_id: str, member_id: str,
                now: datetime | None) -> list[Grant]:
    """The member's keys; with `now`, only those still live then."""
    return _list(conn, tables.member_keys, "key", community_id, member_id, now)


def holdings(conn: Connection, community_id: str, member_id: str) -> Holdings:
    """Everything the member holds, lapsed grants included, so that access rules can say
    'your vip class expired on ...' rather than 'you have no vip class'."""
    return Holdings(classes=tuple(member_classes(conn, community_id, member_id, None)),
                    keys=tuple(member_keys(conn, community_id, member_id, None)))


def holds_any(conn: Connection, community_id: str, member_id: str, requirements: Sequence[str],
              now: datetime) -> bool:
    """Whether the member holds one of `class:NAME` / `key:NAME` now (empty: anyone does)."""
    if not requirements:
        return True
    classes = {g.name for g in member_classes(conn, community_id, member_id, now)}
    keys = {g.name for g in member_keys(conn, community_id, member_id, now)}
    for requirement in requirements:
        kind, _, name = requirement.partition(":")
        if (kind == "class" and name in classes) or (kind == "key" and name in keys):
            return True
    return False
