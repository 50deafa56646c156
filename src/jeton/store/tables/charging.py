"""What charging counts and remembers beside the ledger.

- `allowance_uses`: units of a service a member used in an allowance window (a session id,
  `2026-11-21`, `2026-W47`, `2026-11`). Raised by an atomic upsert in the charge's own
  transaction, so a declined or rolled-back charge counts nothing and two racing charges never
  both get the last free use.
- `reward_counts`: rewards of a kind a member received in a window, raised by a conditional
  upsert that refuses past the limit.
- `metered_uses`: a metered use (a video call) from its start to its finish: the terms agreed at
  the start (the service's definition, the member's classes and discount, the context), the
  hold that backs it, and the receipt once finished.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import amount, community_id, id_col, instant, metadata

allowance_uses = sa.Table(
    "allowance_uses", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("service", sa.String(100), nullable=False),
    sa.Column("window_key", sa.String(64), nullable=False),
    amount("used"),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "service", "window_key"),
    sa.CheckConstraint("used >= 0", name="used"),
)

reward_counts = sa.Table(
    "reward_counts", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("reward", sa.String(100), nullable=False),
    sa.Column("window_key", sa.String(64), nullable=False),
    amount("received"),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "reward", "window_key"),
    sa.CheckConstraint("received >= 0", name="received"),
)

metered_uses = sa.Table(
    "metered_uses", metadata,
    community_id(),
    id_col("metered_id"),  # the ledger hold's id when a hold backs it
    id_col("member_id"),
    sa.Column("service", sa.String(100), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # active, finished
    sa.Column("hold_id", sa.String(100), nullable=True),  # NULL: nothing to hold (free)
    amount("held"),
    amount("estimated_quantity"),
    sa.Column("definition_json", sa.Text, nullable=False),  # the service as agreed at start
    sa.Column("classes_json", sa.Text, nullable=False),  # live classes at start
    sa.Column("discount_bp", sa.Integer, nullable=False),
    sa.Column("pay", sa.Boolean, nullable=False),  # False: a class or key waived the price
    sa.Column("context_json", sa.Text, nullable=False),
    sa.Column("session_id", sa.String(64), nullable=True),
    amount("actual_quantity", nullable=True),
    sa.Column("finish_key", sa.String(255), nullable=True),
    sa.Column("receipt_json", sa.Text, nullable=True),
    instant("started_at_us"),
    instant("expires_at_us"),
    instant("finished_at_us", nullable=True),
    sa.PrimaryKeyConstraint("community_id", "metered_id"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("status IN ('active', 'finished')", name="status"),
)
