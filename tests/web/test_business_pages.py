"""The owner runs the business from the dashboard: the home's figures (the same as
`Community.overview()` and the report), lists across members, and one transfer in full."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.payments.offline import DEMO_METHOD_DECLINED, DEMO_METHOD_OK
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import signed_in, text_of

pytestmark = pytest.mark.anyio
FIGURE = re.compile(r'data-figure="([a-z_]+)">\s*<dt>[^<]*</dt>\s*<dd>([^<]*)')
CATALOG = """
[services."files.download"]
name = "File download"
credits = 3
splits = [{ to = "party:uploader", share_bp = 3000 }]
"""


def _buy(chat: jeton.Community, pack_id: str, member: str, key: str) -> jeton.PurchaseInfo:
    checkout = chat.buy_pack(member, pack_id, provider="offline", idempotency_key=key,
                             success_url="https://chat.example/ok",
                             cancel_url="https://chat.example/no")
    return chat.record_offline_payment(checkout.purchase_id, reference=key)


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    """A month of business: packs bought, a plan, a royalty, a transfer, expiry, declines."""
    j = jeton.Jeton(store, clock=clock)
    chat = j.community("chat")
    chat.load_catalog(CATALOG)
    for member in ("alice", "bob", "carol", "dave"):
        chat.create_member(member)
    pack = chat.create_pack("Fifty", credits=50, price_minor=1500, currency="USD",
                            pack_id="p50")
    chat.create_plan("Monthly 100", cycle="monthly", credits=100, price_minor=999,
                     plan_id="monthly")
    chat.create_plan("Weekly 10", cycle="weekly", credits=10, price_minor=300,
                     plan_id="weekly")
    _buy(chat, pack.id, "alice", "old")  # 40 days ago: outside the 30 days
    clock.advance(days=40)
    _buy(chat, pack.id, "alice", "a1")
    _buy(chat, pack.id, "bob", "b1")
    for member, plan in (("carol", "monthly"), ("dave", "weekly")):
        chat.set_payment_method(member, provider="demo", customer_id=f"cus_{member}",
                                payment_method_id=DEMO_METHOD_OK)
        chat.subscribe(member, plan, idempotency_key=f"{member}-{plan}")
    chat.grant("bob", 20, idempotency_key="promo", source="promo",
               expires_at=clock.now() + timedelta(days=1))
    chat.charge("alice", "files.download", idempotency_key="dl-1", context={"uploader": "bob"})
    chat.transfer("alice", "carol", 5, idempotency_key="gift")
    with pytest.raises(jeton.InsufficientCredits):
        chat.charge("dave", "files.download", quantity=50, idempotency_key="too-much",
                    context={"uploader": "bob"})
    # A failed auto-recharge: dave's card stops working.
    chat.set_payment_method("dave", provider="demo", customer_id="cus_dave",
                            payment_method_id=DEMO_METHOD_DECLINED)
    chat.set_auto_recharge("dave", pack_id="p50", threshold=20, monthly_cap=3)
    chat.spend("dave", 5, idempotency_key="d-spend", service="files.download")
    chat.run_funding_jobs()
    clock.advance(days=2)
    chat.run_expiry()
    return j


async def test_home_shows_the_business_as_the_overview_counts_it(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton) -> None:
    chat = j.community("chat")
    o = chat.overview()
    # Two packs, a month and a week.
    assert [(m.currency, m.amount) for m in o.money_days] == [("USD", "42.99")]
    assert o.money_today == []
    assert o.credits_sold == 100 + 100 + 10  # two packs, the plans' first cycles
    assert o.credits_consumed == 3 + 5 - 0  # the download (gross of its royalty) and dave's
    assert o.credits_expired == 20
    assert o.subscriptions_active == 2
    # 9.99 a month, and 3.00 a week is 13.00 a month.
    assert [(m.currency, m.amount) for m in o.subscriptions_monthly_value] == [
        ("USD", "22.99")]
    assert o.declines == 1
    assert o.recharges_failed == 1
    assert o.members_active == 4
    report = chat.report(since=o.today - timedelta(days=o.days - 1))
    assert o.float_credits == sum(r[1] for r in report.table("float").rows)
    assert o.credits_expired == sum(r[3] for r in report.table("per_day").rows)

    async with signed_in(store, clock, staff.owner, staff.password, j) as owner:
        page = await owner.get("/admin/")
    figures = {key: " ".join(value.split()) for key, value in FIGURE.findall(page.text)}
    assert figures == {
        "money_today": "0", "money_days": "$42.99", "credits_sold": "210",
        "credits_consumed": str(o.credits_consumed), "credits_expired": "20",
        "float_credits": str(o.float_credits), "float_money": "$" + o.float_money[0].amount,
        "members_active": "4", "subscriptions_active": "2",
        "subscriptions_monthly_value": "$22.99", "declines": "1", "recharges_failed": "1",
    }
    # Each figure links to its detail, and every link opens.
    links = re.findall(r'<dd class="figure-link"><a href="([^"]+)"', page.text)
    assert len(links) == len(figures)
    async with signed_in(store, clock, staff.owner, staff.password, j) as owner:
        for link in links:
            assert (await owner.get(link.replace("&amp;", "&"))).status_code == 200, link


async def test_purchases_across_members_filter_and_page(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton) -> None:
    chat = j.community("chat")
    for n in range(26):
        _buy(chat, "p50", "carol", f"c{n}")
    async with signed_in(store, clock, staff.support, staff.password, j) as support:
        first = await support.get("/admin/purchases")
        assert first.status_code == 200
        assert first.text.count('href="/admin/members/carol"') == 25
        after = re.search(r'href="(/admin/purchases\?after=[^"]+)"', first.text)
        assert after is not None
        second = await support.get(after.group(1))
        assert "(continued)" in text_of(second)
        failed = await support.get("/admin/purchases?kind=recharge&status=failed")
        text = text_of(failed)
        assert "dave" in text
        assert "card_declined" in text
        assert "carol" not in text
        bob = await support.get("/admin/purchases?q=bob&provider=offline")
        assert text_of(bob).count("bob Fifty completed offline") == 1
        assert "/admin/transfers/" in bob.text
        odd = await support.get("/admin/purchases?status=nonsense")
        assert odd.status_code == 200  # an unknown filter is no filter


async def test_transfers_across_members_lead_to_postings_and_lots(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton) -> None:
    async with signed_in(store, clock, staff.support, staff.password, j) as support:
        listing = await support.get("/admin/transfers?q=carol&kind=transfer")
        text = text_of(listing)
        assert "alice → carol" in text
        detail_link = re.search(r'href="(/admin/transfers/[^"]+)"', listing.text)
        assert detail_link is not None
        detail = await support.get(detail_link.group(1))
        text = text_of(detail)
        assert "Transfer of 5 CREDIT" in text
        assert "wallet alice -5" in text
        assert "wallet carol +5" in text
        assert re.search(r"alice purchase paid never -5", text)
        assert "carol transfer paid never +5" in text
        charges = text_of(await support.get("/admin/transfers?kind=charge"))
        assert "files.download" in charges
        expiry = text_of(await support.get("/admin/transfers?kind=expiry&q=bob"))
        assert "expiry" in expiry
        assert "20" in expiry
        declines = text_of(await support.get("/admin/declines"))
        assert "dave files.download insufficient credits 150" in declines
        assert (await support.get("/admin/transfers/nope")).status_code == 404


async def test_subscriptions_across_members_filter_and_lead_to_the_member(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton) -> None:
    chat = j.community("chat")
    carol = chat.list_subscriptions("carol")[0]
    chat.cancel_subscription(chat.list_subscriptions("dave")[0].id, at_period_end=False)
    async with signed_in(store, clock, staff.support, staff.password, j) as support:
        listing = await support.get("/admin/subscriptions")
        assert listing.status_code == 200
        text = text_of(listing)
        assert "carol Monthly 100 active" in text
        assert "dave Weekly 10 canceled" in text
        assert 'href="/admin/members/carol#subs-heading"' in listing.text
        assert carol.current_period_end is not None
        assert carol.current_period_end.date().isoformat() in text
        active = text_of(await support.get("/admin/subscriptions?status=active"))
        assert "carol" in active
        assert "dave" not in active
        weekly = text_of(await support.get("/admin/subscriptions?q=weekly"))
        assert "dave" in weekly
        assert "carol" not in weekly
        by_plan = text_of(await support.get("/admin/subscriptions?plan=monthly"))
        assert "carol" in by_plan
        assert "dave" not in by_plan
        odd = await support.get("/admin/subscriptions?status=nonsense&plan=nope")
        assert odd.status_code == 200  # unknown filters are no filters
        assert "dave" in text_of(odd)


async def test_holds_in_flight_across_members_show_what_is_set_aside(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton) -> None:
    chat = j.community("chat")
    open_hold = chat.hold("alice", 7, idempotency_key="h-open", service="files.download")
    partly = chat.hold("bob", 10, idempotency_key="h-part")
    chat.capture(partly.id, 4, idempotency_key="h-part-cap", final=False)
    done = chat.hold("carol", 3, idempotency_key="h-done")
    chat.void(done.id, idempotency_key="h-done-void")
    async with signed_in(store, clock, staff.support, staff.password, j) as support:
        listing = await support.get("/admin/holds")
        text = text_of(listing)
        assert "alice files.download 7 0 7" in text
        assert "bob — 10 4 6" in text
        assert "carol" not in text  # released: no longer in flight
        assert f'data-hold="{open_hold.id}"' in listing.text
        assert 'href="/admin/members/alice"' in listing.text
        found = text_of(await support.get("/admin/holds?q=download"))
        assert "alice" in found
        assert "bob" not in found


async def test_a_confirm_sent_twice_is_done_once_and_both_say_done(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton) -> None:
    """A double click on Confirm whose second request is read after the first one finished:
    the purchase is refunded already, but by this very form, so the second answers as the
    first did (back to the member, refunded) instead of refusing it."""
    chat = j.community("chat")
    [bought] = [p for p in chat.list_purchases("bob").data if p.status == "completed"]
    form = {"member": "bob", "target": bought.id, "key": "form-1", "how": "credits",
            "amount": "", "credits": "", "reason": "Goodwill"}
    async with signed_in(store, clock, staff.owner, staff.password, j) as owner:
        first = await owner.post("/admin/actions/refund-purchase", form)
        again = await owner.post("/admin/actions/refund-purchase", form)
        other = await owner.post("/admin/actions/refund-purchase", {**form, "key": "form-2"})
    assert first.status_code == 303
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert other.status_code == 409  # another form: refunded already, and said so
    assert "refunded already" in other.text
    assert chat.get_purchase(bought.id).refunded_minor == bought.amount_minor
