"""The owner runs the business from the dashboard (issue 14), in Chromium: money per day in
bars and major units, the home's figures, lists across members, and the transfer detail."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect

import jeton

from .conftest import Dashboard, Shoot
from .test_owner_pages_browser import DESKTOP, fits_the_width, seed, sign_in

pytestmark = pytest.mark.browser


def buy(chat: jeton.Community, pack_id: str, member: str, key: str) -> str:
    checkout = chat.buy_pack(member, pack_id, provider="offline", idempotency_key=key,
                             success_url="https://chat.example/ok",
                             cancel_url="https://chat.example/no")
    chat.record_offline_payment(checkout.purchase_id, reference=key)
    return checkout.purchase_id


def test_money_is_drawn_per_day_in_bars_with_a_revenue_total(
        dashboard: Dashboard, page: Page, shoot: Shoot) -> None:
    chat = seed(dashboard).community("chat")
    for n, member in enumerate(("alice", "bob", "alice", "bob")):
        buy(chat, "p50", member, f"buy-{n}")  # four purchases on one day: one bar
    page.set_viewport_size(DESKTOP)
    sign_in(page, dashboard, dashboard.owner.email, totp=True)
    page.goto(dashboard.url("/admin/reports"))
    expect(page.get_by_text("Revenue (USD, net of refunds)")).to_be_visible()
    expect(page.locator(".figure", has_text="Revenue (USD")).to_contain_text("$60.00")
    canvas = page.locator('canvas[data-chart="chart-money_per_day"]')
    expect(canvas).to_be_visible()
    drawn = page.evaluate(
        "(() => { const c = window.Chart.getChart("
        "document.querySelector('canvas[data-chart=\"chart-money_per_day\"]'));"
        " return {type: c.config.type, labels: c.data.labels,"
        " values: c.data.datasets[0].data}; })()")
    assert drawn["type"] == "bar"
    assert len(drawn["labels"]) == 30  # one bar per day, not per purchase
    assert max(drawn["values"]) == 60.0  # dollars, not 6,000 cents
    today = dashboard.clock.now().date().isoformat()
    table = page.locator("#report-money_per_day")
    table.get_by_text("Show as a table").click()
    expect(table.get_by_role("row", name=f"{today} USD $60.00")).to_be_visible()
    expect(table.get_by_text("no activity")).to_be_visible()
    assert fits_the_width(page)
    shoot(page, "reports-money")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV of Money taken per day").click()
    rows = list(csv.reader(io.StringIO(info.value.path().read_text(encoding="utf-8"))))
    assert rows[0] == ["day", "currency", "taken", "refunded", "net", "purchases"]
    assert len(rows) == 1 + 30  # every day, empty ones too
    assert rows[-1] == [today, "USD", "60.00", "0.00", "60.00", "4"]
