"""Small SQL helpers shared by services."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def insert_ignore(dialect: str, table: sa.Table, keys: list[str] | None) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, on either database; `keys` None: a conflict
    on any unique index of the table (a row a racing writer inserted may meet any of them)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=keys)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=keys)


def insert_new(conn: Connection, table: sa.Table, keys: list[str], row: dict[str, Any]) -> bool:
    """INSERT unless a row with the same key exists; True when this call inserted it.

    RETURNING rather than rowcount: with ON CONFLICT DO NOTHING the PostgreSQL driver reports
    an unknown rowcount (-1), which reads as true.
    """
    stmt = insert_ignore(conn.dialect.name, table, keys).returning(table.c[keys[0]])
    return conn.execute(stmt, row).first() is not None


def upsert(dialect: str, table: sa.Table, keys: list[str], *, add: tuple[str, ...] = (),
           replace: tuple[str, ...] = ()) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE: columns in `add` are raised by the new row's
    value, columns in `replace` take it; on either database."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    values = {c: table.c[c] + stmt.excluded[c] for c in add}
    values.update({c: stmt.excluded[c] for c in replace})
    return stmt.on_conflict_do_update(index_elements=keys, set_=values)
