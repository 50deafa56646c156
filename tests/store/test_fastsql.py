"""The hot path's compiled statements (`store/fastsql.py`): found by the statement's identity
(a statement made for one call and dropped must not leave its SQL to another statement that
Python later puts at the same address), and on SQLite given their parameters by position, from
the dicts callers pass by name."""

from __future__ import annotations

import sqlalchemy as sa

from jeton.services.ledger import statements as q
from jeton.store import fastsql, pipeline

_T = sa.table("t", sa.column("a"), sa.column("b"))


def _select(column: str) -> sa.Select[tuple[object]]:
    return sa.select(_T.c[column]).where(_T.c.a == sa.bindparam("x"))


def test_a_statement_made_per_call_never_answers_for_another() -> None:
    for _ in range(50):  # Python reuses a freed object's memory for the next of its size
        first = _select("a")
        first_id = id(first)
        assert "SELECT t.a " in fastsql.compiled(first, "sqlite")
        del first  # freed at once (no cycle): its memory is free for the next statement
        second = _select("b")
        assert "SELECT t.b " in fastsql.compiled(second, "sqlite"), (
            f"the SQL of a dropped statement answered for a new one "
            f"(same address: {id(second) == first_id})")
        sql, order = fastsql.positional(second)
        assert "SELECT t.b " in sql
        assert order({"x": 7, "y": 8}) == (7,)


_ROWS = sa.table("rows", sa.column("k"), sa.column("v"), sa.column("w"))
_UPDATE = (sa.update(_ROWS).where(_ROWS.c.k == sa.bindparam("b_k"))
           .values(v=sa.bindparam("v"), w=sa.bindparam("w")))


def test_sqlite_parameters_go_by_name_to_their_placeholders() -> None:
    """Each value reaches its own column whatever order the dict lists them in: for one row
    and for many, for an INSERT, for an UPDATE whose WHERE takes `b_` parameters, and for a
    read with no parameter, one, or the same one twice."""
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE rows (k TEXT PRIMARY KEY, v INT, w TEXT)")
        run = fastsql.Runner(conn, "sqlite")
        run.many(sa.insert(_ROWS), [{"w": "one", "k": "a", "v": 1}])
        run.many(sa.insert(_ROWS), [{"v": 2, "w": "two", "k": "b"},
                                    {"v": 3, "w": "three", "k": "c"}], ["k", "v", "w"])
        run.many(_UPDATE, [{"w": "TWO", "b_k": "b", "v": 20}])
        run.many(_UPDATE, [{"b_k": "c", "v": 30, "w": "THREE"},
                           {"v": 10, "w": "ONE", "b_k": "a"}])
        everything = sa.select(_ROWS).order_by(_ROWS.c.k)
        assert run.rows(everything, {}) == [("a", 10, "ONE"), ("b", 20, "TWO"),
                                            ("c", 30, "THREE")]
        one = sa.select(_ROWS.c.v).where(_ROWS.c.k == sa.bindparam("k"))
        assert run.first(one, {"k": "b", "unused": "x"}) == (20,)
        twice = sa.select(_ROWS.c.k).where(
            (_ROWS.c.w == sa.bindparam("name")) | (_ROWS.c.k == sa.bindparam("name")))
        assert run.rows(twice, {"name": "a"}) == [("a",)]
        assert run.first(one, {"k": "none"}) is None
    engine.dispose()


def test_an_updates_rows_go_as_one_statement_only_when_one_community_names_each_once() -> None:
    """On PostgreSQL the rows of an UPDATE by community and key go as one statement (decision
    0125) when the write holds them locked (it updates them by their address) and that
    statement updates exactly them: all of one community (it compares the first row's) and no
    row named twice (a row joined twice is updated once)."""
    def sent(rows: list[dict[str, object]], locked: bool = True) -> bool:
        work: list[tuple[str, list[dict[str, object]]]] = []
        fastsql.Queue(work).many(q.UPDATE_ACCOUNT, rows, locked=locked)
        return isinstance(work[0][0], pipeline.ManyRows)

    def row(community: str, account: str) -> dict[str, object]:
        return {"b_community": community, "b_account": account, "posted": 1, "pending": 0,
                "version": 2}

    assert sent([row("c", "wallet:a:CREDIT"), row("c", "wallet:b:CREDIT")])
    assert not sent([row("c", "wallet:a:CREDIT"), row("d", "wallet:b:CREDIT")])
    assert not sent([row("c", "wallet:a:CREDIT"), row("c", "wallet:a:CREDIT")])
    assert not sent([row("c", "wallet:a:CREDIT")])  # one row: the one-row statement
    assert not sent([row("c", "wallet:a:CREDIT"), row("c", "wallet:b:CREDIT")], locked=False)
    sql = pipeline.rows_sql(fastsql.compiled(q.UPDATE_ACCOUNT, "postgresql",
                                             ["posted", "pending", "version"]), 3)
    assert sql is not None
    assert sql.count("(%(posted__") == 3  # a VALUES row each, in the one row's order
    assert "JOIN LATERAL" in sql
