"""The operator's area page in Chromium: the support account bound to a lease signs in, lands
on its area (the report: uses, credits earned, top members), sets a service's price within the
bounds, is told when a price is out of them, and finds no way to the community's other pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import jeton

from .conftest import Dashboard, Shoot
from .test_dashboard_browser import fill_sign_in

pytestmark = pytest.mark.browser

LIBRARY = """
[services."files.lib42.download"]
name = "Download from library 42"
credits = 10

[services."chat.message"]
name = "Chat message"
credits = 1
"""


def test_the_operator_reads_its_area_and_prices_a_service(
        dashboard: Dashboard, page: Page, shoot: Shoot) -> None:
    j = jeton.Jeton(dashboard.store, clock=dashboard.clock)
    chat = j.community("chat")
    for member in ("olga", "ann"):
        chat.create_member(member)
    chat.grant("ann", 50, idempotency_key="g")
    chat.load_catalog(LIBRARY)
    lease = chat.create_lease("files.lib42.", "olga", share_bp=2000, price_min=1,
                              price_max=30, idempotency_key="lease")
    chat.bind_lease_staff(lease.id, email=dashboard.support.email, actor=dashboard.owner)
    chat.charge("ann", "files.lib42.download", idempotency_key="d1")

    page.goto(dashboard.url("/admin/"))
    fill_sign_in(page, dashboard.support.email, dashboard.password)
    expect(page.get_by_role("heading", name="Area files.lib42.")).to_be_visible()
    nav = page.get_by_role("navigation", name="Dashboard")
    expect(nav.get_by_role("link")).to_have_text(["My area"])
    expect(page.locator('[data-figure="uses"]')).to_have_text("1")
    expect(page.locator('[data-figure="earned"]')).to_have_text("2")
    expect(page.get_by_role("table", name="Top members")).to_contain_text("ann")
    shoot(page, "area")

    page.get_by_label("Service code").fill("files.lib42.download")
    page.get_by_label("Credits per use (1 to 30)").fill("45")
    page.get_by_role("button", name="Save the price").click()
    expect(page.get_by_role("alert")).to_contain_text("1-30")
    shoot(page, "area-out-of-bounds")
    page.get_by_label("Credits per use (1 to 30)").fill("12")
    page.get_by_role("button", name="Save the price").click()
    expect(page.get_by_role("status")).to_have_text(
        "The service was saved: its price applies from the next charge.")
    expect(page.get_by_role("table", name="Services and their prices")).to_contain_text("12")
    assert {s.code: s.credits for s in chat.catalog().services}["files.lib42.download"] == 12

    page.goto(dashboard.url("/admin/members"))
    expect(page.get_by_role("heading", name="Area files.lib42.")).to_be_visible()
    shoot(page, "area-only")
    j.close()
