"""Browser tests: a real uvicorn server and Debian's Chromium, driven by Playwright.

Fixtures:
- `dashboard`: the dashboard app (`jeton.web.create_dashboard_app`) on a fresh SQLite database,
  served by uvicorn on 127.0.0.1 (a free port) in a background thread, with a community, an
  owner who has TOTP, and a support user. Its clock is a ManualClock shared with the server.
- `member_pages(tmp_path, setup)`: not a fixture; the member pages (the member router and the
  static files) served the same way, over a community that `setup` makes (for a module's own
  `pages` fixture).
- `browser`: one headless Chromium for tests/browser (never downloaded: Debian's package).
- `page`: a fresh browser context and page per test; console errors and uncaught page
  errors are collected in `page_errors` and fail the test at teardown.
- `shoot(page, name)`: saves a full-page PNG to test-artifacts/screenshots/ (gitignored);
  every test also gets a final screenshot at teardown, pass or fail.

Every test that drives a page is skipped, with the reason, when /usr/bin/chromium is missing
(`apt-get install chromium`).
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright
from starlette.types import ASGIApp

import jeton
from conftest import make_sqlite_store
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.services.access.sessions import open_session
from jeton.services.access.staff import (
    StaffRole,
    StaffUser,
    bootstrap_owner,
    confirm_totp,
    create_staff_user,
    start_totp_enrollment,
)
from jeton.store.engine import Store
from jeton.web import create_dashboard_app, create_member_router, mount_static

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
HOST = "127.0.0.1"
SERVER_START_TIMEOUT_S = 10.0

Shoot = Callable[[Page, str], Path]


class ThreadedServer:
    """uvicorn in a daemon thread on a socket we bind first (port 0: no race for the port)."""

    def __init__(self, app: ASGIApp) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((HOST, 0))
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False,
                                lifespan="off", http="h11", ws="none",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name="jeton-browser-test-server", daemon=True)
        self.base_url = f"http://{HOST}:{self._socket.getsockname()[1]}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=SERVER_START_TIMEOUT_S)
        self._socket.close()


def wait_until_true(page: Page, expression: str, timeout_s: float = 10.0) -> None:
    """Poll a JavaScript expression until it is true.

    Not ``page.wait_for_function``: when its first try is false it goes on polling with
    ``eval`` inside the page, which Jeton's Content-Security-Policy (``script-src 'self'``)
    refuses; ``page.evaluate`` runs through the browser's debugging protocol and is allowed.
    """
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout_s} s: {expression}")
        time.sleep(0.05)


@dataclass(frozen=True)
class Dashboard:
    base_url: str
    store: Store
    clock: ManualClock
    password: str
    owner: StaffUser
    owner_totp: pyotp.TOTP
    support: StaffUser

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[Dashboard]:
    store = make_sqlite_store(tmp_path / "jeton.db")
    # Business time starts now, so the codes an authenticator would show are the real ones.
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    jeton.Jeton(store, clock=clock).create_community("Chat room", "chat")
    password = "correct horse battery"
    owner = bootstrap_owner(store, clock, "chat", "owner@example.org", password)
    support = create_staff_user(store, clock, owner, email="support@example.org",
                                password=password, role=StaffRole.support, name="Sam Support")
    enrollment = start_totp_enrollment(store, clock, open_session(store, clock, owner).session)
    totp = pyotp.TOTP(enrollment.secret)
    assert confirm_totp(store, clock, open_session(store, clock, owner).session,
                        totp.at(clock.now()))
    clock.advance(seconds=30)  # the enrollment used this step's code; a code works once

    app = create_dashboard_app(store, clock, Settings(public_url=f"http://{HOST}"))
    server = ThreadedServer(app)
    server.start()
    try:
        yield Dashboard(server.base_url, store, clock, password, owner, totp, support)
    finally:
        server.stop()
        store.dispose()


@dataclass(frozen=True)
class MemberPages:
    base_url: str
    chat: jeton.Community

    def url(self, path: str) -> str:
        return self.base_url + path

    def link(self, member_id: str) -> str:
        return self.chat.create_member_link(member_id, return_url=self.url("/")).url


@contextmanager
def member_pages(tmp_path: Path,
                 setup: Callable[[jeton.Jeton], jeton.Community]) -> Iterator[MemberPages]:
    """The member pages on a fresh SQLite database, over the community `setup` makes."""
    store = make_sqlite_store(tmp_path / "jeton.db")
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    # The socket is bound before the app has routes, so the public URL is known: links and
    # the providers' return URLs point here.
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    server = ThreadedServer(app)
    j = jeton.Jeton(store, clock=clock, settings=Settings(public_url=server.base_url))
    chat = setup(j)
    app.include_router(create_member_router(j))
    mount_static(app)
    server.start()
    try:
        yield MemberPages(server.base_url, chat)
    finally:
        server.stop()
        j.close()


# Package scope, not session: Playwright's sync API keeps an asyncio loop running in this
# thread while it is open, and async tests elsewhere need the thread's loop free after these.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = (f"browser tests need Debian's chromium at {CHROMIUM} "
                   "(apt-get install chromium); Playwright never downloads a browser here")
        if os.environ.get("JETON_REQUIRE_BROWSER"):  # CI: a missing browser is a failure
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                              headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page_errors() -> list[str]:
    return []


@pytest.fixture
def page(browser: Browser, page_errors: list[str], shoot: Shoot) -> Iterator[Page]:
    # Reduced motion: charts draw at once, so screenshots show them finished.
    context = browser.new_context(viewport={"width": 1280, "height": 860},
                                  reduced_motion="reduce")
    page = context.new_page()
    page.set_default_timeout(10_000)

    def on_console(message: ConsoleMessage) -> None:
        # A page answered with 401/403/429 on purpose is logged as "Failed to load resource";
        # failed sub-resources (scripts, styles, icons) are caught by on_response instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            page_errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            page_errors.append(f"{response.status} for {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    yield page
    shoot(page, "final")
    context.close()
    assert not page_errors, f"the browser reported errors: {page_errors}"


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Shoot:
    folder = Path(request.config.rootpath) / "test-artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    for old in folder.glob(f"{test_name}-*.png"):  # a test's pictures are from its last run
        old.unlink()
    counter = itertools.count(1)

    def take(page: Page, name: str) -> Path:
        path = folder / f"{test_name}-{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
