"""The member's bill page in Chromium: a member on a credit line opens Bills, reads the bill's
lines and totals, pays it on the demo checkout and comes back to a paid bill; the download link
serves the CSV."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import jeton

from .conftest import MemberPages, Shoot, member_pages

pytestmark = pytest.mark.browser


def _alice_on_a_credit_line(j: jeton.Jeton) -> jeton.Community:
    """Alice on a credit line, with three private rooms used on it."""
    chat = j.create_community("Chat room", "chat")
    chat.create_member("alice", name="Alice Liddell")
    chat.set_billing_settings(credit_price_minor=20, grace_days=5)
    chat.set_credit_line("alice", -50)
    for n in range(3):
        chat.spend("alice", 5, idempotency_key=f"room-{n}", service="chat.private_room")
    return chat


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[MemberPages]:
    with member_pages(tmp_path, _alice_on_a_credit_line) as made:
        yield made


def test_the_member_reads_and_pays_a_bill(pages: MemberPages, page: Page, shoot: Shoot) -> None:
    bill = pages.chat.issue_bill("alice", idempotency_key="bill-1")
    page.goto(pages.link("alice"))
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Bills").click()
    expect(page.get_by_role("heading", name="Bills")).to_be_visible()
    page.get_by_role("link", name=bill.number_text).click()
    expect(page.get_by_role("heading", name=f"Bill {bill.number_text}")).to_be_visible()
    lines = page.get_by_role("table", name="What you used")
    expect(lines.get_by_role("row").nth(1)).to_contain_text("chat.private_room")
    expect(lines.get_by_role("row").nth(1)).to_contain_text("15")
    expect(lines).to_contain_text("$3.00")
    shoot(page, "bill-open")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download (CSV)").click()
    saved = Path(download.value.path())
    assert "chat.private_room,3,3,15" in saved.read_text()
    assert download.value.suggested_filename == f"{bill.number_text}.csv"

    page.get_by_role("button", name="Pay $3.00").click()
    expect(page.get_by_text("Demo checkout")).to_be_visible()
    page.get_by_role("button", name="Pay").first.click()
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible(timeout=15_000)
    page.goto(f"{pages.base_url}/m/bills/{bill.id}")
    expect(page.get_by_role("status")).to_contain_text("Paid")
    expect(page.get_by_role("button", name="Pay $3.00")).to_have_count(0)
    assert pages.chat.balance("alice").posted == 0
    shoot(page, "bill-paid")
