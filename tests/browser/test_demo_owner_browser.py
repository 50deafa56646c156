"""The owner runs the demo community from the dashboard (issue 14), in Chromium, and every
figure a page shows is checked against what the API answers for the same thing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import Shoot
from .demo_site import DemoSite, demo_site
from .test_owner_pages_browser import DESKTOP, fits_the_width

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DemoSite]:
    with demo_site(tmp_path) as served:
        yield served


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Dashboard sections").get_by_role(
        "link", name=name, exact=True).click()


def test_subscriptions_and_holds_across_members_match_the_api(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    demo = site.community
    call = demo.hold("dave", 30, idempotency_key="t-call", service="video.minute")
    page.set_viewport_size(DESKTOP)
    site.sign_in(page)

    nav(page, "Subscriptions")
    expect(page.get_by_role("heading", name="Subscriptions", exact=True)).to_be_visible()
    listed = site.api.get("/subscriptions").json()["data"]
    assert listed, "the demo has subscribers"
    rows = page.locator("tbody tr[data-subscription]")
    expect(rows).to_have_count(min(len(listed), 25))
    for sub in listed[:5]:
        row = page.locator(f'tr[data-subscription="{sub["id"]}"]')
        expect(row).to_contain_text(sub["member_id"])
        expect(row).to_contain_text(sub["status"].replace("_", " "))
        if sub["current_period_end"]:
            expect(row).to_contain_text(sub["current_period_end"][:10])
        expect(row).to_contain_text("$12.00")  # the demo plan's price
    assert fits_the_width(page)
    shoot(page, "subscriptions")

    first = listed[0]
    page.get_by_label("Member or plan").fill(first["member_id"])
    page.get_by_role("button", name="Search").click()
    row = page.locator(f'tr[data-subscription="{first["id"]}"]')
    expect(row).to_be_visible()
    row.get_by_role("link", name=first["member_id"]).click()
    expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible()
    assert page.url.endswith(f"/admin/members/{first['member_id']}#subs-heading")

    page.goto(site.url("/admin/transfers"))
    page.get_by_role("link", name="holds in flight").click()
    expect(page.get_by_role("heading", name="Holds in flight")).to_be_visible()
    api_hold = site.api.get(f"/holds/{call.id}").json()
    row = page.locator(f'tr[data-hold="{call.id}"]')
    expect(row).to_contain_text("video.minute")
    held = api_hold["amount"] - api_hold["captured"] - api_hold["voided"]
    expect(row.locator("[data-held]")).to_have_text(str(held))
    balance = site.api.get("/members/dave/balance").json()
    assert balance["pending"] >= held
    assert fits_the_width(page)
    shoot(page, "holds")
    row.get_by_role("link", name="dave").click()
    expect(page.locator('[data-figure="pending"]')).to_have_text(str(balance["pending"]))
