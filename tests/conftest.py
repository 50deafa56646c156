"""Fixtures shared by every test package.

- `store`: a fresh Store, once on SQLite and once on PostgreSQL (the contract suite); the
  PostgreSQL run needs JETON_TEST_POSTGRES_URL and is skipped with a message without it.
- `sqlite_store`, `pg_store`: one of each.
- `clock`: a ManualClock; `jeton_app`: a Jeton on `store` and `clock`.
- `check_invariants(store)`: `jeton verify`'s checks, failing the test with every violation.

Every PostgreSQL store lives in a schema of its own, dropped afterwards, so tests (and people)
sharing one database never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer

import jeton
from jeton.core.clock import ManualClock
from jeton.services.ledger.verify import verify
from jeton.store.engine import Store, normalize_url

PG_ENV = "JETON_TEST_POSTGRES_URL"


def postgres_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("JETON_REQUIRE_POSTGRES"):
            pytest.fail(f"{PG_ENV} is not set and JETON_REQUIRE_POSTGRES is (CI)")
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/test)")
    return url


def make_pg_store(url: str | None = None, **kwargs: object) -> Store:
    """A Store in a new, empty PostgreSQL schema. Call `drop_pg_store` when done."""
    url = url or postgres_url()
    schema = f"jeton_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_url(url))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    admin.dispose()
    store = Store(url, pg_schema=schema, **kwargs)  # type: ignore[arg-type]
    store.create_schema()
    return store


def drop_pg_store(store: Store) -> None:
    store.dispose()
    admin = sa.create_engine(store.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {store.pg_schema} CASCADE")
    admin.dispose()


def make_sqlite_store(path: Path) -> Store:
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    return store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = make_sqlite_store(tmp_path / "jeton.db")
    yield store
    store.dispose()


@pytest.fixture
def pg_store() -> Iterator[Store]:
    store = make_pg_store()
    yield store
    drop_pg_store(store)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = make_sqlite_store(tmp_path / "jeton.db")
        yield s
        s.dispose()
    else:
        s = make_pg_store()
        yield s
        drop_pg_store(s)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def jeton_app(store: Store, clock: ManualClock) -> jeton.Jeton:
    return jeton.Jeton(store, clock=clock)


def check_invariants(store: Store) -> None:
    found = verify(store)
    assert not found, "invariants broken:\n" + "\n".join(str(v) for v in found)


@pytest.fixture
def invariants() -> object:
    """`invariants(store)` fails the test naming every broken invariant."""
    return check_invariants


@pytest.fixture(scope="session")
def cli_app() -> typer.Typer:
    """The `jeton` command line with every command registered, for typer's CliRunner."""
    from jeton.cli import main

    if not any(g.name == "keys" for g in main.app.registered_groups):
        main._register()
    return main.app


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new SQLite database for the command line (JETON_DATABASE_URL), with wide output."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("JETON_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    return url
