"""What protects wallets from abuse: freezes, velocity limits and their counters, trips.

- `wallet_freezes`: a member whose wallet staff froze (one row while frozen; the audit log keeps
  the history of freezes and unfreezes).
- `spending_settings`: a community's definition of a new member (days since they joined) and
  how many trips of a limit in a UTC day make an owner alert.
- `velocity_limits`: credits a member may spend per hour and per day, overall (`scope` '*') or
  for one service, with tighter figures for new members.
- `velocity_counters`: what a member spent in the current hour or day window, per scope. Raised
  inside the spend's own transaction under the wallet's row lock, so racing spends of one
  member are counted one after the other and a rolled-back spend counts nothing. One row per
  member, scope and period: a new window overwrites the old one, the table does not grow.
- `key_budgets`: credits an API key may spend on members' behalf per period, overall and per
  member (docs/decisions/0062). What was spent is counted in `velocity_counters` under scope
  `key:<key id>`: per member on the member's row, overall on member `*` (no member id can be
  `*`), whose row is locked for the count.
- `limit_trips`: declines by a limit in the member's current UTC day, and whether the owner was
  alerted for that day.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import amount, community_id, id_col, instant, metadata

wallet_freezes = sa.Table(
    "wallet_freezes", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("frozen_by", sa.String(150), nullable=False),
    instant("frozen_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id"),
)

spending_settings = sa.Table(
    "spending_settings", metadata,
    community_id(),
    sa.Column("new_member_days", sa.Integer, nullable=False),
    sa.Column("alert_after_trips", sa.Integer, nullable=False),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id"),
    sa.CheckConstraint("new_member_days >= 0", name="new_member_days"),
    sa.CheckConstraint("alert_after_trips >= 1", name="alert_after_trips"),
)

velocity_limits = sa.Table(
    "velocity_limits", metadata,
    community_id(),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(100), nullable=False),  # '*': every service, else a service
    amount("per_hour", nullable=True),
    amount("per_day", nullable=True),
    amount("new_member_per_hour", nullable=True),
    amount("new_member_per_day", nullable=True),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "asset", "scope"),
)

velocity_counters = sa.Table(
    "velocity_counters", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(100), nullable=False),
    sa.Column("period", sa.String(8), nullable=False),  # hour, day
    instant("window_start_us"),
    amount("spent"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "asset", "scope", "period"),
    sa.CheckConstraint("spent >= 0", name="spent"),
)

limit_trips = sa.Table(
    "limit_trips", metadata,
    community_id(),
    id_col("member_id"),
    instant("day_start_us"),
    sa.Column("trips", sa.Integer, nullable=False),
    sa.Column("alerted", sa.Boolean, nullable=False),
    sa.Column("last_status", sa.String(40), nullable=False),
    instant("last_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id"),
)

key_budgets = sa.Table(
    "key_budgets", metadata,
    community_id(),
    id_col("key_id"),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("period", sa.String(8), nullable=False),  # hour, day, month
    amount("per_key", nullable=True),  # every member together
    amount("per_member", nullable=True),  # each member
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "key_id", "asset"),
    sa.CheckConstraint("per_key >= 0", name="per_key"),
    sa.CheckConstraint("per_member >= 0", name="per_member"),
)

TABLES = (wallet_freezes, spending_settings, velocity_limits, velocity_counters, limit_trips)
# Added by migration 0007 (issue 15).
BUDGET_TABLES = (key_budgets,)
