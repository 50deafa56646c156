"""The owner's pages in Chromium: members and hand-posted credits with their review step, role
refusals, reports with charts and CSV, and every section at desktop and phone width."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, ViewportSize, expect

import jeton
from jeton.services.access.staff import StaffRole, create_staff_user

from .conftest import Dashboard, Shoot, wait_until_true

pytestmark = pytest.mark.browser
PHONE = ViewportSize(width=375, height=740)
DESKTOP = ViewportSize(width=1280, height=860)
CATALOG = """
[services."chat.message"]
name = "Chat message"
credits = 1
allowance = { uses = 5, per = "session" }

[services."files.download"]
name = "File download"
kind = "per_unit"
credits = 1
unit_size = 1024
unit = "byte"
splits = [{ to = "party:uploader", share_bp = 3000 }]

[services."video.minute"]
name = "Video, per minute"
kind = "per_unit"
credits = 20
unit = "minute"
class_credits = { vip = 10 }
money = { currency = "USD", amount_minor = 25 }
"""


def seed(dashboard: Dashboard) -> jeton.Jeton:
    """A community with members, history, offers and a catalog, as an owner would have."""
    j = jeton.Jeton(dashboard.store, clock=dashboard.clock)
    chat = j.community("chat")
    chat.load_catalog(CATALOG)
    chat.create_member("alice", name="Alice Liddell", email="alice@example.org")
    chat.create_member("bob", name="Bob Builder", email="bob@example.org")
    chat.create_member("carol", name="Carol Danvers")
    chat.grant("alice", 100, idempotency_key="alice-signup", source="signup")
    chat.grant("alice", 30, idempotency_key="alice-promo", source="promo",
               expires_at=dashboard.clock.now() + timedelta(days=10))
    chat.grant("bob", 60, idempotency_key="bob-signup", source="signup")
    chat.grant_class("alice", "vip", expires_at=dashboard.clock.now() + timedelta(days=30))
    for n in range(4):
        chat.spend("alice", 3 + n, idempotency_key=f"alice-chat-{n}", service="chat.message")
        chat.spend("bob", 5 * (n + 1), idempotency_key=f"bob-dl-{n}", service="files.download")
    chat.create_pack("50 credits", credits=50, price_minor=1500, pack_id="p50",
                     bonus_credits=5, bonus_expiry_days=30)
    chat.create_pack("120 credits", credits=120, price_minor=3000, pack_id="p120",
                     classes=[("vip", 30)])
    chat.create_plan("Monthly 100", cycle="monthly", credits=100, price_minor=999,
                     plan_id="monthly-100")
    chat.create_coupon("SPRING24", credits=25, max_redemptions=100)
    chat.set_role_limit("moderator", 50, period="day")
    return j


def sign_in(page: Page, dashboard: Dashboard, email: str, *, totp: bool = False) -> None:
    page.goto(dashboard.url("/admin/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(dashboard.password)
    page.get_by_role("button", name="Sign in").click()
    if totp:
        page.get_by_label("Code", exact=True).fill(
            dashboard.owner_totp.at(dashboard.clock.now()))
        page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()


def fits_the_width(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_owner_finds_a_member_and_grants_credits_after_a_review(
        dashboard: Dashboard, page: Page, shoot: Shoot) -> None:
    j = seed(dashboard)
    sign_in(page, dashboard, dashboard.owner.email, totp=True)

    page.get_by_role("navigation", name="Dashboard sections").get_by_role(
        "link", name="Members").click()
    page.get_by_label("Search members").fill("liddell")
    page.get_by_label("Search members").press("Enter")
    expect(page.get_by_role("link", name="alice", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="bob", exact=True)).to_have_count(0)
    shoot(page, "search")
    page.get_by_role("link", name="alice", exact=True).click()

    expect(page.get_by_role("heading", name="Alice Liddell")).to_be_visible()
    available = page.locator('[data-figure="available"]')
    expect(available).to_have_text("112")
    shoot(page, "member")

    page.get_by_role("link", name="Grant credits").click()
    page.get_by_label("Amount (CREDIT)").fill("25")
    page.get_by_label("Reason").fill("Sorry for the outage on Sunday")
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Check and confirm")).to_be_visible()
    expect(page.get_by_text("112 → 137").first).to_be_visible()
    assert j.community("chat").balance("alice").posted == 112  # nothing posted before confirming
    shoot(page, "review")

    # A double click sends the form twice; the second is a replay of the first.
    page.get_by_role("button", name="Confirm: grant 25 CREDIT").dblclick()
    expect(page.get_by_role("status")).to_have_text("The credits were granted.")
    expect(available).to_have_text("137")
    statement = page.locator("#statement")
    expect(statement.get_by_role("row").nth(1)).to_contain_text("Sorry for the outage on Sunday")
    expect(statement.get_by_role("row").nth(1)).to_contain_text("+25")
    expect(statement.get_by_role("row").nth(1)).to_contain_text(dashboard.owner.email)
    shoot(page, "granted")

    assert j.community("chat").balance("alice").posted == 137

    page.set_viewport_size(PHONE)
    page.reload()
    assert fits_the_width(page)
    shoot(page, "phone-member")


def test_a_moderator_over_the_limit_is_refused_clearly(dashboard: Dashboard, page: Page,
                                                       shoot: Shoot) -> None:
    seed(dashboard)
    create_staff_user(dashboard.store, dashboard.clock, dashboard.owner,
                      email="mod@example.org", password=dashboard.password,
                      role=StaffRole.moderator, name="Maud Moderator")
    sign_in(page, dashboard, "mod@example.org")
    page.goto(dashboard.url("/admin/members/bob"))
    page.get_by_role("link", name="Grant credits").click()
    expect(page.get_by_text("may post up to 50 CREDIT per day")).to_be_visible()
    page.get_by_label("Amount (CREDIT)").fill("80")
    page.get_by_label("Reason").fill("Welcome to the room")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Confirm: grant 80 CREDIT").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not posted.")
    expect(alert).to_contain_text("Over the moderator limit of 50 CREDIT per day: 50 left")
    expect(page.get_by_role("button", name="Confirm: grant 80 CREDIT")).to_have_count(0)
    shoot(page, "refused")

    page.get_by_role("button", name="Change").click()
    page.get_by_label("Amount (CREDIT)").fill("40")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Confirm: grant 40 CREDIT").click()
    expect(page.get_by_role("status")).to_have_text("The credits were granted.")
    shoot(page, "within-the-limit")


def test_support_reads_but_cannot_write(dashboard: Dashboard, page: Page, shoot: Shoot) -> None:
    seed(dashboard)
    sign_in(page, dashboard, dashboard.support.email)
    nav = page.get_by_role("navigation", name="Dashboard sections")
    expect(nav.get_by_role("link", name="Webhooks")).to_have_count(0)
    expect(nav.get_by_role("link", name="API keys")).to_have_count(0)
    page.goto(dashboard.url("/admin/members/alice"))
    expect(page.get_by_role("heading", name="Alice Liddell")).to_be_visible()
    expect(page.get_by_role("link", name="Grant credits")).to_have_count(0)
    page.goto(dashboard.url("/admin/packs"))
    expect(page.get_by_role("link", name="New pack")).to_have_count(0)
    response = page.goto(dashboard.url("/admin/members/alice/credits?kind=grant"))
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shoot(page, "forbidden")


def test_reports_draw_charts_and_download_csv(dashboard: Dashboard, page: Page,
                                              shoot: Shoot) -> None:
    seed(dashboard)
    sign_in(page, dashboard, dashboard.owner.email, totp=True)
    page.get_by_role("navigation", name="Dashboard sections").get_by_role(
        "link", name="Reports").click()
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    charts = page.locator("canvas[data-chart]")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 3
    # The canvases show as soon as the page is parsed; Chart.js and the page's script are
    # deferred, so wait (up to the usual timeout) until Chart.js has drawn into every canvas.
    wait_until_true(
        page, "typeof window.Chart === 'function' && "
        "[...document.querySelectorAll('canvas[data-chart]')]"
        ".every(c => window.Chart.getChart(c) !== undefined)")
    shoot(page, "reports")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV of Credits consumed by service").click()
    download = info.value
    assert download.suggested_filename.startswith("chat-consumed_by_service-")
    path = download.path()
    content = path.read_text(encoding="utf-8")
    assert content.splitlines()[0] == "service,credits,charges"
    assert "files.download,50,4" in content

    page.get_by_label("From").fill("2020-02-01")
    page.get_by_label("To (included)").fill("2020-01-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_text("The first day must not be after the last day.")).to_be_visible()

    page.set_viewport_size(PHONE)
    page.goto(dashboard.url("/admin/reports"))
    expect(charts.first).to_be_visible()
    assert fits_the_width(page)
    shoot(page, "phone-reports")


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_section_renders_and_fits(dashboard: Dashboard, page: Page, shoot: Shoot,
                                        width: str) -> None:
    seed(dashboard)
    j = jeton.Jeton(dashboard.store, clock=dashboard.clock)
    chat = j.community("chat")
    endpoint = chat.create_webhook_endpoint("https://93.184.216.34/jeton/hooks",
                                            event_types=["balance.low", "charge.declined"],
                                            description="Forum backend")
    page.set_viewport_size(PHONE if width == "phone" else DESKTOP)
    sign_in(page, dashboard, dashboard.owner.email, totp=True)
    for path, name in (("/admin/members", "members"), ("/admin/catalog", "catalog"),
                       ("/admin/catalog/services/video.minute/edit", "service-form"),
                       ("/admin/packs", "packs"), ("/admin/packs/new?copy=p50", "pack-form"),
                       ("/admin/plans", "plans"), ("/admin/coupons", "coupons"),
                       ("/admin/coupons/new", "coupon-form"),
                       ("/admin/webhooks", "webhooks"), ("/admin/webhooks/new", "webhook-form"),
                       (f"/admin/webhooks/{endpoint.id}", "endpoint"),
                       ("/admin/api-keys", "api-keys"), ("/admin/api-keys/new", "api-key-form"),
                       ("/admin/members/alice/credits?kind=charge", "charge-form")):
        response = page.goto(dashboard.url(path))
        assert response is not None
        assert response.status == 200, path
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        shoot(page, f"{width}-{name}")
        assert fits_the_width(page), path


def test_owner_creates_a_pack_and_an_api_key_with_the_keyboard(
        dashboard: Dashboard, page: Page, shoot: Shoot) -> None:
    seed(dashboard)
    sign_in(page, dashboard, dashboard.owner.email, totp=True)
    page.goto(dashboard.url("/admin/packs/new"))
    page.get_by_label("Name").fill("200 credits")
    page.get_by_label("Credits (CREDIT)").fill("200")
    page.get_by_label("Price", exact=True).fill("45.00")
    page.get_by_label("Price", exact=True).press("Enter")
    expect(page.get_by_role("status")).to_have_text("The pack is on sale.")
    expect(page.get_by_role("button", name="Retire 200 credits")).to_be_visible()

    page.goto(dashboard.url("/admin/api-keys/new"))
    page.get_by_label("Name").fill("forum backend")
    page.get_by_label("members:read").check()
    page.get_by_role("button", name="Create API key").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Copy the token now: it is shown only this once.")).to_be_visible()
    expect(page.locator("#api-token")).to_contain_text("jtk_live_")
    shoot(page, "api-key-created")
