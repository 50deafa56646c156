"""What differs between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa

from jeton.store.tables.ledger import JOURNAL_TABLES

SelectT = TypeVar("SelectT", bound="sa.Select[Any]")


def append_only_ddl(dialect: str) -> list[str]:
    """DDL that makes the database itself refuse UPDATE and DELETE on journal tables."""
    statements: list[str] = []
    if dialect == "sqlite":
        for table in JOURNAL_TABLES:
            for op in ("UPDATE", "DELETE"):
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'jeton: {table} is append-only'); END"
                )
    elif dialect == "postgresql":
        # The trigger names its table in an argument: on Citus the trigger fires on a shard
        # (`postings_102008`), and the message must name the table (docs/decisions/0036).
        statements.append(
            "CREATE OR REPLACE FUNCTION jeton_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'jeton: % is append-only', coalesce(TG_ARGV[0], TG_TABLE_NAME)"
            " USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        for table in JOURNAL_TABLES:
            statements.extend(append_only_triggers(table))
    return statements


def append_only_triggers(table: str) -> list[str]:
    """PostgreSQL: the two triggers that refuse UPDATE, DELETE and TRUNCATE on `table`."""
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION jeton_append_only('{table}')",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION jeton_append_only('{table}')",
    ]


def for_update(stmt: SelectT, dialect: str) -> SelectT:
    """Row locks where the database has them. SQLite writers hold the one write lock already."""
    if dialect == "postgresql":
        return stmt.with_for_update()
    return stmt


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception, whether SQLAlchemy wrapped it or the hot path met it raw."""
    return getattr(exc, "orig", None) or exc


class StaleRead(Exception):
    """Raised inside a write that found a row it read earlier changed since by another commit
    (READ COMMITTED shows each statement the newest commits): the write runs again."""


def is_retryable(exc: BaseException, dialect: str) -> bool:
    """Serialization failures and deadlocks (PostgreSQL), a busy database (SQLite), and a
    write that met a stale read of its own (`StaleRead`)."""
    if isinstance(exc, StaleRead):
        return True
    orig = _driver_error(exc)
    if dialect == "postgresql":
        return getattr(orig, "sqlstate", None) in {"40001", "40P01"}
    if dialect == "sqlite":
        text = str(orig).lower()
        return "database is locked" in text or "database is busy" in text
    return False


def is_not_null_violation(exc: BaseException, table: str) -> bool:
    """PostgreSQL refused a row of `table` for a NULL in a NOT NULL column. (Citus names one of
    the table's shards, `table_<n>`, and passes the worker's error on as an internal one.)"""
    orig = _driver_error(exc)
    text = str(orig)
    return (getattr(orig, "sqlstate", None) in {"23502", "XX000"}
            and "violates not-null constraint" in text and f'of relation "{table}' in text)


def is_unique_violation(exc: BaseException, constraint: str | None = None) -> bool:
    """A unique key refused a row (optionally: this constraint)."""
    orig = _driver_error(exc)
    code = getattr(orig, "sqlstate", None)
    text = str(orig)
    hit = code == "23505" if code is not None else "UNIQUE constraint failed" in text
    if hit and constraint is not None:
        # PostgreSQL names the constraint; SQLite names the columns (table.column).
        return constraint in text
    return hit
