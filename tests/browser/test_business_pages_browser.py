"""The owner runs the business from the dashboard (issue 14), in Chromium: money per day in
bars and major units, the home's figures, lists across members, and the transfer detail."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

import jeton
from api.conftest import run_live_server
from conftest import make_sqlite_store
from jeton.services.access.staff import bootstrap_owner

from .conftest import Dashboard, Shoot, wait_until_true
from .test_owner_pages_browser import CATALOG, DESKTOP, fits_the_width, seed, sign_in

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
    # Chart.js is a deferred script: the canvas shows before it has drawn into it.
    wait_until_true(
        page, "typeof window.Chart === 'function' && window.Chart.getChart("
        "document.querySelector('canvas[data-chart=\"chart-money_per_day\"]')) !== undefined")
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


def test_home_figures_match_the_api_and_lead_to_transfers(tmp_path: Path, page: Page,
                                                          shoot: Shoot) -> None:
    store = make_sqlite_store(tmp_path / "jeton.db")
    try:
        with run_live_server(store, include_web=True) as server:
            local = server.community
            local.load_catalog(CATALOG)
            for member in ("alice", "bob"):
                local.create_member(member)
            pack = local.create_pack("Twenty", credits=20, price_minor=6000, currency="USD")
            buy(local, pack.id, "alice", "a1")
            local.charge("alice", "files.download", quantity=3000, idempotency_key="dl",
                         context={"uploader": "bob"})
            local.transfer("alice", "bob", 2, idempotency_key="gift")
            password = "correct horse battery"
            bootstrap_owner(store, server.jeton.clock, server.community_id, "owner@example.org",
                            password)
            api = httpx.get(f"{server.base_url}/v1/reports/overview",
                            headers={"Authorization": f"Bearer {server.api_key}"}).json()

            page.set_viewport_size(DESKTOP)
            page.goto(server.base_url + "/admin/sign-in")
            page.get_by_label("Email").fill("owner@example.org")
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="The business")).to_be_visible()

            def shown(key: str) -> str:
                return " ".join(page.locator(f'[data-figure="{key}"] dd').first
                                .inner_text().split())

            assert shown("money_today") == f"${api['money_today'][0]['amount']}"
            assert shown("money_days") == f"${api['money_days'][0]['amount']}"
            for key in ("credits_sold", "credits_consumed", "credits_expired", "float_credits",
                        "members_active", "subscriptions_active", "declines",
                        "recharges_failed"):
                assert shown(key) == f"{api[key]} CREDIT" or shown(key) == str(api[key]), key
            assert shown("float_money") == f"${api['float_money'][0]['amount']}"
            assert fits_the_width(page)
            shoot(page, "home-business")

            page.locator('[data-figure="money_days"]').get_by_role("link").click()
            expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()

            page.get_by_role("navigation", name="Dashboard sections").get_by_role(
                "link", name="Purchases").click()
            expect(page.get_by_role("row", name="alice Twenty completed")).to_be_visible()
            page.get_by_role("navigation", name="Dashboard sections").get_by_role(
                "link", name="Transfers").click()
            page.get_by_label("Member, service or memo").fill("bob")
            page.get_by_label("Kind").select_option("transfer")
            page.get_by_role("button", name="Search").click()
            row = page.get_by_role("row", name="alice → bob")
            expect(row).to_be_visible()
            row.get_by_role("link", name="Postings and lots").click()
            expect(page.get_by_role("heading", name="Transfer of 2 CREDIT")).to_be_visible()
            expect(page.get_by_role("row", name="wallet bob +2")).to_be_visible()
            assert fits_the_width(page)
            shoot(page, "transfer-detail")
            page.get_by_role("link", name="bob").first.click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("bob")
    finally:
        store.dispose()


def test_the_api_docs_show_realistic_examples(tmp_path: Path, page: Page,
                                              shoot: Shoot) -> None:
    store = make_sqlite_store(tmp_path / "jeton.db")
    try:
        with run_live_server(store) as server:
            page.set_viewport_size(DESKTOP)
            page.goto(server.base_url + "/docs")
            charge = page.locator(".opblock-post", has_text="/v1/charges").filter(
                has_not_text="/v1/charges/").first
            # Swagger UI builds the page from a large bundle; on a loaded machine that takes
            # longer than one click's usual wait.
            expect(charge).to_be_visible(timeout=30_000)
            charge.locator(".opblock-summary").click()
            example = charge.locator(".body-param__example, .highlight-code").first
            # The opened operation renders its example with the same bundle: the same wait.
            expect(example).to_contain_text('"service": "files.download"', timeout=30_000)
            expect(example).to_contain_text('"uploader": "bob"', timeout=30_000)
            shoot(page, "api-docs-charge-example")
    finally:
        store.dispose()
