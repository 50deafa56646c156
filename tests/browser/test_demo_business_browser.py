"""The owner reads the demo community's business in Chromium (issue 14): the home's figures,
the lists across members (purchases, transfers, declined charges) and a transfer's postings and
lots; every figure a page shows is checked against what the API answers for the same thing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from jeton.services.ledger.state import wallet_id

from .conftest import Shoot
from .demo_site import DemoSite, demo_site
from .test_owner_pages_browser import DESKTOP, fits_the_width

pytestmark = pytest.mark.browser
PAGE_ROWS = 25  # the dashboard lists' page size


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DemoSite]:
    with demo_site(tmp_path) as served:
        yield served


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Dashboard sections").get_by_role(
        "link", name=name, exact=True).click()


def dollars(minor: int) -> str:
    return f"${minor / 100:,.2f}"


def credits(amount: int) -> str:
    return f"{amount:,}"  # the demo's CREDIT has no decimals


def money_figure(amounts: list[dict[str, str]]) -> str:
    """The overview's money ([{currency, amount}]) as the home page writes it."""
    assert all(m["currency"] == "USD" for m in amounts)  # the demo sells in dollars
    return " · ".join(f"${Decimal(m['amount']):,.2f}" for m in amounts) or "0"


def test_the_home_figures_are_the_apis_overview(site: DemoSite, page: Page,
                                                shoot: Shoot) -> None:
    overview = site.api.get("/reports/overview").json()
    assert overview["money_days"], "the demo has sixty days of purchases"
    page.set_viewport_size(DESKTOP)
    site.sign_in(page)

    def shown(key: str) -> str:
        return " ".join(page.locator(f'[data-figure="{key}"] dd').first.inner_text().split())

    for key in ("money_today", "money_days", "float_money", "subscriptions_monthly_value"):
        assert shown(key) == money_figure(overview[key]), key
    for key in ("credits_sold", "credits_consumed", "credits_expired", "float_credits"):
        assert shown(key) == f"{overview[key]} CREDIT", key
    for key in ("members_active", "subscriptions_active", "declines", "recharges_failed"):
        assert shown(key) == str(overview[key]), key
    assert overview["credits_sold"] > 0
    assert overview["subscriptions_active"] > 0
    assert fits_the_width(page)
    shoot(page, "home")

    page.locator('[data-figure="declines"]').get_by_role("link").click()
    expect(page.get_by_role("heading", name="Declined charges")).to_be_visible()
    page.go_back()
    page.locator('[data-figure="recharges_failed"]').get_by_role("link").click()
    expect(page.get_by_role("heading", name="Purchases")).to_be_visible()
    expect(page.get_by_label("Status")).to_have_value("failed")
    expect(page.get_by_label("Bought as")).to_have_value("recharge")


def check_purchase_row(page: Page, purchase: dict[str, Any]) -> None:
    row = page.locator(f'tr[data-purchase="{purchase["id"]}"]')
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text(purchase["member_id"])
    expect(cells.nth(2)).to_contain_text(purchase["description"])
    expect(cells.nth(3)).to_have_text(purchase["status"])
    expect(cells.nth(4)).to_contain_text(purchase["provider"])
    expect(cells.nth(5)).to_have_text(
        credits(purchase["credits"] + purchase["bonus_credits"]))
    expect(cells.nth(6)).to_contain_text(dollars(purchase["amount_minor"]))


def test_purchases_across_members_are_the_apis(site: DemoSite, page: Page,
                                               shoot: Shoot) -> None:
    listed = site.api.get("/purchases", params={"limit": PAGE_ROWS}).json()["data"]
    assert len(listed) == PAGE_ROWS, "the demo has more than a page of purchases"
    page.set_viewport_size(DESKTOP)
    site.sign_in(page)
    nav(page, "Purchases")
    expect(page.get_by_role("heading", name="Purchases", exact=True)).to_be_visible()
    expect(page.locator("tbody tr[data-purchase]")).to_have_count(PAGE_ROWS)
    shown = page.locator("tbody tr[data-purchase]").evaluate_all(
        "rows => rows.map(r => r.dataset.purchase)")
    assert shown == [p["id"] for p in listed]  # the same purchases, newest first
    for purchase in listed:
        check_purchase_row(page, purchase)
    assert fits_the_width(page)
    shoot(page, "purchases")

    # One member's, searched for: every one the API has for that member.
    member = listed[0]["member_id"]
    mine = site.api.get("/purchases", params={"member": member, "limit": 100}).json()["data"]
    page.get_by_label("Member, description or reference").fill(member)
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tbody tr[data-purchase]")
    expect(rows).to_have_count(min(len(mine), PAGE_ROWS))
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.purchase)")) <= {
        p["id"] for p in mine}

    # Completed ones only, then the credits of one: its transfer is the API's.
    page.goto(site.url("/admin/purchases?status=completed"))
    done = page.locator("tbody tr[data-purchase]")
    expect(done.first).to_be_visible()
    statuses = done.locator("td:nth-child(4)").all_inner_texts()
    assert set(statuses) == {"completed"}
    first_id = done.first.get_attribute("data-purchase")
    purchase = site.api.get(f"/purchases/{first_id}").json()
    done.first.get_by_role("link", name="Credits").click()
    grant = site.api.get(f"/transfers/{purchase['grant_transfer_id']}").json()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{grant['kind'].capitalize()} of {credits(grant['amount'])} CREDIT")
    wallet = wallet_id(purchase["member_id"], "CREDIT")
    received = next(p for p in grant["postings"] if p["account_id"] == wallet)
    expect(page.locator(f'tr[data-account="{wallet}"] td').nth(2)).to_have_text(
        f"+{credits(received['amount'])}")


def test_transfers_and_a_transfers_postings_and_lots_are_the_apis(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    sent = site.api.post("/transfers", headers={"Idempotency-Key": "t-alice-carol"},
                         json={"from_member": "alice", "to_member": "carol", "amount": 9,
                               "memo": "for the lamp"})
    assert sent.status_code == 201, sent.text
    transfer = sent.json()
    page.set_viewport_size(DESKTOP)
    site.sign_in(page)
    nav(page, "Transfers")
    expect(page.get_by_role("heading", name="Transfers", exact=True)).to_be_visible()
    rows = page.locator("tbody tr[data-transfer]")
    expect(rows).to_have_count(PAGE_ROWS)
    ids = rows.evaluate_all("rows => rows.map(r => r.dataset.transfer)")
    assert ids[0] == transfer["id"]  # the newest
    for transfer_id in ids[:10]:
        api = site.api.get(f"/transfers/{transfer_id}").json()
        cells = page.locator(f'tr[data-transfer="{transfer_id}"] td')
        expect(cells.nth(1)).to_have_text(api["kind"])
        moved = sum(p["amount"] for p in api["postings"] if p["amount"] > 0)
        expect(cells.nth(4)).to_have_text(credits(moved))
        if api["member_id"]:
            expect(cells.nth(2)).to_contain_text(api["member_id"])
    assert fits_the_width(page)
    shoot(page, "transfers")

    # Only transfers between members: alice's to carol is there, named both ways.
    page.get_by_label("Member, service or memo").fill("lamp")
    page.get_by_label("Kind").select_option("transfer")
    page.get_by_role("button", name="Search").click()
    row = page.locator(f'tr[data-transfer="{transfer["id"]}"]')
    expect(rows).to_have_count(1)
    expect(row.locator("td").nth(2)).to_have_text("alice → carol")
    expect(row.locator("td").nth(3)).to_have_text("for the lamp")
    row.get_by_role("link", name="Postings and lots").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Transfer of {credits(transfer['amount'])} CREDIT")
    assert sum(p["amount"] for p in transfer["postings"]) == 0
    expect(page.locator("tr[data-account]")).to_have_count(len(transfer["postings"]))
    for posting in transfer["postings"]:
        cells = page.locator(f'tr[data-account="{posting["account_id"]}"] td')
        sign = "+" if posting["amount"] > 0 else ""
        expect(cells.nth(2)).to_have_text(f"{sign}{credits(posting['amount'])}")
        if posting["balance_after"] is not None:
            expect(cells.nth(3)).to_have_text(credits(posting["balance_after"]))
    # Each lot moved, with the source and expiry the members' lots have in the API.
    expect(page.locator("tr[data-lot]")).to_have_count(len(transfer["lots"]))
    lots = {lot["id"]: lot for member in ("alice", "carol")
            for lot in site.api.get(f"/members/{member}/lots",
                                    params={"include_empty": "true"}).json()["data"]}
    for move in transfer["lots"]:
        cells = page.locator(f'tr[data-lot="{move["lot_id"]}"] td')
        owner = "alice" if move["account_id"] == wallet_id("alice", "CREDIT") else "carol"
        expect(cells.nth(0)).to_have_text(owner)
        lot = lots[move["lot_id"]]
        expect(cells.nth(1)).to_have_text(lot["source"])
        expect(cells.nth(2)).to_have_text("paid" if lot["paid"] else "free")
        if lot["expires_at"] is None:
            expect(cells.nth(3)).to_have_text("never")
        else:
            expect(cells.nth(3)).to_contain_text(lot["expires_at"][:10])
        sign = "+" if move["amount"] > 0 else ""
        expect(cells.nth(4)).to_have_text(f"{sign}{credits(move['amount'])}")
    assert {lots[m["lot_id"]]["source"] for m in transfer["lots"] if m["amount"] > 0} == {
        "transfer"}
    assert fits_the_width(page)
    shoot(page, "transfer-postings-and-lots")
    page.get_by_role("link", name="carol").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Carol")


def test_declined_charges_are_the_apis_events(site: DemoSite, page: Page,
                                              shoot: Shoot) -> None:
    balance = site.api.get("/members/mia/balance").json()["available"]
    minutes = balance // 20 + 5  # at 20 credits a minute, more than mia has
    refused = site.api.post("/charges", headers={"Idempotency-Key": "t-mia-too-much"},
                            json={"member": "mia", "service": "video.minute",
                                  "quantity": minutes})
    assert refused.status_code == 402, refused.text
    required = refused.json()["required"]
    assert required > balance
    events = site.api.get("/events", params={"type": "charge.declined",
                                             "limit": PAGE_ROWS}).json()["data"]
    assert events[0]["member_id"] == "mia"
    page.set_viewport_size(DESKTOP)
    site.sign_in(page)
    page.goto(site.url("/admin/declines"))
    expect(page.get_by_role("heading", name="Declined charges")).to_be_visible()
    rows = page.locator("tbody tr[data-decline]")
    expect(rows).to_have_count(len(events))
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.decline)") == [
        e["id"] for e in events]
    for event in events:
        data = event["data"]
        cells = page.locator(f'tr[data-decline="{event["id"]}"] td')
        expect(cells.nth(1)).to_have_text(event["member_id"] or "—")
        expect(cells.nth(2)).to_have_text(data.get("service") or "—")
        expect(cells.nth(3)).to_have_text(str(data.get("status", "")).replace("_", " "))
        if data.get("required") is not None:
            expect(cells.nth(4)).to_have_text(credits(data["required"]))
        if data.get("balance") is not None:
            expect(cells.nth(5)).to_have_text(credits(data["balance"]))
    mine = page.locator(f'tr[data-decline="{events[0]["id"]}"] td')
    expect(mine.nth(2)).to_have_text("video.minute")
    expect(mine.nth(4)).to_have_text(credits(required))
    expect(mine.nth(5)).to_have_text(credits(balance))
    assert fits_the_width(page)
    shoot(page, "declines")

    page.get_by_label("Member").fill("mia")
    page.get_by_role("button", name="Search").click()
    mias = site.api.get("/events", params={"type": "charge.declined", "member_id": "mia",
                                           "limit": PAGE_ROWS}).json()["data"]
    expect(rows).to_have_count(len(mias))
    rows.first.get_by_role("link", name="mia").click()
    expect(page.locator('[data-figure="available"]')).to_have_text(credits(balance))
