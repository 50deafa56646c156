"""Job leases: which worker runs which job for which community, and when it last ran."""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import community_id, instant, metadata

job_runs = sa.Table(
    "job_runs", metadata,
    community_id(),
    sa.Column("job", sa.String(64), nullable=False),
    instant("last_run_at_us"),
    sa.Column("last_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.PrimaryKeyConstraint("community_id", "job"),
)
