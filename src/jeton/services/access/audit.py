"""The audit of what staff did: one record per action, in the same transaction as the action.

Any service acting for a staff user (a grant from the dashboard, a price change) calls
`record_audit` with its open connection; `record_audit_now` is for callers acting after a
service that takes no actor. The time of a record is the database's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.clock import Clock, from_us, to_us
from jeton.core.errors import InvalidRequest
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.store.engine import Store
from jeton.store.tables.base import db_now_us
from jeton.store.tables.web import staff_audit, staff_users

_DAY_US = 86_400 * 1_000_000

@dataclass(frozen=True, slots=True)
class AuditEntry:
    audit_id: str
    user_id: str | None
    user_email: str | None
    action: str
    target: str
    detail: dict[str, Any]
    at: datetime


def record_audit(conn: Connection, community_id: str, user_id: str | None, action: str, *,
                 target: str = "", detail: Mapping[str, Any] | None = None) -> str:
    """Write one audit record in the caller's transaction. Any service acting for staff calls it."""
    detail_json = json.dumps(dict(detail or {}), sort_keys=True, separators=(",", ":"),
                             default=str)
    if len(detail_json.encode()) > limits.metadata_bytes_max:
        raise InvalidRequest(f"audit detail is over {limits.metadata_bytes_max} bytes",
                             status=Status.metadata_too_large)
    audit_id = new_id()
    conn.execute(staff_audit.insert().values(
        community_id=community_id, audit_id=audit_id, user_id=user_id, action=str(action),
        target=target[:300], detail_json=detail_json, at_us=db_now_us()))
    return audit_id


def record_audit_now(store: Store, community_id: str, user_id: str | None, action: str, *,
                     target: str = "", detail: Mapping[str, Any] | None = None) -> str:
    """Write one audit record in a transaction of its own, for an action whose service takes no
    staff actor (a pack created, an API key revoked): the page records it once the action is
    done. Prefer `record_audit` inside the action's transaction wherever the service allows."""
    return store.run_write(lambda conn: record_audit(conn, community_id, user_id, action,
                                                     target=target, detail=detail))


def recorded_with_key(store: Store, community_id: str, action: str, target: str,
                      form_key: str) -> bool:
    """Whether `action` on `target` was recorded with this form's key in its detail
    (`form_key`): the dashboard's sign that a confirm sent twice was done by the first."""
    a = staff_audit.c
    with store.read() as conn:  # the key is a random token: the text names it, or none does
        details = conn.execute(sa.select(a.detail_json).where(
            a.community_id == community_id, a.action == action, a.target == target[:300],
            a.detail_json.contains(form_key, autoescape=True))).scalars().all()
    return any(json.loads(d).get("form_key") == form_key for d in details)


def list_audit(store: Store, community_id: str, *, before: str | None = None,
               limit: int = limits.page_size_default) -> list[AuditEntry]:
    """Newest first; pass the last `audit_id` of a page as `before` for the next page."""
    limit = max(1, min(limit, limits.page_size_max))
    a, u = staff_audit.c, staff_users.c
    query = (
        sa.select(a.audit_id, a.user_id, u.email, a.action, a.target, a.detail_json, a.at_us)
        .select_from(staff_audit.outerjoin(
            staff_users, sa.and_(u.community_id == a.community_id, u.user_id == a.user_id)))
        .where(a.community_id == community_id)
        .order_by(a.audit_id.desc()).limit(limit)
    )
    if before:
        query = query.where(a.audit_id < before)
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [AuditEntry(audit_id=r.audit_id, user_id=r.user_id, user_email=r.email,
                       action=r.action, target=r.target, detail=json.loads(r.detail_json),
                       at=from_us(r.at_us)) for r in rows]


def audit_counts_by_day(store: Store, clock: Clock, community_id: str,
                        days: int = 14) -> list[tuple[datetime, int]]:
    """Audit records per UTC day over the last `days` days, oldest first, zero days included."""
    day_us = _DAY_US
    today = to_us(clock.now()) // day_us
    first = today - days + 1
    a = staff_audit.c
    day = (a.at_us // day_us).label("day")
    with store.read() as conn:
        rows = conn.execute(
            sa.select(day, sa.func.count()).where(
                a.community_id == community_id, a.at_us >= first * day_us)
            .group_by(day)).all()
    counts = {int(d): int(n) for d, n in rows}
    return [(from_us(d * day_us), counts.get(d, 0)) for d in range(first, today + 1)]


