"""Test clocks (decision 0056): the time of a community created in test mode.

- `test_clocks`: one row per test-mode community (a live community has none: its time is the
  real time). `frozen_time_us` is the community's "now" for every write and read; it only moves
  forward, by an advance. While an advance runs, `status` is `advancing` with the advance's
  idempotency key, request hash, start and target, so that a retry of the same request after a
  crash carries the same advance on to the same target; `lease_until_us` (real time) lets
  another advance take over from one whose process died.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import community_id, instant, metadata

test_clocks = sa.Table(
    "test_clocks", metadata,
    community_id(),
    instant("frozen_time_us"),
    sa.Column("status", sa.String(16), nullable=False, server_default="ready"),
    sa.Column("advance_key", sa.String(255), nullable=True),
    sa.Column("advance_hash", sa.String(64), nullable=True),
    instant("advance_from_us", nullable=True),
    instant("advance_to_us", nullable=True),
    instant("lease_until_us", nullable=True),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
    sa.CheckConstraint("status IN ('ready', 'advancing')", name="status"),
    sa.CheckConstraint(
        "status = 'ready' OR (advance_key IS NOT NULL AND advance_to_us IS NOT NULL)",
        name="advancing"),
    sqlite_with_rowid=False,
)

TABLES = (test_clocks,)
