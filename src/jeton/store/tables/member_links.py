"""Member pages: the links a host app asks for, and the sessions they open.

Neither table holds a token: a link row is keyed by the SHA-256 digest of the link's token, a
session row by the digest of the session's token, so a copy of the database opens nothing.
A link is used at most once (`used_at_us` is set by a conditional update in the transaction that
creates the session).
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.core import limits
from jeton.store.tables.base import community_id, id_col, instant, metadata

member_links = sa.Table(
    "member_links", metadata,
    community_id(),
    sa.Column("link_id", sa.String(64), nullable=False),  # hex SHA-256 of the token
    id_col("member_id"),
    sa.Column("return_url", sa.String(limits.member_return_url_chars_max), nullable=True),
    sa.Column("created_by", sa.String(100), nullable=False),  # the API key or "system"
    instant("created_at_us"),
    instant("expires_at_us"),
    instant("used_at_us", nullable=True),  # set once, when the link is exchanged
    sa.PrimaryKeyConstraint("community_id", "link_id"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("expires_at_us > created_at_us", name="expiry"),
    sa.Index("ix_member_links_expires", "community_id", "expires_at_us"),
)

member_sessions = sa.Table(
    "member_sessions", metadata,
    community_id(),
    sa.Column("session_id", sa.String(64), nullable=False),  # hex SHA-256 of the token
    id_col("member_id"),
    sa.Column("link_id", sa.String(64), nullable=False),  # the link that opened it
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("return_url", sa.String(limits.member_return_url_chars_max), nullable=True),
    instant("created_at_us"),
    instant("expires_at_us"),  # absolute: the session ends then, however busy
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.PrimaryKeyConstraint("community_id", "session_id"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("expires_at_us > created_at_us", name="expiry"),
    sa.Index("ix_member_sessions_expires", "community_id", "expires_at_us"),
)
