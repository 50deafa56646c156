"""The catalog as stored: versions, the entries in force, and every change.

- `catalog_versions`: one row per load. The active version of a community is its highest
  version; a load inserts the next one, so two loads racing collide on the primary key and one
  is retried, never interleaved. Reading the active version is one index probe.
- `catalog_entries`: one row per service or reward code the community ever had, with its
  definition as validated JSON (the catalog file's shape, see core/catalog_data.py) and the
  columns the dashboard and reports filter by. A code missing from a newer load is *retired*
  (`retired_version` set), never deleted: transfers and receipts name it for ever.
- `catalog_history`: append-only, one row per entry added, changed or retired by a version, so
  any version can be rebuilt and an owner can read what a price was on a given day.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import community_id, id_col, instant, metadata

catalog_versions = sa.Table(
    "catalog_versions", metadata,
    community_id(),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("source_format", sa.String(16), nullable=False),  # toml, yaml, python
    sa.Column("source_sha256", sa.String(64), nullable=False),  # of the canonical JSON
    sa.Column("services", sa.Integer, nullable=False),
    sa.Column("rewards", sa.Integer, nullable=False),
    sa.Column("changed", sa.Integer, nullable=False),  # entries added or changed
    sa.Column("retired", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    instant("loaded_at_us"),
    sa.PrimaryKeyConstraint("community_id", "version"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
    sa.CheckConstraint("version >= 1", name="version"),
)

catalog_entries = sa.Table(
    "catalog_entries", metadata,
    community_id(),
    sa.Column("code", sa.String(100), nullable=False),
    sa.Column("entry", sa.String(8), nullable=False),  # service or reward
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("price_kind", sa.String(16), nullable=True),  # services: fixed, per_unit
    sa.Column("list_credits", sa.BigInteger, nullable=False),  # list price; a reward's credits
    sa.Column("access_level", sa.String(16), nullable=True),  # services: open, locked, hidden
    sa.Column("allowance_per", sa.String(16), nullable=True),  # a service's allowance window
    sa.Column("definition_json", sa.Text, nullable=False),
    sa.Column("since_version", sa.Integer, nullable=False),  # the version that last set it
    sa.Column("retired_version", sa.Integer, nullable=True),  # NULL: in the active catalog
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "code"),
    sa.ForeignKeyConstraint(["community_id", "since_version"],
                            ["catalog_versions.community_id", "catalog_versions.version"]),
    sa.CheckConstraint("entry IN ('service', 'reward')", name="entry"),
)

catalog_history = sa.Table(
    "catalog_history", metadata,
    community_id(),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("code", sa.String(100), nullable=False),
    sa.Column("change", sa.String(8), nullable=False),  # added, changed, retired
    sa.Column("entry", sa.String(8), nullable=False),
    sa.Column("definition_json", sa.Text, nullable=True),  # NULL when retired
    sa.PrimaryKeyConstraint("community_id", "version", "code"),
    sa.ForeignKeyConstraint(["community_id", "version"],
                            ["catalog_versions.community_id", "catalog_versions.version"]),
    sa.CheckConstraint("change IN ('added', 'changed', 'retired')", name="change"),
)

# Terms of plans in the catalog file (core/rollover.py): one row per plan id, versioned like the
# entries (NULL `retired_version`: in the active catalog). Migration 0005.
catalog_plan_terms = sa.Table(
    "catalog_plan_terms", metadata,
    community_id(),
    id_col("plan_id"),
    sa.Column("definition_json", sa.Text, nullable=False),
    sa.Column("since_version", sa.Integer, nullable=False),
    sa.Column("retired_version", sa.Integer, nullable=True),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "plan_id"),
)
