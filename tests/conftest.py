"""Fixtures shared by every test package.

- `store`: a fresh Store, on SQLite, on PostgreSQL and on Citus (the contract suite); the
  PostgreSQL run needs JETON_TEST_POSTGRES_URL, the Citus run JETON_TEST_CITUS_URL (a
  coordinator), and each is skipped with a message without it.
- `sqlite_store`, `pg_store`, `citus_store`: one of each; `server_store`: PostgreSQL, then
  Citus (what only a server does: many writers at once).
- `clock`: a ManualClock; `jeton_app`: a Jeton on `store` and `clock`.
- `fresh_database()`: a new PostgreSQL database, for a server whose processes open it by URL.
- `check_invariants(store)`: `jeton verify`'s checks, failing the test with every violation.

Every PostgreSQL store lives in a schema of its own, dropped afterwards, so tests (and people)
sharing one database never see each other's rows. On Citus too: the schema is an ordinary one
(schema-based sharding off) and `jeton migrate` distributes its tables by community_id, with
few shards so that making and dropping a schema per test stays quick. A test process
migrates one PostgreSQL schema and one SQLite file, and makes the other stores from copies of
them (`make_pg_store`, `make_sqlite_store`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import typer

import jeton
from jeton.core.clock import ManualClock
from jeton.services.ops.verify import verify  # the ledger's checks and one key, one effect
from jeton.store.engine import Store, normalize_url
from jeton.store.tables import metadata

PG_ENV = "JETON_TEST_POSTGRES_URL"
CITUS_ENV = "JETON_TEST_CITUS_URL"
CITUS_TEST_SHARD_COUNT = 4  # per table; Citus's default of 32 makes a schema take seconds


@pytest.fixture(autouse=True, scope="session")
def _patient_http_clients() -> Iterator[None]:
    """Every HTTP call of a test goes to a server on this machine, which answers in
    milliseconds, but a shared 2-core machine running the suite on both cores can hold an
    answer past httpx's default of 5 s: the test would fail for the machine's load, not for
    Jeton. A call or client without a timeout of its own waits 30 s here (httpx reads its
    default from one `Timeout` object, bound as the default argument of every call)."""
    default = httpx._config.DEFAULT_TIMEOUT_CONFIG
    kept = (default.connect, default.read, default.write, default.pool)
    default.connect = default.read = default.write = default.pool = 30.0
    yield
    default.connect, default.read, default.write, default.pool = kept


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashes() -> Iterator[None]:
    """Staff passwords hashed with argon2id at its lowest cost: the production parameters
    take about 0.2 s a hash or a check, and most dashboard tests sign staff in (three hashes
    and a check each). The hashes keep their format (`$argon2id$`, which `test_staff`
    checks); only the work factors are the lowest argon2 allows."""
    from argon2 import PasswordHasher

    from jeton.services.access import staff

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                       parallelism=1))
        yield


def postgres_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("JETON_REQUIRE_POSTGRES"):
            pytest.fail(f"{PG_ENV} is not set and JETON_REQUIRE_POSTGRES is (CI)")
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/test)")
    return url


def citus_url() -> str:
    url = os.environ.get(CITUS_ENV)
    if not url:
        pytest.skip(f"Citus tests need {CITUS_ENV} naming a coordinator (e.g. "
                    "postgresql://postgres@127.0.0.1:9700/test): docs/operations/citus.md")
    return url


def make_pg_store(url: str | None = None, *, citus: bool = False, **kwargs: object) -> Store:
    """A Store in a new, empty PostgreSQL schema (on the Citus coordinator with `citus`,
    its tables distributed). Call `drop_pg_store` when done."""
    url = url or (citus_url() if citus else postgres_url())
    schema = f"jeton_test_{uuid.uuid4().hex[:12]}"
    script = None if citus else _migrated_schema_script(url)
    admin = sa.create_engine(normalize_url(url))
    with admin.begin() as conn:
        if citus:  # a plain schema whose tables Jeton distributes, not a schema-sharded one
            conn.exec_driver_sql("SET LOCAL citus.enable_schema_based_sharding = off")
        if script is None:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        else:  # every statement at once: no parameters, so psycopg sends them as one query
            conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                script[1].replace(script[0], schema))
    admin.dispose()
    store = Store(url, pg_schema=schema, **kwargs)  # type: ignore[arg-type]
    if script is not None:
        return store
    try:
        store.create_schema(shard_count=CITUS_TEST_SHARD_COUNT if citus else None)
    except BaseException:  # no open connection left for a later test's warnings to report
        drop_pg_store(store)
        raise
    return store


# A test process migrates one schema the way `jeton migrate` does, then makes every other
# PostgreSQL store from `pg_dump`'s copy of it (its tables, functions, triggers and version
# row) in one round trip: about 0.05 s a store instead of 0.7 s of migrations each, for some
# 500 tests. tests/store/test_migrations.py runs the migrations themselves.
_SCRIPTS: dict[str, tuple[str, str] | None] = {}


def _migrated_schema_script(url: str) -> tuple[str, str] | None:
    """(the migrated schema's name, the SQL that makes it), or None where `pg_dump` is missing
    or fails (then each store runs the migrations, as before)."""
    if url in _SCRIPTS:
        return _SCRIPTS[url]
    _SCRIPTS[url] = None
    dump = shutil.which("pg_dump")
    if dump is None:
        return None
    template = f"jeton_template_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_url(url))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {template}")
    store = Store(url, pg_schema=template)
    try:
        store.create_schema()
        store.dispose()
        done = subprocess.run(  # the PostgreSQL client's own tool, fixed arguments
            [dump, "--schema", template, "--no-owner", "--no-privileges", "--inserts",
             "--dbname", url.replace("+psycopg", "")],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {template} CASCADE")
        admin.dispose()
    if done.returncode != 0:
        return None
    # psql's own commands (`\restrict`) are not SQL; the rest is.
    script = "\n".join(line for line in done.stdout.splitlines() if not line.startswith("\\"))
    _SCRIPTS[url] = (template, script)
    return _SCRIPTS[url]


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database (the server's processes open it by URL alone), then dropped."""
    url = postgres_url()
    name = f"jeton_workers_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(normalize_url(url)).set(database=name).render_as_string(
            hide_password=False).replace("+psycopg", "")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def drop_pg_store(store: Store) -> None:
    store.dispose()
    admin = sa.create_engine(store.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {store.pg_schema} CASCADE")
    admin.dispose()


def make_sqlite_store(path: Path) -> Store:
    """A Store on a new SQLite file: a copy of one this test process migrated (as `jeton
    migrate` does) and checkpointed, 0.1 s of migrations a store fewer."""
    global _SQLITE_TEMPLATE
    if _SQLITE_TEMPLATE is None:
        folder = tempfile.mkdtemp(prefix="jeton-test-template-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        made = Path(folder) / "migrated.db"
        first = Store(f"sqlite:///{made}")
        first.create_schema()
        first.dispose()
        with sqlite3.connect(made) as raw:  # everything in the file itself, none in a WAL
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        _SQLITE_TEMPLATE = made
    shutil.copyfile(_SQLITE_TEMPLATE, path)
    return Store(f"sqlite:///{path}")


_SQLITE_TEMPLATE: Path | None = None


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = make_sqlite_store(tmp_path / "jeton.db")
    yield store
    store.dispose()


SERVERS = [pytest.param("postgres", marks=pytest.mark.postgres),
           pytest.param("citus", marks=pytest.mark.citus)]


@pytest.fixture
def pg_store() -> Iterator[Store]:
    store = make_pg_store()
    yield store
    drop_pg_store(store)


@pytest.fixture(params=SERVERS)
def server_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """PostgreSQL, then Citus: for what only a server does (many connections at once)."""
    store = make_pg_store(citus=request.param == "citus")
    yield store
    drop_pg_store(store)


@pytest.fixture
def citus_store() -> Iterator[Store]:
    store = make_pg_store(citus=True)
    yield store
    drop_pg_store(store)


@pytest.fixture(params=["sqlite", *SERVERS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = make_sqlite_store(tmp_path / "jeton.db")
        yield s
        s.dispose()
    else:
        s = make_pg_store(citus=request.param == "citus")
        yield s
        drop_pg_store(s)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def jeton_app(store: Store, clock: ManualClock) -> jeton.Jeton:
    return jeton.Jeton(store, clock=clock)


def check_invariants(store: Store, community_id: str | None = None) -> None:
    """No invariant broken in any community of `store`, or in `community_id` alone."""
    found = verify(store, community_id=community_id)
    assert not found, "invariants broken:\n" + "\n".join(str(v) for v in found)


def counts(store: Store) -> dict[str, int]:
    """Rows per table: equal before and after means nothing was written."""
    with store.read() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in sorted(metadata.tables.items())}


@pytest.fixture
def invariants() -> object:
    """`invariants(store)` fails the test naming every broken invariant (`invariants(store,
    community_id)`: of that community alone)."""
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
