"""The shared MetaData and column helpers every table module uses."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def community_id() -> sa.Column[Any]:
    return sa.Column("community_id", sa.String(64), nullable=False)


def id_col(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.String(100), nullable=kw.pop("nullable", False), **kw)


def amount(name: str, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger, nullable=kw.pop("nullable", False), **kw)


def instant(name: str, **kw: Any) -> sa.Column[Any]:
    """An instant: microseconds since the Unix epoch, UTC."""
    return sa.Column(name, sa.BigInteger, nullable=kw.pop("nullable", False), **kw)


class db_now_us(FunctionElement[int]):
    """The database's own clock, in microseconds: the time an audit record says."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(db_now_us, "sqlite")
def _sqlite_now(element: Any, compiler: Any, **kw: Any) -> str:
    return "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"


@compiles(db_now_us, "postgresql")
def _pg_now(element: Any, compiler: Any, **kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
