"""The demo community (`jeton serve --demo`'s) behind a real server, for browser tests that
check what the pages show against what the API answers.

`demo_site(tmp_path)` gives each test a fresh SQLite store with the demo in it, serves the API
with the dashboard and the member pages (uvicorn in a thread, on a port bound first so that
member links and return URLs name it), and yields a `DemoSite`: its `community` in-process, an
owner and a support user who sign in with a password, and an `api` client on an admin key.

A test process loads the demo once a day (its sixty days of history are counted back from
today's date) into a checkpointed file, and each test's store is a copy of that file: 10 ms
instead of the 2-5 s of loading it, and what the test does to its copy stays in it. The test's
Jeton then opens the demo as `jeton serve --demo` does on a restart (`load_demo` finds it). The
checkouts of the history name the address of the process's first load, not the test's server:
they are all paid, and no page links to a paid checkout.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from starlette.types import Receive, Scope, Send

import jeton
from conftest import make_sqlite_store
from jeton.api import create_app
from jeton.config import Settings
from jeton.services.access.api_keys import ApiKeys
from jeton.services.access.staff import StaffRole, bootstrap_owner, create_staff_user
from jeton.services.ops.demo import load_demo
from jeton.store.engine import Store

from .conftest import ThreadedServer

PASSWORD = "correct horse battery"
OWNER = "owner@demo.example"
SUPPORT = "support@demo.example"


class _Later:
    """An ASGI app given after the socket is bound (the app needs the address it is served
    at, the address needs the socket)."""

    app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class DemoSite:
    base_url: str
    community: jeton.Community
    api: httpx.Client  # the API on an admin key of the demo community

    def url(self, path: str) -> str:
        return self.base_url + path

    def sign_in(self, page: Page, email: str = OWNER) -> None:
        page.goto(self.url("/admin/sign-in"))
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()

    def open_member_pages(self, page: Page, member_id: str) -> None:
        """The member's own pages, opened from a link the host app asked for."""
        page.goto(self.community.create_member_link(member_id).url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()


_LOADED: dict[date, Path] = {}  # the day -> the file this process loaded the demo into that day


def _loaded_demo() -> Path:
    """A checkpointed SQLite file with the demo loaded today, made once a day per process."""
    today = datetime.now(UTC).date()
    if today not in _LOADED:
        folder = tempfile.mkdtemp(prefix="jeton-test-demo-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        made = Path(folder) / "demo.db"
        store = make_sqlite_store(made)
        j = jeton.Jeton(store)
        load_demo(j)
        j.close()
        store.dispose()
        with sqlite3.connect(made) as raw:  # everything in the file itself, none in a WAL
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        _LOADED[today] = made
    return _LOADED[today]


@contextmanager
def demo_site(tmp_path: Path) -> Iterator[DemoSite]:
    path = tmp_path / "jeton.db"
    shutil.copyfile(_loaded_demo(), path)
    store = Store(f"sqlite:///{path}")
    late = _Later()
    server = ThreadedServer(late)
    j = jeton.Jeton(store, settings=Settings(public_url=server.base_url))
    demo = load_demo(j)
    owner = bootstrap_owner(store, j.clock, demo.id, OWNER, PASSWORD)
    create_staff_user(store, j.clock, owner, email=SUPPORT, password=PASSWORD,
                      role=StaffRole.support)
    key = ApiKeys(store, j.clock).create(demo.id, name="tests", scopes=["admin"],
                                         created_by="tests")
    late.app = create_app(j, operator_token="", rate_per_s=100_000.0)
    server.start()
    api = httpx.Client(base_url=server.base_url + "/v1",
                       headers={"Authorization": f"Bearer {key.token}"})
    try:
        yield DemoSite(server.base_url, demo, api)
    finally:
        api.close()
        server.stop()
        j.close()
        store.dispose()
