"""The member pages in Chromium, on a small app (the member router and the static files) served
by uvicorn: the return page waits for a payment made by check and updates itself (htmx) when
staff record it; forms explain their mistakes; the keyboard reaches everything, visibly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

import jeton

from .conftest import MemberPages, Shoot, member_pages

pytestmark = pytest.mark.browser


def _shop(j: jeton.Jeton) -> jeton.Community:
    """A shop whose members pay by check: Alice with 12 credits, and Bob."""
    j.payments.add(j.payments.get("offline"), default=True)  # members pay by check here
    chat = j.create_community("Chat room", "chat")
    chat.create_member("alice", name="Alice Liddell")
    chat.create_member("bob", name="Bob Builder")
    chat.create_pack("Starter", pack_id="starter", credits=20, price_minor=600)
    chat.create_plan("Monthly 30", plan_id="monthly", cycle="monthly", credits=30,
                     price_minor=900)
    chat.grant("alice", 12, idempotency_key="welcome", memo="Welcome")
    return chat


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[MemberPages]:
    with member_pages(tmp_path, _shop) as made:
        yield made


def test_the_return_page_waits_for_the_payment_and_updates_itself(
        pages: MemberPages, page: Page, shoot: Shoot) -> None:
    page.goto(pages.link("alice"))
    page.get_by_role("navigation", name="Your account").get_by_role(
        "link", name="Buy credits").click()
    page.get_by_role("button", name="Buy Starter").click()
    expect(page.get_by_role("heading", name="Pay by check or bank transfer")).to_be_visible()
    shoot(page, "offline-instructions")
    page.get_by_role("link", name="I will pay this way").click()
    expect(page.get_by_role("heading", name="Payment pending")).to_be_visible()
    shoot(page, "pending")
    # Marks this very document: if the page were reloaded, the mark would be gone.
    page.evaluate("window.jetonMark = 'same document'")
    purchase_id = page.url.rsplit("/", 1)[1]
    assert pages.chat.balance("alice").available == 12

    pages.chat.record_offline_payment(purchase_id, reference="check 1042")
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible(timeout=15_000)
    expect(page.locator('#purchase-status [data-figure="available"]')).to_have_text("32")
    assert page.evaluate("window.jetonMark") == "same document"
    shoot(page, "paid")


def test_forms_explain_mistakes_and_work_with_the_keyboard(
        pages: MemberPages, page: Page, shoot: Shoot) -> None:
    page.goto(pages.link("alice"))
    nav = page.get_by_role("navigation", name="Your account")

    nav.get_by_role("link", name="Auto-recharge").click()
    page.get_by_label("When my available credits fall under").fill("lots")
    page.get_by_label("At most this many recharges a month").fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_have_text("Please correct the fields marked below.")
    expect(page.get_by_label("When my available credits fall under")).to_have_attribute(
        "aria-invalid", "true")
    shoot(page, "recharge-errors")

    nav.get_by_role("link", name="Redeem a coupon").click()
    page.get_by_label("Coupon code").fill("NOSUCHCODE")
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_text("There is no coupon with that code.")).to_be_visible()
    shoot(page, "coupon-unknown")

    nav.get_by_role("link", name="Plans").click()
    expect(page.get_by_text("$9.00 a month")).to_be_visible()
    shoot(page, "plans")

    # The transfer form, with the keyboard only: Tab to each field, Enter to submit.
    nav.get_by_role("link", name="Send credits").click()
    recipient = page.get_by_label("Recipient's member id")
    recipient.focus()
    page.keyboard.type("bob")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Credits to send")).to_be_focused()
    page.keyboard.type("5")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    review = page.get_by_role("button", name="Review")
    expect(review).to_be_focused()
    outline = review.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"  # the focus is visible
    shoot(page, "keyboard-focus")
    page.keyboard.press("Enter")
    send = page.get_by_role("button", name="Send 5 credits")
    send.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("The credits were sent.")
    assert pages.chat.balance("bob").available == 5
    shoot(page, "sent")


def test_signing_out_leaves_nothing_open(pages: MemberPages, page: Page, shoot: Shoot) -> None:
    page.goto(pages.link("alice"))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    shoot(page, "signed-out")
    response = page.goto(pages.url("/m/"))
    assert response is not None
    assert response.status == 401
    expect(page.get_by_role("heading", name="Open your account from the site")).to_be_visible()


def test_history_says_what_happened_in_words(pages: MemberPages, page: Page, shoot: Shoot) -> None:
    chat = pages.chat
    chat.load_catalog("""
[services."files.download"]
name = "File download"
credits = 10
splits = [{ to = "party:uploader", share_bp = 3000 }]
""")
    chat.grant("bob", 40, idempotency_key="bob-start")
    chat.charge("bob", "files.download", idempotency_key="dl", context={"uploader": "alice"})
    chat.transfer("alice", "bob", 4, idempotency_key="gift", memo="thanks")
    chat.charge("alice", "files.download", idempotency_key="dl-2", context={"uploader": "bob"})
    page.goto(pages.link("alice"))
    history = page.get_by_role("table", name="Your latest movements")
    expect(history.get_by_role("cell", name="File download", exact=True)).to_be_visible()
    expect(history.get_by_role("cell", name="Sent to Bob Builder: thanks")).to_be_visible()
    expect(history.get_by_role("cell", name="Royalty from Bob Builder's file download")
           ).to_be_visible()
    assert "files.download" not in history.inner_text()
    shoot(page, "member-history-words")


def test_a_member_reads_their_achievements_and_switches_the_leaderboard(
        pages: MemberPages, page: Page, shoot: Shoot) -> None:
    chat = pages.chat
    chat.load_catalog("""
[services."chat.message"]
name = "Chat message"
credits = 1

[points."chatter"]
on = "charge"
points = 4

[badges."first-words"]
name = "First words"
emoji = "💬"
description = "A first message"
rule = { uses = 1 }

[[levels]]
name = "Newcomer"
points = 0

[[levels]]
name = "Talker"
points = 8

[challenges."five-today"]
name = "Five messages today"
goal = { uses = 5 }
per = "day"
reward = { points = 5 }
""", "toml")
    chat.grant("bob", 5, idempotency_key="welcome-bob")
    for n in range(3):
        chat.charge("alice", "chat.message", idempotency_key=f"a-{n}")
    chat.charge("bob", "chat.message", idempotency_key="b-0")
    chat.award_achievements()

    page.goto(pages.link("alice"))
    page.get_by_role("navigation", name="Your account").get_by_role(
        "link", name="Achievements").click()
    expect(page.get_by_role("heading", name="Achievements", exact=True)).to_be_visible()
    expect(page.locator('[data-figure="level"]')).to_contain_text("Talker")
    expect(page.locator('[data-figure="points"]')).to_contain_text("12 points earned")
    expect(page.locator('[data-list="held"]')).to_contain_text("First words")
    expect(page.locator('[data-challenge="five-today"]')).to_contain_text("3 / 5")
    board = page.locator('[data-board="points"] tbody tr')
    expect(board.first).to_contain_text("Alice Liddell (you)")
    expect(board.nth(1)).to_contain_text("Bob Builder")
    shoot(page, "achievements")

    page.get_by_label("Ranked by").select_option("credits_spent")
    page.get_by_label("Period").select_option("all")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("table").filter(has_text="Credits spent, all time")
           .locator("tbody tr").first).to_contain_text("3")
