"""Schema migrations with Alembic, applied by `jeton migrate` (and on first use).

On a Citus coordinator every upgrade ends by distributing what is not distributed yet
(`store/citus.py`), in the same transaction: a schema is never left half local."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

    from jeton.store.citus import Distributed
    from jeton.store.engine import Store

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision under migrations/versions (a test holds the two equal). Opening a store
# that is already there looks for the version table and reads its one row instead of loading
# Alembic and its scripts, which would cost every command a third of a second and a page of
# log lines.
HEAD_REVISION = "0017"


def alembic_config(store: Store) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["store"] = store
    return cfg


def upgrade(store: Store, revision: str = "head", *,
            shard_count: int | None = None) -> Distributed | None:
    """Bring the schema to `revision`; on Citus, distribute it (what that did, else None).
    `shard_count`: Citus only, shards per table when the tables are first distributed."""
    from jeton.store import citus

    if revision == "head" and _at_head(store):
        if store.dialect != "postgresql":
            return None
        with store.engine.begin() as conn:  # at head, but a table may not be distributed yet
            return citus.distribute(conn, shard_count=shard_count) if citus.is_citus(conn) else None
    from alembic import command

    with store.engine.begin() as conn:
        cfg = alembic_config(store)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        if citus.is_citus(conn):
            return citus.distribute(conn, shard_count=shard_count)
    return None


def current(store: Store) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _at_head(store: Store) -> bool:
    # A new database has no version table: asked first, so that opening one does not make the
    # server log an error for a SELECT of a missing table.
    try:
        with store.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return False
            found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except sa.exc.DBAPIError:  # no database: Alembic says
        return False
    return found == HEAD_REVISION


def create_missing(tables: Sequence[sa.Table]) -> None:
    """For a migration's upgrade: create each of `tables` where it is missing. The baseline
    creates the current metadata, so on a new database they are all there already."""
    from alembic import op

    bind = op.get_bind()
    for table in tables:
        table.create(bind, checkfirst=True)


def drop_present(tables: Sequence[sa.Table]) -> None:
    """For a migration's downgrade: drop each of `tables` that is there, the last one first."""
    from alembic import op

    bind = op.get_bind()
    for table in reversed(tables):
        table.drop(bind, checkfirst=True)


# What a PostgreSQL server needs for Jeton's prepared statements to keep good plans (decision
# 0123): each is planned once per connection from the tables' statistics, and planned again
# when autovacuum's ANALYZE changes them. Without it the first plans stay, made while the
# tables were small.
_UPKEEP = {
    "autovacuum": "autovacuum is off: PostgreSQL keeps the plans Jeton's statements got while "
                  "the tables were small (a whole community read where one row was asked for); "
                  "turn it on, or run ANALYZE as the tables grow",
    "track_counts": "track_counts is off, so autovacuum never sees the tables change: turn it "
                    "on",
}


def server_warnings(store: Store) -> list[str]:
    """What about the database server would slow Jeton down as its tables grow (PostgreSQL:
    the settings autovacuum needs); empty when nothing would."""
    if store.dialect != "postgresql":
        return []
    with store.engine.connect() as conn:
        return [warning for name, warning in _UPKEEP.items()
                if conn.exec_driver_sql(f"SHOW {name}").scalar() != "on"]
