"""The member pages over HTTP (in-process): balance and history, the store and its checkouts,
plans, auto-recharge, coupons and transfers. Credits come from confirmed payments only, and a
second submit of any form changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.payments.fake_stripe import FakeStripe
from jeton.payments.offline import DEMO_METHOD_OK
from jeton.services.funding.provider_webhooks import handle_provider_webhook
from jeton.services.ledger.verify import verify
from jeton.store.engine import Store

from .member_support import (
    BASE,
    MemberBrowser,
    Shop,
    browser_for,
    history_of,
    make_shop,
    member_app,
    text_of,
)

pytestmark = pytest.mark.anyio


def ok(shop: Shop) -> None:
    found = verify(shop.j.store)
    assert not found, found


def path_of(response: httpx.Response) -> str:
    return urlsplit(response.headers["location"]).path


# ---- overview ----

async def test_overview_shows_balance_expiring_credits_and_history(shop: Shop,
                                                                   alice: MemberBrowser) -> None:
    now = shop.clock.now()
    shop.chat.grant("alice", 100, idempotency_key="g1", memo="Welcome")
    shop.chat.grant("alice", 30, idempotency_key="g2", expires_at=now + timedelta(days=3))
    shop.chat.grant("alice", 40, idempotency_key="g3", expires_at=now + timedelta(days=60))
    shop.chat.spend("alice", 25, idempotency_key="s1", service="chat.message")
    shop.chat.hold("alice", 2, idempotency_key="h1")
    page = await alice.get("/m/")
    words = text_of(page)
    assert re.search(r'data-figure="available">143 ', page.text)
    assert 'data-figure="pending">2<' in page.text
    assert 'data-figure="posted">145<' in page.text
    assert "Expiring in the next 14 days" in words
    # The lot expiring in 3 days paid first (the spend, then the hold): 3 of its 30 are left;
    # the lot expiring in 60 days is not listed.
    assert '<td class="num">3</td><td>Credits added</td>' in page.text
    assert '<td class="num">40</td>' not in page.text
    history = history_of(page)
    assert "Chat message -25 145" in history
    assert "Credits added: Welcome +100 100" in history


async def test_history_names_services_members_and_royalties_in_words(
        shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.load_catalog("""
[services."files.download"]
name = "File download"
credits = 10
splits = [{ to = "party:uploader", share_bp = 3000 }]

[services."chat.message"]
name = "Chat message"
credits = 1
""")
    shop.chat.grant("alice", 50, idempotency_key="g-a")
    shop.chat.grant("bob", 50, idempotency_key="g-b")
    shop.chat.charge("bob", "files.download", idempotency_key="dl",
                     context={"uploader": "alice"})
    shop.chat.charge("alice", "chat.message", idempotency_key="msg")
    shop.chat.transfer("alice", "carol", 5, idempotency_key="gift")
    shop.chat.transfer("bob", "alice", 7, idempotency_key="back")
    spent = shop.chat.spend("alice", 2, idempotency_key="s", service="chat.message")
    shop.chat.reverse(spent.id, idempotency_key="r")
    history = history_of(await alice.get("/m/"))
    assert history[:6] == [
        "Refund of chat message +2 54",
        "Chat message -2 52",
        "Received from Bob Builder +7 54",
        "Sent to Carol Singer -5 47",
        "Chat message -1 52",
        "Royalty from Bob Builder's file download +3 53",
    ]
    assert not any("files.download" in line or "chat.message" in line for line in history)


async def test_history_is_paginated_with_a_running_balance(shop: Shop,
                                                           alice: MemberBrowser) -> None:
    for n in range(25):
        shop.chat.grant("alice", 1, idempotency_key=f"g{n}")
    first = await alice.get("/m/")
    assert first.text.count('<td class="when wide-only">') == 20
    assert history_of(first)[0] == "Credits added +1 25"
    older = re.search(r'href="(/m/\?after=[^"#]+)', first.text)
    assert older is not None
    second = await alice.get(older.group(1))
    words = text_of(second)
    assert "Older movements" in words
    assert history_of(second) == [f"Credits added +1 {n}" for n in range(5, 0, -1)]
    assert "?after=" not in second.text  # the last page
    junk = await alice.get("/m/?after=%27%3B--")
    assert junk.status_code == 200
    assert history_of(junk)[0] == "Credits added +1 25"


# ---- the store ----

async def test_the_store_offers_the_packs_this_member_may_see(shop: Shop,
                                                              alice: MemberBrowser) -> None:
    page = text_of(await alice.get("/m/store"))
    assert "Starter" in page
    assert "$6.00" in page
    assert "+ 5 bonus credits" in page
    assert "VIP only" not in page
    shop.chat.grant_class("alice", "vip")
    assert "VIP only" in text_of(await alice.get("/m/store"))


async def test_buying_with_the_demo_provider_grants_on_the_payment_not_the_page(
        shop: Shop, alice: MemberBrowser) -> None:
    await alice.get("/m/store")
    form = {"pack_id": "big", "key": alice.keys[1]}
    bought = await alice.post("/m/store/buy", form)
    assert bought.status_code == 303
    pay_path = path_of(bought)
    assert pay_path.startswith("/m/pay/")
    purchase_id = pay_path.rsplit("/", 1)[1]
    # A second submit of the same form is the same purchase.
    again = await alice.post("/m/store/buy", form)
    assert path_of(again) == pay_path
    assert len(shop.chat.list_purchases("alice").data) == 1

    page = await alice.get(pay_path)
    assert "Demo checkout" in text_of(page)
    assert "$15.00" in text_of(page)
    # The return page before paying: pending, polling, and no credits.
    pending = await alice.get(f"/m/purchases/{purchase_id}")
    assert "Payment pending" in text_of(pending)
    assert 'hx-trigger="every 2s"' in pending.text
    assert shop.chat.balance("alice").available == 0

    paid = await alice.post(pay_path, {"action": "pay"})
    assert paid.status_code == 303
    assert path_of(paid) == f"/m/purchases/{purchase_id}"
    done = await alice.get(path_of(paid))
    words = text_of(done)
    assert "Payment received" in words
    assert "55 credits were added" in words
    assert "Your balance is now 55" in words
    assert "hx-trigger" not in done.text
    assert (await alice.post(pay_path, {"action": "pay"})).status_code == 303
    assert shop.chat.balance("alice").available == 55
    assert shop.chat.get_purchase(purchase_id).status == "completed"
    ok(shop)


async def test_a_canceled_demo_checkout_charges_nothing(shop: Shop,
                                                        alice: MemberBrowser) -> None:
    await alice.get("/m/store")
    bought = await alice.post("/m/store/buy", {"pack_id": "starter", "key": alice.key})
    canceled = await alice.post(path_of(bought), {"action": "cancel"})
    assert canceled.status_code == 303
    assert canceled.headers["location"] == "/m/store?notice=checkout_canceled"
    assert "Nothing was charged" in text_of(await alice.get(canceled.headers["location"]))
    purchase_id = path_of(bought).rsplit("/", 1)[1]
    assert shop.chat.get_purchase(purchase_id).status == "expired"
    assert shop.chat.balance("alice").available == 0


async def test_a_pack_taken_off_sale_is_explained(shop: Shop, alice: MemberBrowser) -> None:
    await alice.get("/m/store")
    response = await alice.post("/m/store/buy", {"pack_id": "vip", "key": alice.key})
    assert response.status_code == 404
    assert "That pack is not on sale any more." in text_of(response)
    assert (await alice.post("/m/store/buy", {"pack_id": "starter", "key": "short"})
            ).status_code == 400


async def test_an_offline_payment_shows_pending_until_staff_record_it(
        store: Store, clock: ManualClock) -> None:
    shop = make_shop(store, clock, offline_default=True)
    try:
        async with browser_for(member_app(shop)) as alice:
            await alice.open(shop.link("alice"))
            store_page = await alice.get("/m/store")
            assert "Keep my card" not in store_page.text  # a check cannot be kept for later
            bought = await alice.post("/m/store/buy", {"pack_id": "starter", "key": alice.key})
            pay = await alice.get(path_of(bought))
            assert "Pay by check or bank transfer" in text_of(pay)
            purchase_id = path_of(bought).rsplit("/", 1)[1]
            status_path = f"/m/purchases/{purchase_id}/status"
            waiting = await alice.get(status_path)
            assert 'data-status="pending"' in waiting.text
            assert f'hx-get="{status_path}"' in waiting.text
            assert "<html" not in waiting.text  # a fragment for htmx, not a page

            shop.chat.record_offline_payment(purchase_id, reference="check 1042")
            done = await alice.get(status_path)
            assert 'data-status="completed"' in done.text
            assert "hx-get" not in done.text
            assert "Your balance is now 20" in text_of(done)
    finally:
        shop.j.close()


async def test_with_stripe_the_member_pays_on_the_hosted_page_and_comes_back(
        store: Store, clock: ManualClock) -> None:
    with FakeStripe() as fake:
        settings = Settings(public_url=BASE, stripe_api_key=fake.api_key,
                            stripe_webhook_secret=fake.webhook_secret,
                            stripe_api_base=fake.base_url)
        shop = make_shop(store, clock, settings=settings)
        assert shop.j.payments.default_name == "stripe"
        try:
            async with browser_for(member_app(shop)) as alice:
                await alice.open(shop.link("alice"))
                await alice.get("/m/store")
                page = await alice.post("/m/store/buy", {"pack_id": "starter",
                                                         "key": alice.key})
                # Our CSP lets forms go to this site only: a link to the hosted page instead.
                assert page.status_code == 200
                hosted = re.search(r'<a class="button" href="([^"]+)">Pay \$6.00', page.text)
                assert hosted is not None
                assert hosted.group(1).startswith(fake.base_url + "/c/pay/")
                async with httpx.AsyncClient() as stripe_page:
                    back = await stripe_page.post(hosted.group(1), data={"action": "pay"})
                assert back.status_code == 303
                returned = await alice.get(back.headers["location"].removeprefix(BASE))
                assert returned.status_code == 303
                purchase_path = path_of(returned)
                pending = await alice.get(purchase_path)
                assert "Payment pending" in text_of(pending)
                assert shop.chat.balance("alice").available == 0
                # Stripe's signed webhook is what grants the credits.
                event = [e for e in fake.events
                         if e["type"] == "checkout.session.completed"][-1]
                signed = fake.signed(event)
                handle_provider_webhook(shop.j, "stripe", signed.payload, signed.headers)
                done = await alice.get(purchase_path)
                assert "Your balance is now 20" in text_of(done)
                unknown = await alice.get("/m/purchases/return?session_id=cs_nobody")
                assert unknown.headers["location"] == "/m/store?notice=purchase_unknown"
        finally:
            shop.j.close()


# ---- plans ----

async def test_subscribing_pays_the_first_period_then_cancel_at_its_end(
        shop: Shop, alice: MemberBrowser) -> None:
    page = await alice.get("/m/plans")
    assert "Monthly 30" in text_of(page)
    assert "$9.00 a month" in text_of(page)
    subscribed = await alice.post("/m/plans/subscribe", {"plan_id": "monthly",
                                                         "key": alice.key})
    assert subscribed.status_code == 303
    assert path_of(subscribed).startswith("/m/pay/")
    await alice.post(path_of(subscribed), {"action": "pay"})
    assert shop.chat.balance("alice").available == 30
    mine = await alice.get("/m/plans")
    words = text_of(mine)
    assert "Active" in words
    assert "Subscribe to Monthly 30" not in words  # not twice
    sub = shop.chat.list_subscriptions("alice")[0]
    canceled = await alice.post(f"/m/plans/{sub.id}/cancel")
    assert canceled.headers["location"] == "/m/plans?notice=subscription_canceled"
    assert shop.chat.get_subscription(sub.id).cancel_at_period_end
    assert "Ends" in text_of(await alice.get("/m/plans"))


async def test_subscribing_with_a_saved_card_charges_only_after_the_review(
        shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.set_payment_method("alice", provider="demo", customer_id="cus_alice",
                                 payment_method_id=DEMO_METHOD_OK)
    await alice.get("/m/plans")
    review = await alice.post("/m/plans/subscribe", {"plan_id": "monthly", "key": alice.key})
    assert review.status_code == 200
    words = text_of(review)
    assert "Check and confirm" in words
    assert "Nothing is charged until you confirm." in words
    assert "Plan Monthly 30" in words
    assert "Charged now $9.00 (USD)" in words
    assert "Paid with Your card saved at demo" in words
    assert shop.clock.now().date().isoformat() == "2026-01-15"
    assert ("Renews Every month: $9.00 charged to the same card, next on 2026-02-15, until "
            "you cancel") in words
    # The review charged nothing and started nothing.
    assert shop.chat.list_purchases("alice").data == []
    assert shop.chat.list_subscriptions("alice") == []
    assert shop.chat.balance("alice").available == 0

    confirm = {"plan_id": "monthly", "key": alice.key}
    done = await alice.post("/m/plans/subscribe/confirm", confirm)
    assert done.headers["location"] == "/m/plans?notice=subscribed"
    again = await alice.post("/m/plans/subscribe/confirm", confirm)  # a second click
    assert again.status_code == 303
    [purchase] = shop.chat.list_purchases("alice").data
    assert (purchase.status, purchase.amount_minor, purchase.currency) == (
        "completed", 900, "USD")
    [sub] = shop.chat.list_subscriptions("alice")
    assert sub.status == "active"
    assert shop.chat.balance("alice").available == 30
    # The plan's payment has its receipt in the member's list.
    listed = await alice.get("/m/receipts")
    assert f'href="/m/receipts/{purchase.grant_transfer_id}"' in listed.text
    ok(shop)


async def test_subscribing_without_a_saved_card_goes_to_the_checkout_with_no_review(
        shop: Shop, alice: MemberBrowser) -> None:
    await alice.get("/m/plans")
    sent = await alice.post("/m/plans/subscribe", {"plan_id": "monthly", "key": alice.key})
    assert sent.status_code == 303
    assert path_of(sent).startswith("/m/pay/")
    gone = await alice.post("/m/plans/subscribe", {"plan_id": "nosuch", "key": alice.key})
    assert gone.status_code == 404
    assert "That plan is not offered any more." in text_of(gone)


async def test_a_member_cannot_cancel_another_members_subscription(
        shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.grant("bob", 10, idempotency_key="bob")
    shop.chat.create_plan("Free tier", plan_id="free", cycle="monthly", credits=5,
                          price_minor=0)
    bob_sub = shop.chat.subscribe("bob", "free", idempotency_key="bob-free")
    await alice.get("/m/plans")
    refused = await alice.post(f"/m/plans/{bob_sub.id}/cancel")
    assert refused.status_code == 404
    assert not shop.chat.get_subscription(bob_sub.id).cancel_at_period_end


# ---- auto-recharge ----

async def test_auto_recharge_settings_are_validated_and_need_a_saved_card(
        shop: Shop, alice: MemberBrowser) -> None:
    page = await alice.get("/m/recharge")
    assert "Recharge automatically" in text_of(page)
    # Not ticked by default for a member who never turned it on (she has no saved card).
    assert re.search(r'<input type="checkbox" id="f-enabled"[^>]*checked', page.text) is None
    bad = await alice.post("/m/recharge", {"enabled": "1", "threshold": "ten", "pack_id": "",
                                           "monthly_cap": "0"})
    assert bad.status_code == 400
    words = text_of(bad)
    assert "Please correct the fields marked below." in words
    assert "Enter a number (no decimals)." in words
    assert "A pack is needed." in words
    assert "Enter 1 or more." in words
    assert 'aria-invalid="true"' in bad.text
    no_card = await alice.post("/m/recharge", {"enabled": "1", "threshold": "10",
                                               "pack_id": "starter", "monthly_cap": "3"})
    assert no_card.status_code == 400
    assert "no saved payment method" not in text_of(no_card)  # the provider's words
    assert "Automatic recharge needs a saved card. Buy a pack in the store once and tick " \
        "“Keep my card for auto-recharge”" in text_of(no_card)

    # Buying a pack with "keep my card" saves one at the provider.
    await alice.get("/m/store")
    bought = await alice.post("/m/store/buy", {"pack_id": "starter", "key": alice.key,
                                               "save_method": "1"})
    await alice.post(path_of(bought), {"action": "pay"})
    saved = await alice.post("/m/recharge", {"enabled": "1", "threshold": "10",
                                             "pack_id": "starter", "monthly_cap": "3"})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/m/recharge?notice=recharge_saved"
    info = shop.chat.get_auto_recharge("alice")
    assert info is not None
    assert info.enabled
    assert info.threshold == 10
    words = text_of(await alice.get("/m/recharge"))
    assert "Buys Starter when under 10 credits" in words
    assert "0 of at most 3 recharges" in words


# ---- coupons ----

async def test_a_coupon_is_redeemed_once_per_form_and_its_limits_explained(
        shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.create_coupon("WELCOME10", credits=10)
    shop.chat.create_coupon("SOON", credits=10,
                           expires_at=shop.clock.now() + timedelta(minutes=30))
    await alice.get("/m/coupon")
    form = {"code": "welcome10", "key": alice.key}
    done = await alice.post("/m/coupon", form)
    assert done.headers["location"] == "/m/?notice=coupon_redeemed"
    assert (await alice.post("/m/coupon", form)).status_code == 303  # a double submit
    assert shop.chat.balance("alice").available == 10
    await alice.get("/m/coupon")
    twice = await alice.post("/m/coupon", {"code": "WELCOME10", "key": alice.key})
    assert twice.status_code == 409
    assert 'aria-invalid="true"' in twice.text
    assert "has already redeemed WELCOME10" in text_of(twice)
    assert shop.chat.balance("alice").available == 10
    await alice.get("/m/coupon")
    unknown = await alice.post("/m/coupon", {"code": "NOPE", "key": alice.key})
    assert unknown.status_code == 404
    assert "There is no coupon with that code." in text_of(unknown)
    assert 'value="NOPE"' in unknown.text
    shop.clock.advance(minutes=31)  # the coupon expires; the member's session lives on
    await alice.get("/m/coupon")
    expired = await alice.post("/m/coupon", {"code": "SOON", "key": alice.key})
    assert expired.status_code == 409
    assert "expired" in text_of(expired)
    assert (await alice.post("/m/coupon", {"code": "", "key": alice.key})).status_code == 400


# ---- transfers ----

async def test_a_transfer_is_reviewed_then_sent_once(shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.grant("alice", 50, idempotency_key="a")
    shop.chat.set_transfer_limits(fee_fixed=1)
    form = await alice.get("/m/transfer")
    assert "Each transfer has a fee of 1 credits" in text_of(form)
    review = await alice.post("/m/transfer", {"to": "bob", "amount": "20", "memo": "for pizza"})
    assert review.status_code == 200
    words = text_of(review)
    assert "To member bob Credits 20 Fee 1 Taken from you 21 Available after 29" in words
    assert "Bob Builder" not in words  # nothing about another member but what was typed
    confirm = {"to": "bob", "amount": "20", "memo": "for pizza", "key": alice.key}
    sent = await alice.post("/m/transfer/confirm", confirm)
    assert sent.headers["location"] == "/m/?notice=transfer_sent"
    assert (await alice.post("/m/transfer/confirm", confirm)).status_code == 303
    assert shop.chat.balance("alice").available == 29
    assert shop.chat.balance("bob").available == 20
    home = await alice.get("/m/?notice=transfer_sent")
    assert "The credits were sent." in text_of(home)
    assert history_of(home)[0] == "Sent to Bob Builder: for pizza -21 29"
    ok(shop)


async def test_transfer_mistakes_and_refusals_are_explained(shop: Shop,
                                                            alice: MemberBrowser) -> None:
    shop.chat.grant("alice", 50, idempotency_key="a")
    shop.chat.set_transfer_limits(per_day=30)
    await alice.get("/m/transfer")
    to_self = await alice.post("/m/transfer", {"to": "alice", "amount": "5"})
    assert "You cannot send credits to yourself." in text_of(to_self)
    nobody = await alice.post("/m/transfer", {"to": "zed", "amount": "5"})
    assert "There is no member with that id." in text_of(nobody)
    bad_amount = await alice.post("/m/transfer", {"to": "bob", "amount": "-3"})
    assert "Enter an amount above zero." in text_of(bad_amount)
    short = await alice.post("/m/transfer", {"to": "bob", "amount": "80"})
    assert "You do not have enough credits" in text_of(short)
    assert "Send 80 credits" not in short.text
    await alice.post("/m/transfer", {"to": "bob", "amount": "40"})
    over = await alice.post("/m/transfer/confirm",
                            {"to": "bob", "amount": "40", "key": alice.key})
    assert over.status_code == 409
    assert "over your transfer limit: you can send 30 more" in text_of(over)
    assert shop.chat.balance("alice").available == 50
    forged = await alice.post("/m/transfer/confirm",
                              {"to": "alice", "amount": "5", "key": alice.key})
    assert forged.status_code == 400
    assert shop.chat.balance("alice").available == 50


async def test_pages_work_at_phone_width_markup(alice: MemberBrowser) -> None:
    """Landmarks, a skip link, labelled fields and the viewport meta on every page."""
    for path in ("/m/", "/m/store", "/m/plans", "/m/recharge", "/m/coupon", "/m/transfer"):
        page = await alice.get(path)
        assert page.status_code == 200, path
        body = page.text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body
        assert 'class="skip-link" href="#main"' in body
        assert '<main id="main"' in body
        assert '<nav class="sidenav" aria-label="Your account">' in body
        assert body.count("<h1") == 1, path
        assert 'aria-current="page"' in body, path
        for input_id in re.findall(r'<input id="([^"]+)"', body):
            assert f'for="{input_id}"' in body, (path, input_id)
