"""Post-pay bills paid through Stripe: the real `stripe` SDK against the local fake of Stripe's
HTTP API. A member who saved a card is billed at the end of the month and the card pays the bill
off-session in one payment; a declined card says `bill.payment_failed` and the member pays with
a checkout link instead, confirmed by Stripe's signed webhook (once, however often it comes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

import jeton
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.payments.fake_stripe import FakeStripe
from jeton.services.funding.provider_webhooks import handle_provider_webhook
from jeton.store.engine import Store

from .conftest import CANCEL, SUCCESS, events, ok


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def shop(store: Store, clock: ManualClock, fake: FakeStripe) -> Iterator[jeton.Community]:
    settings = Settings(stripe_api_key=fake.api_key, stripe_webhook_secret=fake.webhook_secret,
                        stripe_api_base=fake.base_url)
    app = jeton.Jeton(store, clock=clock, settings=settings)
    chess = app.create_community("Chess club", "chess")
    for member in ("ann", "bob"):
        chess.create_member(member)
        chess.set_credit_line(member, -200)
    chess.create_pack("20 credits", pack_id="p20", credits=20, price_minor=6000)
    chess.set_billing_settings(credit_price_minor=300, currency="USD", grace_days=5)
    yield chess
    app.close()


def _save_card(shop: jeton.Community, fake: FakeStripe, member: str) -> str:
    """The member buys a pack once on Stripe's checkout and saves the card; returns its id."""
    checkout = shop.buy_pack(member, "p20", idempotency_key=f"{member}-first",
                             success_url=SUCCESS, cancel_url=CANCEL, save_payment_method=True)
    assert checkout.session_id is not None
    paid = fake.complete_checkout(checkout.session_id, deliver=False)
    handle_provider_webhook(shop.jeton, "stripe", paid.payload, paid.headers)
    [method] = [m for m in fake.objects("payment_method") if m["customer"] is not None]
    return str(method["id"])


def test_the_saved_card_pays_the_months_bill_off_session_in_one_payment(
        shop: jeton.Community, fake: FakeStripe, clock: ManualClock) -> None:
    _save_card(shop, fake, "ann")
    for n in range(15):  # 20 credits of her own, then 10 on the credit line
        shop.spend("ann", 2, idempotency_key=f"ann-{n}", service="chess.game")
    assert shop.balance("ann").posted == -10
    clock.advance(timedelta(days=17))
    assert shop.run_funding_jobs()["bills.issue"] == 1

    [bill] = shop.list_bills("ann").data
    assert (bill.status, bill.credits_charged, bill.credits_due) == ("paid", 30, 10)
    assert bill.amount_minor == 3000  # 10 credits at $3
    intents = [i for i in fake.objects("payment_intent") if i["amount"] == 3000]
    assert len(intents) == 1
    assert intents[0]["status"] == "succeeded"
    assert shop.balance("ann").posted == 0
    [told] = events(shop.jeton.store, "bill.paid", "ann")
    assert told["number"] == bill.number_text
    assert shop.account_balance("deferred", asset="USD").posted == 6000 + 3000
    ok(shop.jeton.store)


def test_a_declined_card_fails_the_bill_and_a_checkout_link_pays_it_once(
        shop: jeton.Community, fake: FakeStripe, clock: ManualClock) -> None:
    fake.decline(_save_card(shop, fake, "bob"), "card_declined")
    for n in range(12):
        shop.spend("bob", 2, idempotency_key=f"bob-{n}", service="chess.game")
    clock.advance(timedelta(days=17))
    shop.run_funding_jobs()
    [bill] = shop.list_bills("bob").data
    assert (bill.status, bill.failures, bill.last_failure) == ("open", 1, "card_declined")
    [failed] = events(shop.jeton.store, "bill.payment_failed", "bob")
    assert (failed["reason"], failed["amount_minor"]) == ("card_declined", 1200)
    assert shop.balance("bob").posted == -4

    checkout = shop.pay_bill(bill.id, success_url=SUCCESS, cancel_url=CANCEL)
    assert checkout.provider == "stripe"
    assert checkout.url is not None
    assert checkout.url.startswith(fake.base_url)
    assert checkout.session_id is not None
    assert fake.get(checkout.session_id)["amount_total"] == 1200
    webhook = fake.complete_checkout(checkout.session_id, deliver=False)
    for _ in range(3):
        handle_provider_webhook(shop.jeton, "stripe", webhook.payload, webhook.headers)
    paid = shop.get_bill(bill.id)
    assert paid.status == "paid"
    assert paid.purchase_id == checkout.purchase_id
    assert shop.balance("bob").posted == 0
    assert len(events(shop.jeton.store, "bill.paid", "bob")) == 1
    ok(shop.jeton.store)
