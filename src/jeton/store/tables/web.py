"""The dashboard's tables: staff users, their sessions and the audit of what they did.

Staff users belong to one community; their email is unique within it. A session row never
holds the session token itself, only its SHA-256 digest (the `session_id`), so a copy of the
database does not let anyone sign in. The audit is written in the same transaction as the
action it records; its time is the database's.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import community_id, id_col, instant, metadata

STAFF_ROLES = ("owner", "moderator", "support")
# Stages of a session: `totp` has passed the password and waits for the one-time code; only
# a `full` session may use the dashboard.
SESSION_STAGES = ("totp", "full")

staff_users = sa.Table(
    "staff_users", metadata,
    community_id(),
    id_col("user_id"),
    sa.Column("email", sa.String(254), nullable=False),  # stored lower-cased
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),  # argon2id, PHC string
    sa.Column("totp_secret", sa.String(64), nullable=True),  # set once enrollment is confirmed
    sa.Column("totp_pending_secret", sa.String(64), nullable=True),  # enrollment under way
    # The time step of the last one-time code accepted: a code is never accepted twice.
    sa.Column("totp_last_step", sa.BigInteger, nullable=True),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    instant("locked_until_at_us", nullable=True),
    instant("created_at_us"),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.PrimaryKeyConstraint("community_id", "user_id"),
    sa.UniqueConstraint("community_id", "email"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
    sa.CheckConstraint("role IN ('owner', 'moderator', 'support')", name="role"),
    sa.CheckConstraint("failed_logins >= 0", name="failed_logins"),
)

staff_sessions = sa.Table(
    "staff_sessions", metadata,
    community_id(),
    sa.Column("session_id", sa.String(64), nullable=False),  # hex SHA-256 of the token
    id_col("user_id"),
    sa.Column("stage", sa.String(8), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    instant("created_at_us"),
    instant("expires_at_us"),  # absolute: the session ends then, however busy
    instant("last_seen_at_us"),  # the idle timeout counts from here
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.PrimaryKeyConstraint("community_id", "session_id"),
    sa.ForeignKeyConstraint(["community_id", "user_id"],
                            ["staff_users.community_id", "staff_users.user_id"]),
    sa.CheckConstraint("stage IN ('totp', 'full')", name="stage"),
    sa.Index("ix_staff_sessions_user", "community_id", "user_id"),
    sa.Index("ix_staff_sessions_expires", "community_id", "expires_at_us"),
)

staff_audit = sa.Table(
    "staff_audit", metadata,
    community_id(),
    id_col("audit_id"),  # time-ordered: newest last
    id_col("user_id", nullable=True),  # NULL: nobody signed in (a failed sign-in, the CLI)
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(300), nullable=False, server_default=""),
    sa.Column("detail_json", sa.Text, nullable=False, server_default="{}"),
    instant("at_us"),  # database time
    sa.PrimaryKeyConstraint("community_id", "audit_id"),
    sa.Index("ix_staff_audit_user", "community_id", "user_id", "audit_id"),
)
