"""Where fan-out starts, and giving up an endpoint's pending deliveries."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.ids import id_floor
from jeton.store.sql import insert_ignore
from jeton.store.tables.webhooks import (
    webhook_cursors,
    webhook_deliveries,
    webhook_endpoints,
)


def start_cursor(conn: Connection, dialect: str, community_id: str, now_us: int, *,
                 force: bool = False) -> None:
    """Before the community's first enabled endpoint: start fan-out near now, so that it
    does not read the whole history of events that nobody was listening to."""
    e = webhook_endpoints.c
    if not force and conn.execute(sa.select(e.endpoint_id).where(
            e.community_id == community_id, e.enabled.is_(True)).limit(1)).first():
        return
    start = sweep_horizon()
    conn.execute(insert_ignore(dialect, webhook_cursors, ["community_id"]),
                 {"community_id": community_id, "head_event_id": start,
                  "swept_event_id": start, "updated_at_us": now_us})
    c = webhook_cursors.c
    for column in (c.head_event_id, c.swept_event_id):
        conn.execute(webhook_cursors.update().where(
            c.community_id == community_id,
            sa.or_(column.is_(None), column < start)).values({column.name: start}))


def abandon_pending(conn: Connection, community_id: str, endpoint_id: str, why: str) -> None:
    """Give up an endpoint's pending deliveries (it was disabled or deleted)."""
    d = webhook_deliveries.c
    conn.execute(webhook_deliveries.update().where(
        d.community_id == community_id, d.endpoint_id == endpoint_id,
        d.status == "pending").values(status="abandoned", next_attempt_at_us=None,
                                      last_error=why))


def sweep_horizon() -> str:
    """The id below which every event is committed (see limits.webhook_fanout_lag_ms).
    Event ids are UUIDv7 made from the real clock, so this is real time too."""
    return id_floor(time.time_ns() // 1_000_000 - limits.webhook_fanout_lag_ms)
