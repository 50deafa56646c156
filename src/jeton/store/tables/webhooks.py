"""Webhooks and the state behind events: endpoints, deliveries, attempts, fan-out cursors,
low-balance alerts and the lots already announced as expiring.

Events themselves live in the `events` outbox (tables/ledger.py), written in the same
transaction as the change they describe. A background job fans each new event out into one
`webhook_deliveries` row per subscribed endpoint; another job sends them and records every
`webhook_attempts` row the owner sees on the dashboard.

The signing secret is stored as is. Standard Webhooks signs with HMAC-SHA256, a symmetric key,
so Jeton must be able to read the key back to sign every message: it cannot be hashed the way a
password or an API key is. Whoever can read this table can forge webhooks to that host app,
exactly as whoever can read the host app's copy can; keep database access and backups as
private as the ledger itself, and rotate a secret (with a grace period) when in doubt.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import amount, community_id, id_col, instant, metadata

DELIVERY_STATUSES = ("pending", "succeeded", "failed", "abandoned")

webhook_endpoints = sa.Table(
    "webhook_endpoints", metadata,
    community_id(),
    id_col("endpoint_id"),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),  # `whsec_` + base64: see above
    # The secret before the last rotation, still signed with until it expires, so that a host
    # app can switch its copy without missing a message.
    sa.Column("previous_secret", sa.String(100), nullable=True),
    instant("previous_secret_expires_at_us", nullable=True),
    sa.Column("event_types_json", sa.Text, nullable=True),  # a JSON list; NULL: every type
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("enabled", sa.Boolean, nullable=False),
    instant("created_at_us"),
    instant("updated_at_us"),
    # Events from this instant on are sent: creation, or the last time it was enabled again.
    instant("enabled_at_us"),
    instant("disabled_at_us", nullable=True),
    instant("deleted_at_us", nullable=True),  # deleting is disabling for good, kept for history
    sa.PrimaryKeyConstraint("community_id", "endpoint_id"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
    sa.CheckConstraint("deleted_at_us IS NULL OR NOT enabled", name="deleted"),
)

# One event to one endpoint. `webhook-id` is the event id, the same on every retry.
webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    community_id(),
    id_col("delivery_id"),
    id_col("endpoint_id"),
    id_col("event_id"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # pending: when it may next be sent (also the lease of a worker sending it now);
    # NULL once it is finished.
    instant("next_attempt_at_us", nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    instant("created_at_us"),
    instant("delivered_at_us", nullable=True),
    sa.PrimaryKeyConstraint("community_id", "delivery_id"),
    # Fan-out is idempotent: an event reaches an endpoint once, however often it is fanned out.
    sa.UniqueConstraint("community_id", "event_id", "endpoint_id"),
    sa.ForeignKeyConstraint(["community_id", "endpoint_id"],
                            ["webhook_endpoints.community_id", "webhook_endpoints.endpoint_id"]),
    sa.ForeignKeyConstraint(["community_id", "event_id"],
                            ["events.community_id", "events.event_id"]),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'abandoned')",
                       name="status"),
    sa.CheckConstraint("attempts >= 0", name="attempts"),
    sa.CheckConstraint("status <> 'pending' OR next_attempt_at_us IS NOT NULL", name="due"),
    sa.Index("ix_webhook_deliveries_due", "community_id", "next_attempt_at_us",
             sqlite_where=sa.text("status = 'pending'"),
             postgresql_where=sa.text("status = 'pending'")),
    sa.Index("ix_webhook_deliveries_endpoint", "community_id", "endpoint_id", "delivery_id"),
)

# Every attempt, as the owner sees it: when, what came back, how long it took, what went wrong.
webhook_attempts = sa.Table(
    "webhook_attempts", metadata,
    community_id(),
    id_col("delivery_id"),
    sa.Column("attempt", sa.Integer, nullable=False),  # 1, 2, ...
    instant("attempted_at_us"),
    sa.Column("status_code", sa.Integer, nullable=True),  # NULL: no HTTP response at all
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("response_excerpt", sa.String(1024), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "delivery_id", "attempt"),
    sa.ForeignKeyConstraint(["community_id", "delivery_id"],
                            ["webhook_deliveries.community_id", "webhook_deliveries.delivery_id"]),
)

# How far fan-out has read the outbox, per community (never one global row). Event ids are
# time-ordered, but a transaction may commit after a later one: `head` is the newest event
# fanned out (fast path), `swept` the id below which every event is known committed and fanned
# out (a second pass, `limits.webhook_fanout_lag_ms` behind, catches late commits).
webhook_cursors = sa.Table(
    "webhook_cursors", metadata,
    community_id(),
    id_col("head_event_id", nullable=True),
    id_col("swept_event_id", nullable=True),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id"),
)

# A member's low-balance threshold for one asset. `low_armed`: balance.low fires when the
# available balance falls below the threshold while armed, which disarms it; going back to the
# threshold or above re-arms it. One event per crossing, however many charges follow.
member_alerts = sa.Table(
    "member_alerts", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("asset", sa.String(16), nullable=False),
    amount("low_threshold"),
    sa.Column("low_armed", sa.Boolean, nullable=False),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "asset"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("low_threshold > 0", name="low_threshold"),
)

# Low-balance alerts at several levels (info, warning, critical), each its own threshold and
# armed flag: balance.low with the level is sent once per crossing of each (migration 0007).
balance_alert_levels = sa.Table(
    "balance_alert_levels", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),  # info, warning, critical
    amount("threshold"),
    sa.Column("armed", sa.Boolean, nullable=False),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "asset", "level"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("threshold > 0", name="level_threshold"),
)

# Lots already announced by credits.expiring: once per lot. Rows of lots past their expiry are
# dropped by the job's next announcement (such a lot is never announced again), so the table
# holds about one notice period of lots.
expiring_lot_notices = sa.Table(
    "expiring_lot_notices", metadata,
    community_id(),
    id_col("lot_id"),
    id_col("event_id"),
    instant("expires_at_us"),
    instant("notified_at_us"),
    sa.PrimaryKeyConstraint("community_id", "lot_id"),
    sa.Index("ix_expiring_lot_notices_expiry", "community_id", "expires_at_us"),
)

# Per-community settings of events (none of them is needed: each has a default in core.limits).
event_settings = sa.Table(
    "event_settings", metadata,
    community_id(),
    sa.Column("expiring_notice_days", sa.Integer, nullable=True),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
)
