"""The HTTP API's tables: API keys and the answers kept for `Idempotency-Key` replays.

An API key row never holds the key itself, only the SHA-256 digest of the whole token, so a copy
of the database does not let anyone call the API (docs/decisions/0022-api-keys.md).
`http_idempotency` is the HTTP layer's memory of a POST's answer, written once the handler
succeeded, so that a retry gets it again byte for byte; requests still running are known to the
serving process alone (docs/decisions/0033-http-idempotency-in-one-write.md).
The ledger's `idempotency_keys` still guard the effect itself, in the write's own transaction.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import community_id, id_col, instant, metadata

api_keys = sa.Table(
    "api_keys", metadata,
    community_id(),
    id_col("key_id"),
    sa.Column("name", sa.String(100), nullable=False, server_default=""),
    sa.Column("scopes", sa.String(500), nullable=False),  # space-separated, sorted
    sa.Column("token_sha256", sa.String(64), nullable=False),  # hex digest of the whole token
    sa.Column("token_hint", sa.String(32), nullable=False),  # `jtk_live_…abcd`: to recognise it
    sa.Column("created_by", sa.String(200), nullable=False),
    # The Idempotency-Key of the request that made it: a retry finds the key instead of making
    # a second one.
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    instant("created_at_us"),
    instant("last_used_at_us", nullable=True),
    instant("revoked_at_us", nullable=True),
    sa.PrimaryKeyConstraint("community_id", "key_id"),
    sa.UniqueConstraint("community_id", "token_sha256"),
    sa.UniqueConstraint("community_id", "idempotency_key"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
)

http_idempotency = sa.Table(
    "http_idempotency", metadata,
    # The key's community, or `~operator` for the operator's requests (never a community id).
    community_id(),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("method_path", sa.String(1000), nullable=False),  # `POST /v1/spends`
    sa.Column("request_sha256", sa.String(64), nullable=False),  # method, path, query and body
    sa.Column("status_code", sa.SmallInteger, nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("response_body", sa.Text, nullable=False),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "key"),
    # For the purge job only. Not led by community_id: on a table without statistics yet (a new
    # database), PostgreSQL took an index led by community_id for the lookup by key and read
    # every answer of the community on each POST.
    sa.Index("ix_http_idempotency_created", "created_at_us"),
)
