"""Fixtures for the HTTP API: a real uvicorn server on 127.0.0.1, and a community on it.

`live_server` (SQLite in a temporary folder) and `pg_live_server` (PostgreSQL in a schema of its
own; skipped without JETON_TEST_POSTGRES_URL) yield a `LiveServer`:

    def test_something(live_server: LiveServer) -> None:
        chat = live_server.client()            # jeton.Client on the admin key
        chat.create_member("alice")
        live_server.community.balance("alice")  # the same community, in-process
        live_server.jeton                       # the Jeton the server runs on

The server runs in a background thread on a free port and stops when the test ends (or by
itself after ten minutes). Other packages' tests may use these fixtures by importing them:
`from api.conftest import live_server  # noqa: F401`, or `run_live_server` for their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

import jeton
from conftest import drop_pg_store, make_pg_store, make_sqlite_store
from jeton.api import create_app
from jeton.api.server import serve_in_thread
from jeton.client import create_community
from jeton.core.clock import Clock
from jeton.store.engine import Store

OPERATOR_TOKEN = "operator-token-for-tests-0123456789abcdef"
COMMUNITY_ID = "test"
# High enough that no test but the rate-limit one ever meets it.
TEST_RATE_PER_S = 100_000.0


@dataclass
class LiveServer:
    base_url: str
    api_key: str  # an `admin` key of `community_id`
    community_id: str
    jeton: jeton.Jeton
    app: FastAPI
    operator_token: str = OPERATOR_TOKEN
    _clients: list[jeton.Client] = field(default_factory=list, repr=False)

    def client(self, api_key: str | None = None, **kwargs: Any) -> jeton.Client:
        """A Client on `api_key` (the admin key by default), closed when the test ends."""
        client = jeton.Client(self.base_url, api_key or self.api_key, **kwargs)
        self._clients.append(client)
        return client

    @property
    def community(self) -> jeton.Community:
        return self.jeton.community(self.community_id)

    def new_community(self, community_id: str) -> tuple[jeton.Client, str]:
        """Another community on the same server, with its admin Client and token."""
        client, token = create_community(self.base_url, self.operator_token, community_id,
                                         f"Community {community_id}")
        self._clients.append(client)
        return client, token


@contextmanager
def run_live_server(store: Store, *, clock: Clock | None = None,
                    **app_kwargs: Any) -> Iterator[LiveServer]:
    """Serve `create_app` over a fresh Jeton on `store`, with one community bootstrapped.
    The dashboard is left out unless `include_web=True` (its own tests cover it)."""
    j = jeton.Jeton(store, clock=clock)
    options: dict[str, Any] = {"operator_token": OPERATOR_TOKEN, "rate_per_s": TEST_RATE_PER_S,
                               "rate_burst": int(TEST_RATE_PER_S), "include_web": False}
    options.update(app_kwargs)
    app = create_app(j, **options)
    with serve_in_thread(app) as base_url:
        admin, token = create_community(base_url, OPERATOR_TOKEN, COMMUNITY_ID,
                                        "Test community")
        admin.close()
        server = LiveServer(base_url=base_url, api_key=token, community_id=COMMUNITY_ID,
                            jeton=j, app=app)
        try:
            yield server
        finally:
            for client in server._clients:
                client.close()


@contextmanager
def live_server_on(kind: str, tmp_path: Path, *,
                   clock: Clock | None = None) -> Iterator[LiveServer]:
    """`run_live_server` on a new SQLite file (`kind` "sqlite") or a PostgreSQL schema of its
    own ("postgres"), disposed of or dropped afterwards. For fixtures parametrized by store."""
    store = make_sqlite_store(tmp_path / "jeton.db") if kind == "sqlite" else make_pg_store()
    try:
        with run_live_server(store, clock=clock) as server:
            yield server
    finally:
        if kind == "sqlite":
            store.dispose()
        else:
            drop_pg_store(store)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server_on("sqlite", tmp_path) as server:
        yield server


@pytest.fixture
def pg_live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server_on("postgres", tmp_path) as server:
        yield server
