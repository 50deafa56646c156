"""The dashboard in Chromium: signing in with TOTP, refusals, roles, phone width, keyboard."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from playwright.sync_api import Page, expect

from .conftest import Dashboard, Shoot, wait_until_true

pytestmark = pytest.mark.browser


def fill_sign_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_owner_signs_in_with_totp_and_support_cannot_manage_staff(
        dashboard: Dashboard, page: Page, shoot: Shoot) -> None:
    page.goto(dashboard.url("/admin/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Community")).to_have_value("chat")
    shoot(page, "sign-in")

    # A wrong password is refused, and says nothing about which part was wrong.
    fill_sign_in(page, dashboard.owner.email, "not the password")
    expect(page.get_by_role("alert")).to_have_text("The email or password is not right.")
    expect(page.get_by_label("Email")).to_have_value(dashboard.owner.email)
    shoot(page, "wrong-password")

    # The right password leads to the code step; the code comes from the owner's app.
    fill_sign_in(page, dashboard.owner.email, dashboard.password)
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    shoot(page, "code")
    page.get_by_label("Code", exact=True).fill(dashboard.owner_totp.at(dashboard.clock.now()))
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    nav = page.get_by_role("navigation", name="Dashboard sections")
    expect(nav.get_by_role("link", name="Home")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Staff")).to_be_visible()
    # The home shows the business (the staff activity chart gave way to it: decision 0051).
    expect(page.get_by_role("heading", name="The business")).to_be_visible()
    expect(page.locator('[data-figure="money_days"]')).to_contain_text("Money taken")
    shoot(page, "dashboard")

    nav.get_by_role("link", name="Staff").click()
    expect(page.get_by_role("heading", name="Staff")).to_be_visible()
    expect(page.get_by_role("link", name="Add a staff user")).to_be_visible()
    shoot(page, "staff")

    nav.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("cell", name="staff.signed_in").first).to_be_visible()
    shoot(page, "audit")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")

    # Support signs in (no TOTP) and reads, but the staff form is refused.
    fill_sign_in(page, dashboard.support.email, dashboard.password)
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    page.get_by_role("navigation", name="Dashboard sections").get_by_role(
        "link", name="Staff").click()
    expect(page.get_by_role("link", name="Add a staff user")).to_have_count(0)
    response = page.goto(dashboard.url("/admin/staff/new"))
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shoot(page, "support-forbidden")


def test_owner_adds_a_staff_user_with_the_keyboard(dashboard: Dashboard, page: Page,
                                                   shoot: Shoot) -> None:
    page.goto(dashboard.url("/admin/sign-in"))
    # The first Tab reaches the skip link, which is shown when focused.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    fill_sign_in(page, dashboard.owner.email, dashboard.password)
    page.get_by_label("Code", exact=True).fill(dashboard.owner_totp.at(dashboard.clock.now()))
    page.get_by_label("Code", exact=True).press("Enter")
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()

    page.goto(dashboard.url("/admin/staff/new"))
    page.get_by_label("Email").fill("mod@example.org")
    page.get_by_label("Name").fill("Maud Moderator")
    page.get_by_label("First password").fill("short")
    page.get_by_label("Moderator: reads, and posts credits within the role's limit").check()
    page.get_by_role("button", name="Add staff user").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("First password")).to_have_attribute("aria-invalid", "true")
    shoot(page, "weak-password")

    page.get_by_label("First password").fill("a much longer password")
    page.get_by_label("First password").press("Enter")
    expect(page.get_by_role("status")).to_have_text("The staff user was created.")
    expect(page.get_by_role("cell", name="mod@example.org", exact=True)).to_be_visible()
    shoot(page, "staff-created")


def test_pages_fit_a_phone(dashboard: Dashboard, page: Page, shoot: Shoot) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(dashboard.url("/admin/sign-in"))
    shoot(page, "phone-sign-in")
    fill_sign_in(page, dashboard.support.email, dashboard.password)
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    for path, name in (("/admin/", "home"), ("/admin/staff", "staff"),
                       ("/admin/audit", "audit"), ("/admin/account/two-step", "two-step")):
        page.goto(dashboard.url(path))
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        shoot(page, f"phone-{name}")


def test_a_staff_user_turns_on_two_step_sign_in(dashboard: Dashboard, page: Page,
                                               shoot: Shoot) -> None:
    page.goto(dashboard.url("/admin/sign-in"))
    fill_sign_in(page, dashboard.support.email, dashboard.password)
    page.get_by_role("link", name="Set up two-step sign-in").click()
    page.get_by_role("button", name="Start setup").click()
    secret = page.locator("#totp-secret").inner_text()
    expect(page.locator("#totp-uri")).to_contain_text("otpauth://totp/")
    expect(page.locator("#totp-qr")).to_be_visible()
    # drawn: the page's content security policy lets the inline SVG through
    wait_until_true(page, "document.getElementById('totp-qr').naturalWidth > 100")
    shoot(page, "enrollment")

    totp = pyotp.TOTP(secret)
    now = dashboard.clock.now()
    near = {totp.at(now + timedelta(seconds=s)) for s in (-30, 0, 30)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in near)

    page.get_by_label("Code from the app").fill(wrong)
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    shoot(page, "wrong-code")
    page.get_by_label("Code from the app").fill(totp.at(now))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("status")).to_contain_text("Two-step sign-in is on")
    shoot(page, "enabled")
