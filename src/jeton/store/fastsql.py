"""The hot path's statements: written with SQLAlchemy Core, compiled once, run on the driver.

SQLAlchemy's per-execution work (cache-key lookup, execution context, result wrapping) costs
about as much as SQLite's own work for the small statements of a spend. The ledger's hot path
therefore compiles each Core statement once per dialect (named parameters for SQLite,
pyformat for psycopg) and runs it on the DBAPI cursor of the connection that already holds the
transaction. Everything else uses SQLAlchemy normally. See docs/decisions/0004.

Only plain values cross this boundary (str, int, bool, None); rows come back as tuples, with
SQLite booleans as 0/1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

_DIALECTS = {
    "sqlite": sqlite.pysqlite.dialect(paramstyle="named"),
    "postgresql": postgresql.psycopg.dialect(paramstyle="pyformat"),  # type: ignore[no-untyped-call]
}
# By the statement's id, with the statement kept beside its SQL: while it is kept no other
# object can have its id, so a statement made for one call and dropped never lends its SQL to
# a later one at the same address. The hot path's statements are made once, at import.
_CACHE: dict[tuple[int, str, tuple[str, ...]], tuple[sa.sql.ClauseElement, str]] = {}


def compiled(stmt: sa.sql.ClauseElement, dialect: str, keys: Sequence[str] = ()) -> str:
    """The SQL text of `stmt` for `dialect`; `keys` names the columns an INSERT/UPDATE sets."""
    cache_key = (id(stmt), dialect, tuple(keys))
    kept = _CACHE.get(cache_key)
    if kept is None:
        kw: dict[str, Any] = {}
        if keys:
            kw["column_keys"] = list(keys)
        kept = _CACHE[cache_key] = (stmt, str(stmt.compile(dialect=_DIALECTS[dialect], **kw)))
    return kept[1]


def cursor(conn: Connection) -> Any:
    """A DBAPI cursor on the connection (and so inside the transaction) `conn` holds."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


class Runner:
    """Runs compiled statements on one transaction's cursor."""

    def __init__(self, conn: Connection, dialect: str) -> None:
        self.dialect = "sqlite" if dialect == "read" and conn.dialect.name == "sqlite" else (
            conn.dialect.name)
        self.cur = cursor(conn)

    def rows(self, stmt: sa.sql.ClauseElement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        self.cur.execute(compiled(stmt, self.dialect), params)
        return list(self.cur.fetchall())

    def first(self, stmt: sa.sql.ClauseElement, params: dict[str, Any]) -> tuple[Any, ...] | None:
        self.cur.execute(compiled(stmt, self.dialect), params)
        row = self.cur.fetchone()
        return tuple(row) if row is not None else None

    def many(self, stmt: sa.sql.ClauseElement, rows: list[dict[str, Any]],
             set_keys: Sequence[str] | None = None) -> None:
        """Execute for every row. `set_keys`: the columns an INSERT/UPDATE writes (default:
        the keys of the first row that are not `b_` bind parameters)."""
        if not rows:
            return
        if set_keys is None:
            sql = _by_shape(stmt, self.dialect, rows[0])
        else:
            sql = compiled(stmt, self.dialect, set_keys)
        if len(rows) == 1:
            self.cur.execute(sql, rows[0])
        else:
            self.cur.executemany(sql, rows)


# By the statement's id too: `compiled` keeps every statement it met, so the id stays its own.
_BY_SHAPE: dict[tuple[int, str, tuple[str, ...]], str] = {}


def _by_shape(stmt: sa.sql.ClauseElement, dialect: str, row: dict[str, Any]) -> str:
    """The SQL of `stmt` setting the columns of `row` that are not `b_` bind parameters; the
    hot path's rows have a few fixed shapes, so it is looked up by the row's keys."""
    shape = (id(stmt), dialect, tuple(row))
    sql = _BY_SHAPE.get(shape)
    if sql is None:
        sql = _BY_SHAPE[shape] = compiled(
            stmt, dialect, [k for k in row if not k.startswith("b_")])
    return sql


class Queue:
    """`Runner.many` that queues the statement and its rows for one pipeline instead."""

    def __init__(self, work: list[tuple[str, list[dict[str, Any]]]]) -> None:
        self.work = work

    def many(self, stmt: sa.sql.ClauseElement, rows: list[dict[str, Any]],
             set_keys: Sequence[str] | None = None) -> None:
        if rows:
            sql = (_by_shape(stmt, "postgresql", rows[0]) if set_keys is None
                   else compiled(stmt, "postgresql", set_keys))
            self.work.append((sql, list(rows)))
