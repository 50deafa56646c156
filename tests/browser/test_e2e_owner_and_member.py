"""End to end, as people use it: the real `jeton serve` (a subprocess on 127.0.0.1, the demo
payment provider) driven by Chromium.

The owner signs in with a one-time code and grants credits; a moderator over the role's limit is
refused; support can read but not post. A member opens the link the host app asked for, buys a
pack through the demo provider's checkout, sees the new balance, redeems a coupon and sends
credits to another member, at desktop and at phone width. A link past its lifetime opens
nothing. Each page is saved to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

import jeton
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.services.access.sessions import open_session
from jeton.services.access.staff import (
    StaffRole,
    bootstrap_owner,
    confirm_totp,
    create_staff_user,
    start_totp_enrollment,
)
from jeton.store.engine import Store

from .conftest import CHROMIUM, HOST, Shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "correct horse battery"
SERVER_START_TIMEOUT_S = 30.0
# The server stops by itself after this, even if the test run is killed before its teardown.
SERVER_LIFETIME_S = 300
PHONE: ViewportSize = {"width": 390, "height": 844}
# Runs in the child before it becomes `jeton serve`: an alarm that outlives the exec.
_WITH_ALARM = ("import os, signal, sys; signal.alarm(int(sys.argv[1])); "
               "os.execv(sys.argv[2], sys.argv[2:])")


@dataclass(frozen=True)
class Served:
    base_url: str
    chat: jeton.Community  # the community, in-process on the same database (the host app)
    owner_totp: pyotp.TOTP

    def url(self, path: str) -> str:
        return self.base_url + path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _prepare(url: str, base_url: str) -> tuple[jeton.Community, pyotp.TOTP]:
    """What exists before the server starts: the community, its catalog and its staff."""
    j = jeton.Jeton(_store(url), settings=Settings(public_url=base_url))
    chat = j.create_community("Chat room", "chat")
    chat.create_member("alice", name="Alice Liddell")
    chat.create_member("bob", name="Bob Builder")
    chat.create_pack("Starter", pack_id="starter", credits=20, price_minor=600)
    chat.create_pack("Big", pack_id="big", credits=50, price_minor=1500, bonus_credits=5)
    chat.create_coupon("WELCOME10", credits=10)
    chat.set_role_limit("moderator", 50, period="day")
    chat.set_transfer_limits(per_day=100)

    # The owner enrolled TOTP a minute and a half ago (a code works once: the sign-in below
    # uses a later one), the moderator and support sign in with a password.
    store = j.store
    earlier = ManualClock(datetime.now(UTC) - timedelta(seconds=90))
    owner = bootstrap_owner(store, earlier, "chat", "owner@example.org", PASSWORD)
    enrollment = start_totp_enrollment(store, earlier, open_session(store, earlier, owner).session)
    totp = pyotp.TOTP(enrollment.secret)
    assert confirm_totp(store, earlier, open_session(store, earlier, owner).session,
                        totp.at(earlier.now()))
    for email, role in (("mod@example.org", StaffRole.moderator),
                        ("support@example.org", StaffRole.support)):
        create_staff_user(store, earlier, owner, email=email, password=PASSWORD, role=role)
    return chat, totp


def _store(url: str) -> Store:
    store = Store(url)
    store.create_schema()
    return store


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM}")
    port = _free_port()
    base_url = f"http://{HOST}:{port}"
    url = f"sqlite:///{tmp_path / 'jeton.db'}"
    chat, totp = _prepare(url, base_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JETON_")}
    env.update(JETON_PUBLIC_URL=base_url, JETON_DATABASE_URL=url, PYTHONUNBUFFERED="1")
    cli = str(Path(sys.executable).with_name("jeton"))
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", _WITH_ALARM, str(SERVER_LIFETIME_S), cli, "serve", "--host", HOST,
         "--port", str(port), "--database-url", url],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_up(base_url, process, tmp_path / "serve.log")
        yield Served(base_url, chat, totp)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()
        chat.jeton.close()


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jeton serve exited:\n{log.read_text()}")
        try:
            if httpx.get(base_url + "/healthz", timeout=1.0).status_code == 200:
                pages = httpx.get(base_url + "/m/", timeout=5.0)
                if pages.status_code == 404:
                    raise RuntimeError(
                        "jeton serve does not serve the member pages: create_app must include "
                        "jeton.web.create_member_router(j) (see jeton/web/docs.md)")
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"jeton serve did not start in {SERVER_START_TIMEOUT_S} s:\n"
                       f"{log.read_text()}")


# ---- staff ----

def sign_in(page: Page, served: Served, email: str, *, code: str | None = None) -> None:
    page.goto(served.url("/admin/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if code is not None:
        expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
        page.get_by_label("Code", exact=True).fill(code)
        page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")


def open_member(page: Page, member_id: str) -> None:
    page.get_by_role("navigation", name="Dashboard sections").get_by_role(
        "link", name="Members").click()
    page.get_by_role("link", name=member_id, exact=True).click()
    expect(page.locator('#balance [data-figure="available"]')).to_be_visible()


def review_grant(page: Page, amount: str, reason: str) -> None:
    page.get_by_role("link", name="Grant credits").click()
    page.get_by_label("Amount (CREDIT)").fill(amount)
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Check and confirm")).to_be_visible()


def test_staff_and_a_member_through_the_real_server(
        served: Served, page: Page, browser: Browser, shoot: Shoot,
        page_errors: list[str]) -> None:
    chat = served.chat

    # The owner signs in with the one-time code and grants Alice 100 credits.
    sign_in(page, served, "owner@example.org", code=served.owner_totp.now())
    shoot(page, "owner-dashboard")
    open_member(page, "alice")
    review_grant(page, "100", "Welcome to the chat")
    shoot(page, "owner-grant-review")
    page.get_by_role("button", name="Confirm: grant 100 CREDIT").click()
    expect(page.locator('#balance [data-figure="available"]')).to_have_text("100")
    assert chat.balance("alice").available == 100
    sign_out(page)

    # A moderator may post 50 a day: 80 is refused, and nothing is posted.
    sign_in(page, served, "mod@example.org")
    open_member(page, "alice")
    review_grant(page, "80", "Room prize")
    page.get_by_role("button", name="Confirm: grant 80 CREDIT").click()
    expect(page.get_by_role("alert")).to_contain_text("limit")
    expect(page.get_by_role("button", name=re.compile("^Confirm"))).to_have_count(0)
    shoot(page, "moderator-over-limit")
    assert chat.balance("alice").available == 100
    sign_out(page)

    # Support reads but cannot post: no buttons, and the form itself is refused.
    sign_in(page, served, "support@example.org")
    open_member(page, "alice")
    expect(page.get_by_role("link", name="Grant credits")).to_have_count(0)
    refused = page.goto(served.url("/admin/members/alice/credits?kind=grant"))
    assert refused is not None
    assert refused.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shoot(page, "support-cannot-post")
    sign_out(page)

    # The host app asks for a link for Alice; her browser opens it.
    link = chat.create_member_link("alice", return_url=served.url("/healthz"))
    assert link.url.startswith(served.url("/m/open/"))
    page.goto(link.url)
    expect(page).to_have_url(served.url("/m/"))
    expect(page.get_by_role("heading", name="Your credits")).to_be_visible()
    expect(page.locator('[data-figure="available"]')).to_contain_text("100")
    expect(page.get_by_text("Signed in as Alice Liddell")).to_be_visible()
    shoot(page, "member-overview")

    # She buys the Big pack through the demo provider's checkout.
    nav = page.get_by_role("navigation", name="Your account")
    nav.get_by_role("link", name="Buy credits").click()
    expect(page.get_by_role("heading", name="Buy credits")).to_be_visible()
    shoot(page, "member-store")
    page.get_by_role("button", name="Buy Big").click()
    expect(page.get_by_role("heading", name="Demo checkout")).to_be_visible()
    assert chat.balance("alice").available == 100  # nothing until the payment is confirmed
    shoot(page, "member-demo-checkout")
    page.get_by_role("button", name="Pay $15.00").click()
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible()
    expect(page.locator('#purchase-status [data-figure="available"]')).to_have_text("155")
    shoot(page, "member-paid")
    assert chat.balance("alice").available == 155

    # A coupon, typed in lower case.
    nav.get_by_role("link", name="Redeem a coupon").click()
    page.get_by_label("Coupon code").fill("welcome10")
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_role("status")).to_contain_text("The coupon was redeemed")
    expect(page.locator('[data-figure="available"]')).to_contain_text("165")

    # Credits to Bob, with a review step; the limit is shown on the form.
    nav.get_by_role("link", name="Send credits").click()
    expect(page.get_by_text("You may send up to 100 credits a day.")).to_be_visible()
    page.get_by_label("Recipient's member id").fill("bob")
    page.get_by_label("Credits to send").fill("40")
    page.get_by_label("Note for them (optional)").fill("for the pizza")
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Check and confirm")).to_be_visible()
    shoot(page, "member-transfer-review")
    page.get_by_role("button", name="Send 40 credits").click()
    expect(page.get_by_role("status")).to_have_text("The credits were sent.")
    expect(page.locator('[data-figure="available"]')).to_contain_text("125")
    expect(page.get_by_role("cell", name="Sent to Bob Builder: for the pizza")
           ).to_be_visible()
    shoot(page, "member-after-transfer")
    assert (chat.balance("alice").available, chat.balance("bob").available) == (125, 40)

    # Over the day's limit (40 sent, 100 a day): refused, nothing sent.
    nav.get_by_role("link", name="Send credits").click()
    page.get_by_label("Recipient's member id").fill("bob")
    page.get_by_label("Credits to send").fill("70")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Send 70 credits").click()
    expect(page.get_by_role("alert")).to_contain_text("over your transfer limit")
    shoot(page, "member-transfer-over-limit")
    assert chat.balance("alice").available == 125

    # The keyboard: the first Tab reaches the skip link, which is then shown.
    page.goto(served.url("/m/"))
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    shoot(page, "member-skip-link")

    # At phone width the same pages fit: no sideways scrolling.
    phone = browser.new_context(viewport=PHONE, reduced_motion="reduce",
                                device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        mobile = phone.new_page()
        mobile.set_default_timeout(10_000)
        mobile.on("pageerror", lambda error: page_errors.append(str(error)))
        mobile.goto(chat.create_member_link("alice").url)
        expect(mobile.get_by_role("heading", name="Your credits")).to_be_visible()
        for path, name in (("/m/", "phone-overview"), ("/m/store", "phone-store"),
                           ("/m/transfer", "phone-transfer")):
            mobile.goto(served.url(path))
            assert mobile.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth"), path
            shoot(mobile, name)

        # A link past its lifetime opens nothing, in a browser with no session.
        short = chat.create_member_link("bob", ttl_s=2)
        time.sleep(2.5)
        mobile.context.clear_cookies()
        response = mobile.goto(short.url)
        assert response is not None
        assert response.status == 410
        expect(mobile.get_by_role("heading", name="This link has expired")).to_be_visible()
        shoot(mobile, "expired-link")
        after = mobile.goto(served.url("/m/"))
        assert after is not None
        assert after.status == 401
    finally:
        phone.close()

    # The link Alice opened first cannot be used again by someone else.
    other = browser.new_context()
    try:
        reused = other.new_page().goto(link.url)
        assert reused is not None
        assert reused.status == 410
    finally:
        other.close()
