"""The hot path's compiled statements (`store/fastsql.py`) are found by the statement's
identity: a statement made for one call and dropped must not leave its SQL to another statement
that Python later puts at the same address."""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store import fastsql

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
        assert "SELECT t.b " in fastsql._by_shape(second, "sqlite", {})
