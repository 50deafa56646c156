"""The hot path's statements: written with SQLAlchemy Core, compiled once, run on the driver.

SQLAlchemy's per-execution work (cache-key lookup, execution context, result wrapping) costs
about as much as SQLite's own work for the small statements of a spend. The ledger's hot path
therefore compiles each Core statement once per dialect and runs it on the DBAPI cursor of the
connection that already holds the transaction. Everything else uses SQLAlchemy normally. See
docs/decisions/0004.

Callers pass each execution's parameters as a dict by name. For psycopg the SQL is in pyformat
(`%(name)s`; the pipeline numbers it itself). For SQLite it is in qmark form (`?`), and the
dict is turned into a tuple in the statement's order by one C-level `itemgetter`: the sqlite3
module binds a named parameter by making a new string of its name and looking it up, about
0.1 µs a parameter, some forty per spend (decision 0101).

Only plain values cross this boundary (str, int, bool, None); rows come back as tuples, with
SQLite booleans as 0/1.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import SQLCompiler

from jeton.store import pipeline

_DIALECTS = {
    "sqlite": sqlite.pysqlite.dialect(paramstyle="qmark"),
    "postgresql": postgresql.psycopg.dialect(paramstyle="pyformat"),  # type: ignore[no-untyped-call]
}
Params = Callable[[dict[str, Any]], Sequence[Any]]
# By the statement's id, with the statement kept beside its SQL: while it is kept no other
# object can have its id, so a statement made for one call and dropped never lends its SQL to
# a later one at the same address. The hot path's statements are made once, at import. Beside
# each: what turns a dict of its parameters into the tuple of its `?` placeholders (SQLite).
_CACHE: dict[tuple[int, str, tuple[str, ...]], tuple[sa.sql.ClauseElement, str, Params]] = {}


def compiled(stmt: sa.sql.ClauseElement, dialect: str, keys: Sequence[str] = ()) -> str:
    """The SQL text of `stmt` for `dialect`; `keys` names the columns an INSERT/UPDATE sets.
    For SQLite, `?` placeholders: pass its parameters through `positional`."""
    return _compiled(stmt, dialect, tuple(keys))[1]


def positional(stmt: sa.sql.ClauseElement, keys: tuple[str, ...] = ()) -> tuple[str, Params]:
    """SQLite: the SQL of `stmt` (as `compiled`), and what turns a dict of its parameters
    into the tuple its `?` placeholders take, in their order."""
    kept = _CACHE.get((id(stmt), "sqlite", keys)) or _compiled(stmt, "sqlite", keys)
    return kept[1], kept[2]


def _compiled(stmt: sa.sql.ClauseElement, dialect: str,
              keys: tuple[str, ...]) -> tuple[sa.sql.ClauseElement, str, Params]:
    cache_key = (id(stmt), dialect, keys)
    kept = _CACHE.get(cache_key)
    if kept is None:
        kw: dict[str, Any] = {}
        if keys:
            kw["column_keys"] = list(keys)
        done = stmt.compile(dialect=_DIALECTS[dialect], **kw)
        # pyformat (psycopg) is not positional: its `positiontup` is None, and no caller
        # passes its parameters through `positional`.
        order = done.positiontup if isinstance(done, SQLCompiler) else None
        kept = _CACHE[cache_key] = (stmt, done.string, _params_in_order(order or ()))
    return kept


def _params_in_order(names: Sequence[str]) -> Params:
    if len(names) > 1:
        return operator.itemgetter(*names)
    if names:
        name = names[0]
        return lambda params: (params[name],)
    return lambda params: ()


def cursor(conn: Connection) -> Any:
    """A DBAPI cursor on the connection (and so inside the transaction) `conn` holds."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


class Runner:
    """Runs compiled statements on one transaction's cursor."""

    def __init__(self, conn: Connection, dialect: str) -> None:
        self.dialect = "sqlite" if dialect == "read" and conn.dialect.name == "sqlite" else (
            conn.dialect.name)
        self.sqlite = self.dialect == "sqlite"
        self.cur = cursor(conn)

    def _execute(self, stmt: sa.sql.ClauseElement, params: dict[str, Any]) -> None:
        if self.sqlite:
            sql, order = positional(stmt)
            self.cur.execute(sql, order(params))
        else:
            self.cur.execute(compiled(stmt, self.dialect), params)

    def rows(self, stmt: sa.sql.ClauseElement, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        self._execute(stmt, params)
        return list(self.cur.fetchall())

    def first(self, stmt: sa.sql.ClauseElement, params: dict[str, Any]) -> tuple[Any, ...] | None:
        self._execute(stmt, params)
        row = self.cur.fetchone()
        return tuple(row) if row is not None else None

    def many(self, stmt: sa.sql.ClauseElement, rows: list[dict[str, Any]],
             set_keys: Sequence[str] | None = None, *, locked: bool = False) -> None:
        """Execute for every row. `set_keys`: the columns an INSERT/UPDATE writes (default:
        the keys of the first row that are not `b_` bind parameters). `locked`: an UPDATE of
        rows the transaction holds locked (`Queue.many`; nothing changes here)."""
        if not rows:
            return
        sql, order = (_by_shape(stmt, self.dialect, rows[0]) if set_keys is None
                      else _compiled(stmt, self.dialect, tuple(set_keys))[1:])
        if not self.sqlite:  # psycopg takes the dicts by name
            order = _as_is
        if len(rows) == 1:
            self.cur.execute(sql, order(rows[0]))
        else:
            self.cur.executemany(sql, map(order, rows))


def _as_is(params: dict[str, Any]) -> Any:
    return params


# By the statement's id too (`_compiled` keeps every statement it met, so the id stays its
# own) and the keys of a row: the hot path's rows have a few fixed shapes, so the SQL and
# parameter order of a `many` are one lookup.
_BY_SHAPE: dict[tuple[int, str, tuple[str, ...]], tuple[str, Params]] = {}


def _by_shape(stmt: sa.sql.ClauseElement, dialect: str,
              row: dict[str, Any]) -> tuple[str, Params]:
    """What `stmt` runs to set the columns of `row` that are not `b_` bind parameters (an
    UPDATE's WHERE)."""
    shape = (id(stmt), dialect, tuple(row))
    found = _BY_SHAPE.get(shape)
    if found is None:
        kept = _compiled(stmt, dialect, tuple(k for k in row if not k.startswith("b_")))
        found = _BY_SHAPE[shape] = kept[1:]
    return found


class Queue:
    """`Runner.many` that queues the statement and its rows for one pipeline instead."""

    def __init__(self, work: list[tuple[str, list[dict[str, Any]]]]) -> None:
        self.work = work

    def many(self, stmt: sa.sql.ClauseElement, rows: list[dict[str, Any]],
             set_keys: Sequence[str] | None = None, *, locked: bool = False) -> None:
        """Queue `stmt` for every row. An INSERT's rows go as statements of several rows
        (decision 0120), and so do an UPDATE's when `locked` says the transaction holds every
        row it updates (`pipeline.rows_sql` updates them by their address; decision 0125)."""
        if rows:
            sql = (_by_shape(stmt, "postgresql", rows[0])[0] if set_keys is None
                   else compiled(stmt, "postgresql", set_keys))
            if len(rows) > 1 and (isinstance(stmt, sa.Insert)
                                  or (locked and _one_community_by_key(rows))):
                sql = pipeline.ManyRows(sql)
            self.work.append((sql, list(rows)))


def _one_community_by_key(rows: list[dict[str, Any]]) -> bool:
    """Whether an UPDATE's rows may go as one statement (`pipeline.rows_sql`): all of one
    community, no row named twice (joined to a VALUES list, a row named twice would be
    updated once, by either)."""
    first = rows[0].get("b_community")
    keys = {tuple(v for k, v in row.items() if k.startswith("b_")) for row in rows}
    return (first is not None and len(keys) == len(rows)
            and all(row.get("b_community") == first for row in rows))
