"""The dashboard over HTTP (in-process ASGI): sign-in, cookies, CSRF, roles, expiry, headers."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest
import segno
import sqlalchemy as sa

from jeton.config import Settings
from jeton.core import limits
from jeton.core.clock import ManualClock
from jeton.store.engine import Store
from jeton.store.tables.web import staff_users
from jeton.web import create_dashboard_app

from .conftest import Staff
from .helpers import Desk

pytestmark = pytest.mark.anyio


class Visitor(Desk):
    """A `Desk` whose posts may carry headers (an Origin) and leave the token as the last page
    gave it: these tests read each answer of a post themselves."""

    async def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        form = {"csrf_token": self.csrf, **(data or {})} if csrf else dict(data or {})
        return await self.client.post(path, data=form, headers=headers)


async def visitor(store: Store, clock: ManualClock,
                  settings: Settings | None = None) -> AsyncIterator[Visitor]:
    settings = settings or Settings(public_url="http://testserver")
    app = create_dashboard_app(store, clock, settings)
    base = settings.public_url
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as c:
        yield Visitor(c)


@pytest.fixture
async def browser(store: Store, clock: ManualClock, staff: Staff) -> AsyncIterator[Visitor]:
    async for v in visitor(store, clock):
        yield v


async def test_pages_send_strangers_to_sign_in(browser: Visitor) -> None:
    response = await browser.get("/admin/staff")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/sign-in?next=%2Fadmin%2Fstaff"


async def test_sign_in_sets_an_http_only_lax_cookie_for_the_dashboard_only(
        browser: Visitor, staff: Staff) -> None:
    response = await browser.sign_in(staff.owner.email, staff.password)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("jeton_staff=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/admin" in cookie
    assert f"Max-Age={limits.staff_session_lifetime_s}" in cookie
    assert "Secure" not in cookie
    home = await browser.get("/admin/")
    assert home.status_code == 200
    assert staff.owner.email in home.text


async def test_cookies_are_secure_when_the_dashboard_is_public_over_https(
        store: Store, clock: ManualClock, staff: Staff) -> None:
    async for v in visitor(store, clock, Settings(public_url="https://credits.example.org")):
        page = await v.get("/admin/sign-in")
        assert "Secure" in page.headers["set-cookie"]
        response = await v.sign_in(staff.owner.email, staff.password)
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


async def test_a_wrong_password_is_refused_with_one_message(browser: Visitor,
                                                            staff: Staff) -> None:
    response = await browser.sign_in(staff.owner.email, "not the password")
    assert response.status_code == 401
    assert "The email or password is not right." in response.text
    assert "jeton_staff=" not in response.headers.get("set-cookie", "")


async def test_lockout_is_explained_and_says_when_to_retry(browser: Visitor,
                                                           staff: Staff) -> None:
    for _ in range(limits.staff_sign_in_failures_max - 1):
        assert (await browser.sign_in(staff.owner.email, "guess 123456")).status_code == 401
    response = await browser.sign_in(staff.owner.email, "guess 123456")
    assert response.status_code == 429
    assert "locked until" in response.text
    assert response.headers["retry-after"] == str(limits.staff_lockout_s)


async def test_many_attempts_from_one_address_are_slowed_down_whatever_the_account(
        store: Store, clock: ManualClock, staff: Staff) -> None:
    app = create_dashboard_app(store, clock, Settings(public_url="http://testserver"))

    def from_address(host: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 40000)),
                                 base_url="http://testserver")

    async with from_address("203.0.113.7") as sprayer, from_address("198.51.100.2") as office:
        spray, colleague = Visitor(sprayer), Visitor(office)
        burst = limits.staff_sign_in_burst_per_address
        for n in range(burst):  # one guess on each of many accounts: no lockout sees it
            assert (await spray.sign_in(f"user{n}@example.org", "Summer2026!")).status_code == 401
        slowed = await spray.sign_in(staff.owner.email, staff.password)
        assert slowed.status_code == 429
        assert "Too many sign-in attempts from your network" in slowed.text
        assert 1 <= int(slowed.headers["retry-after"]) <= limits.staff_sign_in_refill_s
        assert "jeton_staff=" not in slowed.headers.get("set-cookie", "")
        # Another address is not slowed down, and the owner's account was never tried.
        assert (await colleague.sign_in(staff.owner.email, staff.password)).status_code == 303


async def test_post_without_the_session_csrf_token_is_refused(store: Store, browser: Visitor,
                                                              staff: Staff) -> None:
    await browser.sign_in(staff.owner.email, staff.password)
    new_user = {"email": "new@example.org", "password": staff.password, "role": "support"}
    assert (await browser.post("/admin/staff", new_user, csrf=False)).status_code == 403
    forged = {**new_user, "csrf_token": "x" * 43}
    assert (await browser.post("/admin/staff", forged, csrf=False)).status_code == 403
    with store.read() as conn:
        emails = conn.execute(sa.select(staff_users.c.email)).scalars().all()
    assert "new@example.org" not in emails


async def test_sign_in_form_needs_its_token_too(browser: Visitor, staff: Staff) -> None:
    response = await browser.post("/admin/sign-in",
                                  {"email": staff.owner.email, "password": staff.password},
                                  csrf=False)
    assert response.status_code == 403


async def test_posts_from_another_site_are_refused(browser: Visitor, staff: Staff) -> None:
    await browser.sign_in(staff.owner.email, staff.password)
    response = await browser.post("/admin/sign-out", {},
                                  headers={"origin": "https://elsewhere.example"})
    assert response.status_code == 403
    assert (await browser.get("/admin/")).status_code == 200


async def test_support_cannot_reach_the_staff_write_form(browser: Visitor, staff: Staff) -> None:
    await browser.sign_in(staff.support.email, staff.password)
    listing = await browser.get("/admin/staff")
    assert listing.status_code == 200
    assert "Add a staff user" not in listing.text
    assert (await browser.get("/admin/staff/new")).status_code == 403
    response = await browser.post("/admin/staff", {"email": "x@example.org",
                                                   "password": staff.password, "role": "owner"})
    assert response.status_code == 403
    assert "Not allowed" in response.text


async def test_owner_adds_a_staff_user(browser: Visitor, staff: Staff) -> None:
    await browser.sign_in(staff.owner.email, staff.password)
    await browser.get("/admin/staff/new")
    weak = await browser.post("/admin/staff", {"email": "new@example.org", "password": "short",
                                               "role": "support"})
    assert weak.status_code == 400
    assert f"at least {limits.staff_password_chars_min} characters" in weak.text
    created = await browser.post("/admin/staff", {"email": "new@example.org",
                                                  "password": staff.password, "role": "support"})
    assert created.status_code == 303
    listing = await browser.get(created.headers["location"])
    assert "new@example.org" in listing.text
    assert "The staff user was created." in listing.text


async def test_idle_session_sends_back_to_sign_in(browser: Visitor, clock: ManualClock,
                                                  staff: Staff) -> None:
    await browser.sign_in(staff.owner.email, staff.password)
    clock.advance(seconds=limits.staff_session_idle_s)
    response = await browser.get("/admin/")
    assert response.status_code == 303
    assert "notice=session_ended" in response.headers["location"]
    page = await browser.get(response.headers["location"])
    assert "Your session has ended" in page.text


async def test_sign_out_ends_the_session(browser: Visitor, staff: Staff) -> None:
    await browser.sign_in(staff.owner.email, staff.password)
    response = await browser.post("/admin/sign-out", {})
    assert response.status_code == 303
    assert (await browser.get("/admin/")).status_code == 303


async def test_two_step_sign_in_over_http(browser: Visitor, clock: ManualClock,
                                          staff: Staff) -> None:
    await browser.sign_in(staff.owner.email, staff.password)
    await browser.get("/admin/account/two-step")
    await browser.post("/admin/account/two-step/start", {})
    page = await browser.get("/admin/account/two-step")
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page.text)
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1))
    uri = re.search(r'<code id="totp-uri">([^<]+)</code>', page.text)
    assert uri is not None
    assert uri.group(1).startswith("otpauth://totp/")
    qr = re.search(r'<img id="totp-qr" class="qr" src="([^"]+)"', page.text)
    assert qr is not None  # the QR code of that very address, as the phone's camera reads it
    expected = segno.make(html.unescape(uri.group(1)), error="m").svg_data_uri(
        scale=5, border=4, light="#fff")
    assert html.unescape(qr.group(1)) == expected
    confirmed = await browser.post("/admin/account/two-step/confirm",
                                   {"code": totp.at(clock.now())})
    assert confirmed.status_code == 303
    await browser.post("/admin/sign-out", {})

    clock.advance(seconds=30)
    response = await browser.sign_in(staff.owner.email, staff.password)
    assert response.headers["location"] == "/admin/sign-in/code"
    not_yet = await browser.get("/admin/")
    assert not_yet.headers["location"] == "/admin/sign-in/code"
    await browser.get("/admin/sign-in/code")
    wrong = await browser.post("/admin/sign-in/code", {"code": "12345x"})
    assert wrong.status_code == 401
    done = await browser.post("/admin/sign-in/code", {"code": totp.at(clock.now())})
    assert done.status_code == 303
    assert (await browser.get("/admin/")).status_code == 200


async def test_going_back_from_the_code_step_to_the_password_form_works(
        browser: Visitor, clock: ManualClock, staff: Staff) -> None:
    await browser.sign_in(staff.owner.email, staff.password)
    await browser.post("/admin/account/two-step/start", {})
    page = await browser.get("/admin/account/two-step")
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page.text)
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1))
    await browser.post("/admin/account/two-step/confirm", {"code": totp.at(clock.now())})
    await browser.post("/admin/sign-out", {})
    clock.advance(seconds=30)

    first = await browser.sign_in(staff.owner.email, staff.password)
    assert first.headers["location"] == "/admin/sign-in/code"
    again = await browser.sign_in(staff.owner.email, staff.password)  # the form, once more
    assert again.headers["location"] == "/admin/sign-in/code"


async def test_sign_in_never_redirects_off_the_dashboard(browser: Visitor,
                                                         staff: Staff) -> None:
    for target in ("//elsewhere.example/", "https://elsewhere.example/", "/v1/members",
                   "/admin/../v1", "/admin/%2e%2e/v1", "/admin//elsewhere.example",
                   "/\\elsewhere.example"):
        response = await browser.sign_in(staff.owner.email, staff.password, next=target)
        assert response.headers["location"] == "/admin/", target
        await browser.post("/admin/sign-out", {})
    response = await browser.sign_in(staff.owner.email, staff.password,
                                     next="/admin/audit?before=x")
    assert response.headers["location"] == "/admin/audit?before=x"


async def test_pages_carry_security_headers(browser: Visitor, staff: Staff) -> None:
    await browser.sign_in(staff.owner.email, staff.password)
    for path in ("/admin/", "/admin/sign-in", "/admin/staff/new", "/admin/nope"):
        response = await browser.client.get(path)
        if response.status_code == 404:
            continue  # FastAPI's own 404 for unknown paths
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"


async def test_bundled_assets_are_served(browser: Visitor) -> None:
    for path in ("/static/jeton/admin.css", "/static/jeton/charts.js",
                 "/static/vendor/htmx.min.js", "/static/vendor/chart.umd.min.js"):
        response = await browser.client.get(path)
        assert response.status_code == 200, path
        assert len(response.content) > 100


async def test_every_page_renders_for_every_role(browser: Visitor, staff: Staff) -> None:
    for user in (staff.owner, staff.moderator, staff.support):
        await browser.sign_in(user.email, staff.password)
        for path in ("/admin/", "/admin/staff", "/admin/audit", "/admin/account/two-step"):
            response = await browser.get(path)
            assert response.status_code == 200, (user.role, path)
            assert "<main" in response.text
        await browser.post("/admin/sign-out", {})
