"""Migrations after the baseline: a database made at 0001, before wallet protection, gains its
tables at head and keeps its data; a new database goes to head in one step."""

from __future__ import annotations

import importlib
from pathlib import Path

import sqlalchemy as sa

import jeton
from jeton.store import migrate
from jeton.store.engine import Store
from jeton.store.tables.protection import TABLES

migration_0005 = importlib.import_module(
    "jeton.store.migrations.versions.0005_rollover_recharge_targets_key_budgets")


def test_a_database_at_the_baseline_gains_the_protection_tables(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(store, "0001")
    with store.engine.begin() as conn:  # as a 0001 database made before issue 17 was
        for table in reversed(TABLES):
            table.drop(conn)
    j = jeton.Jeton(store)
    j.create_community("Old", "old").create_member("alice")
    assert migrate.current(store) == "0001"

    migrate.upgrade(store)
    assert migrate.current(store) == migrate.HEAD_REVISION
    names = set(sa.inspect(store.engine).get_table_names())
    assert {t.name for t in TABLES} <= names
    c = j.community("old")
    assert c.freeze_wallet("alice", reason="test", actor="owner").frozen
    store.dispose()


def test_a_new_database_goes_to_head(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    migrate.upgrade(store)
    assert migrate.current(store) == migrate.HEAD_REVISION
    migrate.upgrade(store)  # at head: nothing to do
    store.dispose()


def test_a_database_at_0002_gains_what_issue_15_added(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'before.db'}")
    migrate.upgrade(store, "0002")
    with store.engine.begin() as conn:  # as a 0002 database made before issue 15 was
        for table in reversed(migration_0005.TABLES):
            table.drop(conn)
        for table_name, column in migration_0005.COLUMNS:
            conn.execute(sa.text(f"ALTER TABLE {table_name} DROP COLUMN {column.name}"))
    migrate.upgrade(store)
    assert migrate.current(store) == migrate.HEAD_REVISION
    inspector = sa.inspect(store.engine)
    assert {t.name for t in migration_0005.TABLES} <= set(inspector.get_table_names())
    for table_name, column in migration_0005.COLUMNS:
        assert column.name in {c["name"] for c in inspector.get_columns(table_name)}
    store.dispose()
