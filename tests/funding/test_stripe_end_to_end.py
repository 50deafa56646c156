"""The Stripe path end to end: the real `stripe` SDK against the local fake of Stripe's HTTP API
on 127.0.0.1. A member buys a pack on a hosted checkout, Stripe's signed webhook grants the
credits once (also when it arrives ten times at once), the saved card pays for an auto-recharge
off-session, and a refund gives the money back and takes the unspent credits back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import jeton
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.payments.fake_stripe import FakeStripe
from jeton.services.funding.provider_webhooks import handle_provider_webhook
from jeton.store.engine import Store
from jeton.store.tables.funding import refunds

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
    assert app.payments.default_name == "stripe"
    chess = app.create_community("Chess club", "chess")
    for member in ("ann", "bob"):
        chess.create_member(member)
    chess.create_pack("20 credits", pack_id="p20", credits=20, price_minor=6000)
    chess.create_pack("50 credits", pack_id="p50", credits=50, price_minor=15000,
                      bonus_credits=5)
    yield chess
    app.close()


def _deliver(shop: jeton.Community, fake: FakeStripe, event: dict[str, Any]
             ) -> jeton.WebhookOutcome:
    signed = fake.signed(event)
    return handle_provider_webhook(shop.jeton, "stripe", signed.payload, signed.headers)


def _paid_on_checkout(shop: jeton.Community, fake: FakeStripe, member: str, pack: str,
                      key: str) -> str:
    """The member buys `pack` on Stripe's checkout and the signed webhook grants it; returns
    the purchase's id."""
    checkout = shop.buy_pack(member, pack, idempotency_key=key, success_url=SUCCESS,
                             cancel_url=CANCEL)
    assert checkout.session_id is not None
    paid = fake.complete_checkout(checkout.session_id, deliver=False)
    handle_provider_webhook(shop.jeton, "stripe", paid.payload, paid.headers)
    return checkout.purchase_id


def _last(fake: FakeStripe, type_: str) -> dict[str, Any]:
    return [e for e in fake.events if e["type"] == type_][-1]


def test_a_member_pays_on_stripe_checkout_and_the_signed_webhook_grants_once(
        shop: jeton.Community, fake: FakeStripe) -> None:
    checkout = shop.buy_pack("ann", "p50", idempotency_key="ann-50", success_url=SUCCESS,
                             cancel_url=CANCEL)
    assert checkout.provider == "stripe"
    assert checkout.session_id is not None
    assert checkout.url is not None
    assert checkout.url.startswith(fake.base_url)
    session = fake.get(checkout.session_id)
    assert session["client_reference_id"] == checkout.purchase_id
    assert session["amount_total"] == 15000

    webhook = fake.complete_checkout(checkout.session_id, deliver=False)
    outcome = handle_provider_webhook(shop.jeton, "stripe", webhook.payload, webhook.headers)
    assert (outcome.status, outcome.detail) == ("processed", "completed")
    assert shop.balance("ann").available == 55
    bought = shop.get_purchase(checkout.purchase_id)
    assert bought.status == "completed"
    assert bought.payment_id is not None
    assert bought.payment_id.startswith("pi_")
    for _ in range(3):
        again = handle_provider_webhook(shop.jeton, "stripe", webhook.payload, webhook.headers)
        assert again.status == "duplicate"
    assert shop.balance("ann").available == 55
    ok(shop.jeton.store)


def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
        shop: jeton.Community, fake: FakeStripe) -> None:
    checkout = shop.buy_pack("ann", "p20", idempotency_key="ann-20", success_url=SUCCESS,
                             cancel_url=CANCEL)
    assert checkout.session_id is not None
    fake.complete_checkout(checkout.session_id, deliver=False)
    forged = fake.signed(_last(fake, "checkout.session.completed"), secret="whsec_wrong")
    with pytest.raises(jeton.InvalidRequest):
        handle_provider_webhook(shop.jeton, "stripe", forged.payload, forged.headers)
    assert shop.balance("ann").posted == 0


def test_the_same_checkout_completed_delivered_ten_times_at_once_grants_once(
        shop: jeton.Community, fake: FakeStripe) -> None:
    checkout = shop.buy_pack("bob", "p20", idempotency_key="bob-20", success_url=SUCCESS,
                             cancel_url=CANCEL)
    assert checkout.session_id is not None
    webhook = fake.complete_checkout(checkout.session_id, deliver=False)
    start = threading.Barrier(10)
    outcomes: list[jeton.WebhookOutcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def deliver() -> None:
        start.wait()
        try:
            outcome = handle_provider_webhook(shop.jeton, "stripe", webhook.payload,
                                              webhook.headers)
            with lock:
                outcomes.append(outcome)
        except BaseException as exc:  # reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(o.status for o in outcomes) == ["duplicate"] * 9 + ["processed"]
    assert shop.balance("bob").available == 20
    assert len(events(shop.jeton.store, "purchase.completed")) == 1
    assert shop.account_balance("deferred", asset="USD").posted == 6000
    ok(shop.jeton.store)


def test_the_saved_card_pays_an_auto_recharge_off_session(
        shop: jeton.Community, fake: FakeStripe) -> None:
    checkout = shop.buy_pack("ann", "p20", idempotency_key="ann-first", success_url=SUCCESS,
                             cancel_url=CANCEL, save_payment_method=True)
    assert checkout.session_id is not None
    webhook = fake.complete_checkout(checkout.session_id, deliver=False)
    handle_provider_webhook(shop.jeton, "stripe", webhook.payload, webhook.headers)
    setting = shop.set_auto_recharge("ann", pack_id="p50", threshold=10, monthly_cap=3)
    assert setting.provider == "stripe"
    assert setting.enabled

    shop.spend("ann", 15, idempotency_key="game-1", service="chess.game")  # 5 left: under 10
    assert shop.get_auto_recharge("ann") is not None
    assert shop.run_funding_jobs()["recharge.run"] == 1
    assert shop.balance("ann").available == 5 + 55
    intents = [i for i in fake.objects("payment_intent") if i["amount"] == 15000]
    assert len(intents) == 1
    assert intents[0]["status"] == "succeeded"
    # Stripe's own event about the off-session payment arrives later: nothing more happens.
    outcome = _deliver(shop, fake, _last(fake, "payment_intent.succeeded"))
    assert outcome.detail in ("already_completed", "ignored")
    assert shop.balance("ann").available == 60
    info = shop.get_auto_recharge("ann")
    assert info is not None
    assert info.recharges_this_month == 1
    assert not info.in_flight
    ok(shop.jeton.store)


def test_a_declined_card_fails_the_recharge_and_says_so(
        shop: jeton.Community, fake: FakeStripe) -> None:
    checkout = shop.buy_pack("bob", "p20", idempotency_key="bob-first", success_url=SUCCESS,
                             cancel_url=CANCEL, save_payment_method=True)
    assert checkout.session_id is not None
    webhook = fake.complete_checkout(checkout.session_id, deliver=False)
    handle_provider_webhook(shop.jeton, "stripe", webhook.payload, webhook.headers)
    saved = [m for m in fake.objects("payment_method") if m["customer"] is not None]
    assert len(saved) == 1
    profile_method = saved[0]["id"]
    fake.decline(profile_method, "insufficient_funds")
    shop.set_auto_recharge("bob", pack_id="p20", threshold=10, monthly_cap=3)
    shop.spend("bob", 15, idempotency_key="bob-game", service="chess.game")
    shop.run_funding_jobs()
    info = shop.get_auto_recharge("bob")
    assert info is not None
    assert info.status == "failed"
    assert info.last_error == "insufficient_funds"
    failed = events(shop.jeton.store, "recharge.failed", "bob")
    assert [e["reason"] for e in failed] == ["insufficient_funds"]
    assert shop.balance("bob").available == 5
    recharges = [p for p in shop.list_purchases("bob").data if p.kind == "recharge"]
    assert [(p.status, p.failure_reason) for p in recharges] == [("failed", "insufficient_funds")]
    ok(shop.jeton.store)


def test_a_refund_through_stripe_gives_the_money_back_and_takes_the_credits_back(
        shop: jeton.Community, fake: FakeStripe) -> None:
    purchase_id = _paid_on_checkout(shop, fake, "ann", "p20", "ann-refund")

    refund = shop.refund_purchase(purchase_id, idempotency_key="refund-1",
                                  amount_minor=3000, reason="changed her mind")
    assert refund.status == "succeeded"
    assert refund.credits_taken == 10
    assert refund.provider_refund_id is not None
    assert refund.provider_refund_id.startswith("re_")
    assert shop.balance("ann").available == 10
    assert shop.account_balance("deferred", asset="USD").posted == 3000
    # Stripe tells us about the refund we made: it is already recorded.
    assert _deliver(shop, fake, _last(fake, "charge.refunded")).detail == "already_recorded"
    assert shop.balance("ann").available == 10

    # The owner refunds the rest from Stripe's dashboard: the event takes the credits back.
    payment_id = shop.get_purchase(purchase_id).payment_id
    assert payment_id is not None
    shop.jeton.payments.get("stripe").refund(provider_payment_id=payment_id,
                                             amount_minor=3000, idempotency_key="dashboard-1")
    assert _deliver(shop, fake, _last(fake, "charge.refunded")).detail == "refunded"
    assert shop.balance("ann").available == 0
    bought = shop.get_purchase(purchase_id)
    assert bought.refunded_minor == 6000
    assert bought.credits_taken_back == 20
    assert shop.account_balance("deferred", asset="USD").posted == 0
    ok(shop.jeton.store)


def test_a_chargeback_takes_back_the_credits_left_and_says_how_many_were_spent(
        shop: jeton.Community, fake: FakeStripe) -> None:
    purchase_id = _paid_on_checkout(shop, fake, "ann", "p50", "ann-p50")
    assert shop.balance("ann").available == 55  # 50 and a bonus of 5
    shop.spend("ann", 20, idempotency_key="ann-spends")
    payment_id = shop.get_purchase(purchase_id).payment_id
    assert payment_id is not None

    withdrawn = fake.dispute(payment_id, deliver=False)
    opened = _last(fake, "charge.dispute.created")
    assert _deliver(shop, fake, opened).status == "ignored"  # no money moved yet
    outcome = handle_provider_webhook(shop.jeton, "stripe", withdrawn.payload,
                                      withdrawn.headers)
    assert (outcome.status, outcome.detail) == ("processed", "disputed")

    assert shop.balance("ann").available == 0  # the 35 left are taken back
    bought = shop.get_purchase(purchase_id)
    assert (bought.refunded_minor, bought.credits_taken_back) == (15000, 35)
    with shop.jeton.store.read() as conn:
        [refund] = conn.execute(sa.select(
            refunds.c.kind, refunds.c.amount_minor, refunds.c.credits_taken)).all()
    assert tuple(refund) == ("dispute", 15000, 35)
    [told] = events(shop.jeton.store, "purchase.refunded", "ann")
    assert (told["kind"], told["credits_taken"], told["credits_short"]) == ("dispute", 35, 20)
    # The same event again changes nothing.
    again = handle_provider_webhook(shop.jeton, "stripe", withdrawn.payload, withdrawn.headers)
    assert again.status == "duplicate"
    assert shop.get_purchase(purchase_id).refunded_minor == 15000
    ok(shop.jeton.store)
