"""A member of the demo community on their own pages (issue 14), in Chromium: the statement
downloaded as CSV, the receipts, the credits lot by lot, and subscribing with a saved card after
a review of the amount; every figure shown is checked against what the API answers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from jeton.payments.offline import DEMO_METHOD_OK
from jeton.services.ledger.state import wallet_id

from .conftest import Shoot
from .demo_site import DemoSite, demo_site

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DemoSite]:
    with demo_site(tmp_path) as served:
        yield served


def api_statement(site: DemoSite, member: str) -> list[dict[str, Any]]:
    """Every line of the member's statement through the API, newest first, page after page."""
    lines: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        page = site.api.get(f"/members/{member}/statement", params=params).json()
        lines.extend(page["data"])
        if not page["has_more"]:
            return lines
        params["starting_after"] = page["next_cursor"]


def day_of(stamp: str) -> str:
    return datetime.fromisoformat(stamp).date().isoformat()


def test_the_statement_downloaded_as_csv_has_the_apis_lines(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    site.open_member_pages(page, "alice")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename == "statement-CREDIT.csv"
    rows = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert rows[0] == ["date", "what", "amount", "balance_after", "reference"]
    lines = api_statement(site, "alice")
    assert len(lines) > 5, "the demo gives alice a history"
    assert len(rows) - 1 == len(lines)
    for row, line in zip(rows[1:], lines, strict=True):
        assert row[4] == line["transfer_id"]
        assert datetime.fromisoformat(row[0]) == datetime.fromisoformat(line["effective_at"])
        assert int(row[2]) == line["amount"]  # the demo's CREDIT has no decimals
        assert row[3] == ("" if line["balance_after"] is None else str(line["balance_after"]))
        assert row[1]  # in words
    assert "mall.collectors_badge" not in "".join(row[1] for row in rows)
    shoot(page, "statement-downloaded")


def test_each_receipt_in_the_list_opens_with_the_apis_amount(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    # A purchase too, so that a receipt shows money paid.
    site.api.post("/members/alice/payment_method", json={
        "provider": "demo", "customer_id": "cus_alice", "payment_method_id": DEMO_METHOD_OK})
    site.community.subscribe("alice", "plan-monthly", idempotency_key="t-alice-plan")
    site.open_member_pages(page, "alice")
    page.get_by_role("link", name="Receipts").click()
    expect(page.get_by_role("heading", name="Your receipts")).to_be_visible()
    links = page.locator("#receipts tbody tr").get_by_role("link", name="Receipt")
    count = links.count()
    assert count >= 3
    hrefs = [links.nth(n).get_attribute("href") or "" for n in range(count)]
    shoot(page, "receipts")
    wallet = wallet_id("alice", "CREDIT")
    paid_seen = False
    for href in hrefs:
        transfer_id = href.rsplit("/", 1)[1]
        page.goto(site.url(href))
        expect(page.get_by_role("heading", name="Receipt", exact=True)).to_be_visible()
        receipt = site.api.get(f"/transfers/{transfer_id}/receipt").json()
        facts = receipt["data"]
        mine = sum(p["amount"] for p in facts["postings"] if p["account_id"] == wallet)
        expect(page.locator('[data-field="amount"]')).to_have_text(
            f"+{mine}" if mine > 0 else str(mine))
        expect(page.locator('[data-field="receipt_for"]')).to_have_text(facts["receipt_for"])
        if facts.get("purchase"):
            purchase = facts["purchase"]
            assert purchase["currency"] == "USD"
            expect(page.locator('[data-field="paid"]')).to_have_text(
                f"${purchase['amount_minor'] / 100:.2f}")
            paid_seen = True
    assert paid_seen, "the plan's first payment is among the receipts"
    shoot(page, "receipt")


def test_credits_received_by_transfer_name_the_sender_and_expiry_of_the_apis_lots(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    expires = (datetime.fromisoformat(site.api.get("/reports/overview").json()["today"])
               + timedelta(days=9, hours=12)).isoformat() + "+00:00"
    # Bob gets credits that expire before any of his others, so they are the ones he sends.
    site.api.post("/grants", headers={"Idempotency-Key": "t-bob-soon"},
                  json={"member": "bob", "amount": 7, "expires_at": expires, "priority": 100})
    sent = site.api.post("/transfers", headers={"Idempotency-Key": "t-bob-dave"},
                         json={"from_member": "bob", "to_member": "dave", "amount": 7})
    assert sent.status_code == 201, sent.text
    dave_wallet = wallet_id("dave", "CREDIT")
    received = [m["lot_id"] for m in sent.json()["lots"]
                if m["account_id"] == dave_wallet and m["amount"] > 0]
    assert received
    bob = site.api.get("/members/bob").json()
    lots = {lot["id"]: lot for lot in site.api.get("/members/dave/lots").json()["data"]}

    site.open_member_pages(page, "dave")
    page.get_by_role("link", name="Your credits by lot").click()
    expect(page.get_by_role("heading", name="Your credits by lot")).to_be_visible()
    for lot_id in received:
        lot = lots[lot_id]
        assert lot["source"] == "transfer"
        row = page.locator(f'#lots tr[data-lot="{lot_id}"]')
        expect(row.locator('[data-field="from"]')).to_have_text(f"Sent by {bob['name']}")
        expect(row).to_contain_text(f"{lot['remaining']} of {lot['amount']}")
        assert lot["expires_at"] is not None
        expect(row.locator('[data-field="expires"]')).to_contain_text(day_of(lot["expires_at"]))
    # Every lot the API lists with credits left is on the page, once.
    live = [lot_id for lot_id, lot in lots.items() if lot["remaining"] > 0]
    expect(page.locator("#lots tbody tr")).to_have_count(len(live))
    shoot(page, "credits-by-lot")


def test_subscribing_with_a_saved_card_shows_the_amount_before_charging(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    site.api.post("/members/dave/payment_method", json={
        "provider": "demo", "customer_id": "cus_dave", "payment_method_id": DEMO_METHOD_OK})
    plan = next(p for p in site.api.get("/plans").json()["data"] if p["id"] == "plan-monthly")
    price = f"${plan['price_minor'] / 100:.2f}"
    purchases_before = site.api.get("/purchases", params={"member": "dave"}).json()["data"]
    balance_before = site.api.get("/members/dave/balance").json()

    site.open_member_pages(page, "dave")
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Plans").click()
    page.get_by_role("button", name=f"Subscribe to {plan['name']}").click()
    expect(page.get_by_role("heading", name="Check and confirm")).to_be_visible()
    review = page.locator("#review")
    expect(review.locator('[data-field="plan"]')).to_have_text(plan["name"])
    expect(review.locator('[data-field="amount"]')).to_have_text(
        f"{price} ({plan['currency']})")
    expect(review.locator('[data-field="card"]')).to_have_text("Your card saved at demo")
    expect(review.locator('[data-field="renews"]')).to_contain_text(
        f"Every month: {price} charged to the same card")
    renews = review.locator('[data-field="renews"]').inner_text()
    shoot(page, "subscribe-review")
    # The review charged nothing.
    assert site.api.get("/purchases", params={"member": "dave"}).json()["data"] == \
        purchases_before
    assert not [s for s in site.api.get("/subscriptions").json()["data"]
                if s["member_id"] == "dave"]

    page.get_by_role("button", name=f"Confirm: pay {price}").dblclick()
    expect(page.get_by_role("status")).to_contain_text("You are subscribed.")
    [sub] = [s for s in site.api.get("/subscriptions").json()["data"]
             if s["member_id"] == "dave"]
    assert sub["status"] == "active"
    # The next charge the review announced is when the API's current period ends.
    assert f"next on {day_of(sub['current_period_end'])}, until you cancel" in renews
    after = site.api.get("/purchases", params={"member": "dave"}).json()["data"]
    assert len(after) == len(purchases_before) + 1  # once, despite the double click
    assert (after[0]["status"], after[0]["amount_minor"], after[0]["currency"]) == (
        "completed", plan["price_minor"], plan["currency"])
    balance = site.api.get("/members/dave/balance").json()
    assert balance["available"] == balance_before["available"] + plan["credits"]
    shoot(page, "subscribed")

