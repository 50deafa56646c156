"""The owner runs the demo community from the dashboard (issue 14), in Chromium, and every
figure a page shows is checked against what the API answers for the same thing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from jeton.payments.offline import DEMO_METHOD_OK

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


def review_and_confirm(page: Page, confirm: str) -> None:
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Check and confirm")).to_be_visible()
    page.get_by_role("button", name=confirm).click()


def audited(site: DemoSite, page: Page, action: str) -> None:
    page.goto(site.url("/admin/audit"))
    expect(page.get_by_text(action).first).to_be_visible()


def test_owner_refunds_a_purchase_and_a_charge_after_a_review(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    # A purchase of the demo's history, refunded as credits (the money stays).
    purchase = next(p for p in site.api.get("/purchases", params={"limit": 100}).json()["data"]
                    if p["status"] == "completed" and p["kind"] == "pack")
    member = purchase["member_id"]
    page.set_viewport_size(DESKTOP)
    site.sign_in(page)
    page.goto(site.url(f"/admin/members/{member}"))
    before = site.api.get(f"/members/{member}/balance").json()
    page.locator("#purchases-heading + .table-wrap").get_by_role(
        "link", name="Refund").first.click()
    expect(page.get_by_role("heading", name="Refund a purchase")).to_be_visible()
    page.get_by_label("Refund as").select_option("credits")
    page.get_by_label("Credits to give (CREDIT)").fill("300")
    page.get_by_label("Reason").fill("Goodwill after the outage")
    page.get_by_role("button", name="Review").click()
    review = page.locator("#review")
    paid = purchase["amount_minor"] / 100
    expect(review).to_contain_text(f"${paid:.2f} as credits")
    assert site.api.get(f"/purchases/{purchase['id']}").json()["refunded_minor"] == 0
    shoot(page, "refund-purchase-review")
    page.get_by_role("button", name=f"Confirm: refund ${paid:.2f}").dblclick()
    expect(page.get_by_role("status")).to_have_text("The purchase was refunded.")
    after = site.api.get(f"/purchases/{purchase['id']}").json()
    assert after["refunded_minor"] == purchase["amount_minor"]
    balance = site.api.get(f"/members/{member}/balance").json()
    lines = site.api.get(f"/members/{member}/statement").json()["data"]
    given = [line for line in lines if line["kind"] == "grant" and line["amount"] == 300]
    assert len(given) == 1  # given once: the double click's second submit is a replay
    taken = sum(-line["amount"] for line in lines[:3] if line["reason_code"] == "refund"
                and line["amount"] < 0)
    assert balance["posted"] == before["posted"] - taken + 300
    expect(page.locator('[data-figure="posted"]')).to_have_text(str(balance["posted"]))

    # A purchase made today with a saved card, refunded in money through the provider.
    demo = site.community
    demo.set_payment_method("dave", provider="demo", customer_id="cus_dave",
                            payment_method_id=DEMO_METHOD_OK)
    demo.subscribe("dave", "plan-monthly", idempotency_key="t-dave-plan")
    plan_purchase = site.api.get("/purchases", params={"member": "dave"}).json()["data"][0]
    assert plan_purchase["status"] == "completed"
    page.goto(site.url("/admin/members/dave"))
    page.locator("#purchases-heading + .table-wrap").get_by_role(
        "link", name="Refund").first.click()
    page.get_by_label("Amount (USD)").fill("5.00")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review")).to_contain_text("$5.00 in money")
    page.get_by_role("button", name="Confirm: refund $5.00").click()
    expect(page.get_by_role("status")).to_have_text("The purchase was refunded.")
    assert site.api.get(f"/purchases/{plan_purchase['id']}").json()["refunded_minor"] == 500
    expect(page.locator("#purchases-heading + .table-wrap")).to_contain_text("$5.00 refunded")

    # A charge refunded: alice's collector's badge.
    page.goto(site.url("/admin/members/alice"))
    badge = page.locator("#statement tr", has_text="mall.collectors_badge")
    badge.get_by_role("link", name="Refund").click()
    page.get_by_label("Reason").fill("Badge never showed")
    page.get_by_role("button", name="Review").click()
    alice = site.api.get("/members/alice/balance").json()
    expect(page.locator("#review")).to_contain_text(
        f"{alice['posted']} → {alice['posted'] + 100}")
    page.get_by_role("button", name="Confirm: refund 100 CREDIT").click()
    expect(page.get_by_role("status")).to_contain_text("The charge was refunded")
    assert site.api.get("/members/alice/balance").json()["posted"] == alice["posted"] + 100
    # The same charge again: the review says why, and there is no Confirm.
    page.goto(site.url("/admin/members/alice"))
    page.locator("#statement tr", has_text="mall.collectors_badge").get_by_role(
        "link", name="Refund").click()
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#refusal")).to_contain_text("refunded already")
    expect(page.get_by_role("button", name="Confirm: refund 100 CREDIT")).to_have_count(0)
    audited(site, page, "charge.refunded")
    audited(site, page, "purchase.refunded")


def test_owner_cancels_a_subscription_and_changes_auto_recharge_and_alerts(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    sub = next(s for s in site.api.get("/subscriptions").json()["data"]
               if s["status"] == "active")
    member = sub["member_id"]
    page.set_viewport_size(DESKTOP)
    site.sign_in(page)
    page.goto(site.url(f"/admin/members/{member}"))
    page.get_by_role("link", name="Cancel the subscription to Monthly 150").click()
    page.get_by_role("button", name="Review").click()
    review = page.locator("#review")
    expect(review).to_contain_text("active → cancels then")
    expect(review).to_contain_text(sub["current_period_end"][:10])
    shoot(page, "cancel-subscription-review")
    page.get_by_role("button", name="Confirm: cancel the subscription").click()
    expect(page.get_by_role("status")).to_have_text("The subscription was canceled.")
    assert site.api.get(f"/subscriptions/{sub['id']}").json()["cancel_at_period_end"] is True
    expect(page.locator("#subs-heading + ul")).to_contain_text("(cancels then)")

    # Auto-recharge needs a saved payment method: the refusal says so, nothing changes.
    member = "alice"
    page.goto(site.url("/admin/members/alice"))
    page.get_by_role("link", name="Change auto-recharge").click()
    page.get_by_label("Recharge automatically").check()
    page.get_by_label("Pack to buy").select_option("pack-100")
    page.get_by_label("When available falls under (CREDIT)").fill("20")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review")).to_contain_text(
        "off → on: 100 credits + 20 bonus under 20, at most 3 a month")
    page.get_by_role("button", name="Confirm: save auto-recharge").click()
    expect(page.locator("#refusal")).to_contain_text("Nothing was changed")
    assert site.community.get_auto_recharge(member) is None
    site.community.set_payment_method(member, provider="demo", customer_id="cus_t",
                                      payment_method_id=DEMO_METHOD_OK)
    page.get_by_role("button", name="Change").click()  # back to the form, values kept
    expect(page.get_by_label("When available falls under (CREDIT)")).to_have_value("20")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Confirm: save auto-recharge").click()
    expect(page.get_by_role("status")).to_have_text("Auto-recharge was saved.")
    saved = site.api.get(f"/members/{member}/auto_recharge").json()
    assert (saved["enabled"], saved["threshold"], saved["pack_id"]) == (True, 20, "pack-100")
    expect(page.locator("#auto-recharge")).to_contain_text("on, under 20, at most 3 a month")

    page.get_by_role("link", name="Change the alert").click()
    page.get_by_label("Alert under (CREDIT)").fill("15")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review")).to_contain_text("none → 15")
    page.get_by_role("button", name="Confirm: save the alert").click()
    expect(page.locator("#low-balance")).to_contain_text("under 15 CREDIT")
    assert site.community.low_balance_alert(member).threshold == 15  # type: ignore[union-attr]
    audited(site, page, "subscription.canceled")
    audited(site, page, "member.auto_recharge_changed")
    audited(site, page, "member.low_balance_changed")


def test_owner_changes_the_settings_and_support_cannot(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    page.set_viewport_size(DESKTOP)
    site.sign_in(page)
    nav(page, "Settings")
    page.get_by_role("link", name="Change the transfer limits").click()
    page.get_by_label("Most a member may send a UTC day (CREDIT)").fill("100")
    page.get_by_role("button", name="Review").click()
    review = page.locator("#review")
    expect(review).to_contain_text("no limit → 100")
    expect(review.locator("dd").last).to_have_text("0 (unchanged)")
    shoot(page, "transfer-limits-review")
    page.get_by_role("button", name="Confirm: save the transfer limits").click()
    expect(page.get_by_role("status")).to_have_text("The settings were saved.")
    limits = site.api.get("/settings/transfer_limits").json()
    assert limits["per_day"] == 100
    expect(page.locator('[data-setting="per_day"]')).to_have_text("100 CREDIT")

    page.get_by_role("link", name="Change the sign-up bonus").click()
    page.get_by_label("Credits for each new member (CREDIT)").fill("25")
    page.get_by_label("They expire after (days)").fill("30")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review")).to_contain_text("none → 25")
    expect(page.locator("#review")).to_contain_text("never → 30 days")
    page.get_by_role("button", name="Confirm: save the sign-up bonus").click()
    bonus = site.api.get("/settings/signup_bonus").json()
    assert (bonus["amount"], bonus["expiry_days"]) == (25, 30)
    expect(page.locator('[data-setting="signup_bonus"]')).to_have_text("25 CREDIT")

    page.get_by_role("link", name="Change the moderator limit").click()
    page.get_by_label("Credits granted and charged together (CREDIT)").fill("50")
    page.get_by_label("Per").select_option("week")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review")).to_contain_text("nothing (no limit set) → 50 CREDIT a week")
    page.get_by_role("button", name="Confirm: save the moderator limit").click()
    expect(page.locator('tr[data-role="moderator"]')).to_contain_text("50 CREDIT")
    assert fits_the_width(page)
    shoot(page, "settings")
    audited(site, page, "settings.transfer_limits_changed")
    audited(site, page, "settings.role_limit_changed")
    page.get_by_role("button", name="Sign out").click()

    site.sign_in(page, "support@demo.example")
    nav(page, "Settings")
    expect(page.locator('[data-setting="per_day"]')).to_have_text("100 CREDIT")
    expect(page.get_by_role("link", name="Change the transfer limits")).to_have_count(0)
    page.goto(site.url("/admin/members/alice"))
    expect(page.get_by_role("link", name="Change auto-recharge")).to_have_count(0)
    expect(page.get_by_role("link", name="Refund")).to_have_count(0)
    refused = page.goto(site.url("/admin/actions/transfer-limits"))
    assert refused is not None
    assert refused.status == 403


OVERFLOWING = """() => [...document.querySelectorAll('.table-wrap')]
  .filter(w => w.offsetParent !== null && w.scrollWidth > w.clientWidth)
  .map(w => (w.querySelector('caption') || w).textContent.trim().slice(0, 60))"""


def test_no_report_table_overflows_at_1280_px(site: DemoSite, page: Page,
                                              shoot: Shoot) -> None:
    page.set_viewport_size(DESKTOP)
    assert DESKTOP["width"] == 1280
    site.sign_in(page)
    today = site.community.overview().today
    # The default 30 days, this month so far, and the demo's whole sixty days of history.
    for since in ("", today.replace(day=1).isoformat(), (today - timedelta(days=61)).isoformat()):
        page.goto(site.url("/admin/reports" + (f"?since={since}" if since else "")))
        expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
        # Open every folded table, so each is measured as the owner would read it.
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        tables = page.locator(".table-wrap table")
        assert tables.count() >= 5
        assert page.evaluate(OVERFLOWING) == [], since
        assert fits_the_width(page)
    shoot(page, "reports-1280")


def test_a_charge_that_cannot_pass_has_no_confirm_and_prices_show_old_and_new(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    page.set_viewport_size(DESKTOP)
    site.sign_in(page)
    available = site.api.get("/members/mia/balance").json()["available"]
    page.goto(site.url("/admin/members/mia/credits?kind=charge"))
    page.get_by_label("Amount (CREDIT)").fill(str(available + 1))
    page.get_by_label("Reason").fill("Too much")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#refusal")).to_contain_text(
        f"only {available} CREDIT available: this charge would be refused")
    confirm = page.get_by_role("button", name=f"Confirm: charge {available + 1} CREDIT")
    expect(confirm).to_have_count(0)
    expect(page.locator(".button.danger")).to_have_count(0)
    expect(page.get_by_role("button", name="Change")).to_be_visible()
    shoot(page, "charge-refused-review")

    catalog = site.api.get("/catalog").json()
    service = next(s for s in catalog["services"] if s["code"] == "chat.message")
    old = service["definition"]["credits"]
    page.goto(site.url("/admin/catalog/services/chat.message/edit"))
    page.get_by_label("Price (CREDIT)").fill(str(old + 2))
    page.get_by_role("button", name="Review").click()
    row = page.locator("#price-changes tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("chat.message")
    expect(row.locator("td").nth(1)).to_have_text(str(old))
    expect(row.locator("td").nth(2)).to_have_text(f"→ {old + 2}")
    shoot(page, "price-change-review")


def test_member_without_a_card_is_told_how_to_turn_on_auto_recharge(
        site: DemoSite, page: Page, shoot: Shoot) -> None:
    site.open_member_pages(page, "alice")
    page.goto(site.url("/m/recharge"))
    box = page.get_by_label("Recharge automatically")
    expect(box).not_to_be_checked()
    box.check()
    page.get_by_label("When my available credits fall under").fill("20")
    page.get_by_label("Buy this pack").select_option("pack-50")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Automatic recharge needs a saved card. Buy a pack in the store once")
    expect(page.get_by_text("no saved payment method")).to_have_count(0)
    assert site.community.get_auto_recharge("alice") is None  # nothing was saved
    shoot(page, "member-recharge-no-card")
