"""Sub-leased areas of the catalog (issue 17): an area (the services whose code starts with a
prefix such as `files.lib42.`) leased to a member, its operator, who sets prices and access
inside it within the owner's bounds and earns a share of every charge in it.

- `leases`: one row per lease. `ended_at_us` is set once when the lease ends (NULL while it
  runs); nothing else changes after it starts, except `staff_user_id` (the operator's dashboard
  account, bound once). The charge path reads the running leases in its first statement
  (services/charging/reads.py), so a lease ended now pays no share from the next charge on.
  Several leases of one area over time are kept; the services layer refuses two running
  leases whose areas overlap.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import amount, community_id, id_col, instant, metadata

leases = sa.Table(
    "leases", metadata,
    community_id(),
    id_col("lease_id"),
    sa.Column("area", sa.String(100), nullable=False),  # a code prefix ending in '.'
    id_col("operator_id"),  # the member who runs the area and is paid the share
    sa.Column("share_bp", sa.Integer, nullable=False),  # of each charge's price, 1/100 %
    amount("price_min"),  # bounds of every credit price the operator sets
    amount("price_max"),
    sa.Column("kinds_json", sa.Text, nullable=False),  # price kinds allowed: ["fixed", ...]
    id_col("staff_user_id", nullable=True),  # the operator's dashboard account
    sa.Column("created_by", sa.String(200), nullable=False),
    instant("started_at_us"),
    instant("ended_at_us", nullable=True),
    sa.Column("ended_by", sa.String(200), nullable=True),
    sa.Column("end_reason", sa.String(500), nullable=True),
    sa.Column("request_key", sa.String(255), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "lease_id"),
    sa.UniqueConstraint("community_id", "request_key"),
    sa.ForeignKeyConstraint(["community_id", "operator_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("share_bp >= 0 AND share_bp <= 10000", name="share"),
    sa.CheckConstraint("price_min >= 0 AND price_max >= price_min", name="prices"),
    sa.CheckConstraint("ended_at_us IS NULL OR ended_at_us >= started_at_us", name="ended"),
    sa.Index("ix_leases_running", "community_id", "ended_at_us"),
    sa.Index("ix_leases_staff", "community_id", "staff_user_id"),
)

TABLES = (leases,)
