"""Gamification: the rules in force, the awarding cursor, progress, awards and leaderboards.

- `achievement_rules`: the points, badges, levels and challenges of the community's active
  catalog, as checked JSON (one row, written by the catalog load in the same transaction as
  the catalog version it belongs to).
- `award_cursors`: how far the awarding job has read the journal. `head_transfer_id` is the
  newest transfer it has counted; `swept_transfer_id` the id below which it has also counted
  every transfer that committed late (a transfer id is taken before its transaction commits).
  The row is locked by the job's transaction: one awarding transaction per community at once.
- `award_seen`: transfers between the sweep and the head already counted, so the sweep skips
  them. Rows below the sweep are deleted as it passes: the table holds a minute of transfers.
- `achievement_counters`: a member's progress (see core/awarding.py for the counters).
- `challenge_windows`: a member's count towards a challenge in one day, week or month.
- `achievement_awards`: badges, levels and completed challenges, one row per member and award
  key. The primary key is what makes an award happen once.
- `leaderboard_totals`: per metric, period and window, each member's total, raised as awards
  and charges are counted; a leaderboard is an index range read, never a journal scan.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import amount, community_id, id_col, instant, metadata

achievement_rules = sa.Table(
    "achievement_rules", metadata,
    community_id(),
    sa.Column("catalog_version", sa.Integer, nullable=False),
    sa.Column("definition_json", sa.Text, nullable=False),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id"),
)

award_cursors = sa.Table(
    "award_cursors", metadata,
    community_id(),
    id_col("head_transfer_id", nullable=True),
    id_col("swept_transfer_id", nullable=True),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id"),
)

award_seen = sa.Table(
    "award_seen", metadata,
    community_id(),
    id_col("transfer_id"),
    sa.PrimaryKeyConstraint("community_id", "transfer_id"),
)

achievement_counters = sa.Table(
    "achievement_counters", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("counter", sa.String(120), nullable=False),
    amount("value"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "counter"),
)

challenge_windows = sa.Table(
    "challenge_windows", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("challenge", sa.String(64), nullable=False),
    sa.Column("window", sa.String(16), nullable=False),  # '2026-11-21', '2026-W47', '2026-11'
    amount("progress"),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "challenge", "window"),
)

achievement_awards = sa.Table(
    "achievement_awards", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("award_key", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # badge, level, challenge
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    amount("credits", server_default="0"),
    amount("points", server_default="0"),
    id_col("source_transfer_id"),  # the transfer whose counting earned it
    instant("awarded_at_us"),  # business time of that transfer
    sa.PrimaryKeyConstraint("community_id", "member_id", "award_key"),
    sa.CheckConstraint("kind IN ('badge', 'level', 'challenge')", name="kind"),
    sa.Index("ix_achievement_awards_recent", "community_id", "awarded_at_us"),
)

leaderboard_totals = sa.Table(
    "leaderboard_totals", metadata,
    community_id(),
    sa.Column("metric", sa.String(16), nullable=False),  # points, credits_spent, royalties
    sa.Column("period", sa.String(8), nullable=False),  # week, month, all
    sa.Column("window", sa.String(16), nullable=False),  # '2026-W47', '2026-11', 'all'
    id_col("member_id"),
    amount("total"),
    sa.PrimaryKeyConstraint("community_id", "metric", "period", "window", "member_id"),
    sa.Index("ix_leaderboard_rank", "community_id", "metric", "period", "window", "total"),
)

TABLES = (achievement_rules, award_cursors, award_seen, achievement_counters,
          challenge_windows, achievement_awards, leaderboard_totals)
