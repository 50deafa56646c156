"""Schema migrations with Alembic, applied by `jeton migrate` (and on first use).

On a Citus coordinator every upgrade ends by distributing what is not distributed yet
(`store/citus.py`), in the same transaction: a schema is never left half local."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from jeton.store.citus import Distributed
    from jeton.store.engine import Store

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(store: Store) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["store"] = store
    return cfg


def upgrade(store: Store, revision: str = "head", *,
            shard_count: int | None = None) -> Distributed | None:
    """Bring the schema to `revision`; on Citus, distribute it (what that did, else None).
    `shard_count`: Citus only, shards per table when the tables are first distributed."""
    from jeton.store import citus

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
