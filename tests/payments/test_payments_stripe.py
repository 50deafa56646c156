"""The Stripe adapter, through the real Stripe SDK, against the fake Stripe API on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from jeton.config import Settings
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.payments import (
    ChargeStatus,
    CheckoutStatus,
    PaymentEventKind,
    PaymentNotFound,
    PaymentProvider,
    ProviderDeclined,
    ProviderRejected,
    ProviderUnavailable,
    RefundStatus,
    SignatureInvalid,
    StripeProvider,
    WebhookInvalid,
)
from jeton.payments.fake_stripe import FakeStripe
from jeton.payments.port import PaymentEvent

from .conftest import WebhookReceiver, checkout_args

pytestmark = pytest.mark.timeout(30)


def buy_and_pay(fake: FakeStripe, provider: StripeProvider, **overrides: object) -> PaymentEvent:
    """A member buys a pack and pays on the hosted page; returns the parsed webhook event."""
    checkout = provider.create_checkout(**checkout_args(**overrides))
    webhook = fake.complete_checkout(checkout.session_id)
    event = provider.parse_webhook(webhook.payload, webhook.headers)
    assert event is not None
    return event


# -- checkout ----------------------------------------------------------------------------------


def test_stripe_provider_implements_the_port(stripe_provider: StripeProvider) -> None:
    provider: PaymentProvider = stripe_provider
    assert isinstance(provider, PaymentProvider)
    assert provider.name == "stripe"


def test_completed_checkout_becomes_a_checkout_completed_event(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    checkout = stripe_provider.create_checkout(**checkout_args())
    assert checkout.provider == "stripe"
    assert checkout.url.startswith(fake_stripe.base_url)
    assert checkout.customer_id is None

    webhook = fake_stripe.complete_checkout(checkout.session_id)
    event = stripe_provider.parse_webhook(webhook.payload, webhook.headers)

    assert event is not None
    assert event.kind is PaymentEventKind.checkout_completed
    assert event.event_id.startswith("evt_")
    assert event.purchase_id == "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    assert (event.community_id, event.member_id) == ("chess-club", "ann")
    assert event.checkout_session_id == checkout.session_id
    assert (event.amount_minor, event.currency) == (6000, "USD")
    assert event.provider_payment_id is not None
    assert event.provider_payment_id.startswith("pi_")
    assert event.payment_method_id is None  # the member did not agree to save it


def test_checkout_that_saves_the_method_makes_a_customer_and_reports_the_method(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    checkout = stripe_provider.create_checkout(**checkout_args(save_payment_method=True))
    assert checkout.customer_id is not None

    webhook = fake_stripe.complete_checkout(checkout.session_id)
    event = stripe_provider.parse_webhook(webhook.payload, webhook.headers)

    assert event is not None
    assert event.customer_id == checkout.customer_id
    assert event.payment_method_id is not None
    assert fake_stripe.get(event.payment_method_id)["customer"] == checkout.customer_id
    session = fake_stripe.get(checkout.session_id)
    assert session["metadata"]["jeton_purchase_id"] == checkout_args()["purchase_id"]
    customer = fake_stripe.get(checkout.customer_id)
    assert customer["metadata"] == {"jeton_community_id": "chess-club", "jeton_member_id": "ann"}


def test_checkout_reuses_the_members_customer(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    first = stripe_provider.create_checkout(**checkout_args(save_payment_method=True))
    second = stripe_provider.create_checkout(**checkout_args(
        purchase_id="second-purchase", save_payment_method=True, customer_id=first.customer_id))
    assert second.customer_id == first.customer_id
    assert len(fake_stripe.objects("customer")) == 1


def test_asking_twice_for_one_purchase_returns_the_same_session(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    first = stripe_provider.create_checkout(**checkout_args(save_payment_method=True))
    again = stripe_provider.create_checkout(**checkout_args(save_payment_method=True))
    assert again == first
    assert len(fake_stripe.objects("checkout.session")) == 1
    assert len(fake_stripe.objects("customer")) == 1


def test_get_checkout_shows_open_then_paid(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    checkout = stripe_provider.create_checkout(**checkout_args())
    before = stripe_provider.get_checkout(checkout.session_id)
    assert (before.status, before.paid, before.provider_payment_id) == (
        CheckoutStatus.open, False, None)
    assert (before.amount_minor, before.currency) == (6000, "USD")
    assert before.purchase_id == checkout_args()["purchase_id"]

    fake_stripe.complete_checkout(checkout.session_id)
    after = stripe_provider.get_checkout(checkout.session_id)
    assert (after.status, after.paid) == (CheckoutStatus.complete, True)
    assert after.provider_payment_id is not None


def test_get_checkout_of_an_unknown_session_is_not_found(
    stripe_provider: StripeProvider,
) -> None:
    with pytest.raises(PaymentNotFound) as caught:
        stripe_provider.get_checkout("cs_test_nope")
    assert caught.value.status is Status.not_found
    assert caught.value.extra["code"] == "resource_missing"


def test_expired_checkout_becomes_a_checkout_expired_event(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    checkout = stripe_provider.create_checkout(**checkout_args())
    webhook = fake_stripe.expire_checkout(checkout.session_id)
    event = stripe_provider.parse_webhook(webhook.payload, webhook.headers)
    assert event is not None
    assert event.kind is PaymentEventKind.checkout_expired
    assert stripe_provider.get_checkout(checkout.session_id).status is CheckoutStatus.expired


def test_hosted_page_pays_and_returns_to_the_success_url(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    checkout = stripe_provider.create_checkout(**checkout_args())
    with httpx.Client(timeout=5, trust_env=False) as browser:
        page = browser.get(checkout.url)
        assert page.status_code == 200
        assert "Pay" in page.text
        paid = browser.post(checkout.url, data={"action": "pay"})
    assert paid.status_code == 303
    assert paid.headers["location"] == (
        f"https://club.example/credits/thanks?session={checkout.session_id}")
    assert stripe_provider.get_checkout(checkout.session_id).paid


# -- webhooks ----------------------------------------------------------------------------------


def test_tampered_payload_is_refused(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    checkout = stripe_provider.create_checkout(**checkout_args())
    webhook = fake_stripe.complete_checkout(checkout.session_id)
    tampered = webhook.payload.replace(b'"amount_total": 6000', b'"amount_total": 600000')
    assert tampered != webhook.payload
    with pytest.raises(SignatureInvalid):
        stripe_provider.parse_webhook(tampered, webhook.headers)


def test_event_signed_with_another_secret_is_refused(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    event = {"id": "evt_1", "object": "event", "type": "checkout.session.completed",
             "created": int(time.time()), "data": {"object": {}}}
    webhook = fake_stripe.signed(event, secret="whsec_someone_else")
    with pytest.raises(SignatureInvalid):
        stripe_provider.parse_webhook(webhook.payload, webhook.headers)


def test_event_signed_too_long_ago_is_refused(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    checkout = stripe_provider.create_checkout(**checkout_args())
    fake_stripe.complete_checkout(checkout.session_id)
    event = fake_stripe.events[-1]
    stale = fake_stripe.signed(event, timestamp_s=int(time.time()) - 3600)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        stripe_provider.parse_webhook(stale.payload, stale.headers)


def test_webhook_without_signature_header_is_refused(stripe_provider: StripeProvider) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        stripe_provider.parse_webhook(b'{"id": "evt_1"}', {})
    assert caught.value.status is Status.value_invalid
    assert isinstance(caught.value, InvalidRequest)


def test_signed_body_that_is_not_json_is_invalid(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    webhook = fake_stripe.sign(b"not json")
    with pytest.raises(WebhookInvalid):
        stripe_provider.parse_webhook(webhook.payload, webhook.headers)


def test_header_names_match_whatever_their_case(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    checkout = stripe_provider.create_checkout(**checkout_args())
    webhook = fake_stripe.complete_checkout(checkout.session_id)
    lower = {k.lower(): v for k, v in webhook.headers.items()}
    event = stripe_provider.parse_webhook(webhook.payload, lower)
    assert event is not None


def test_events_about_objects_jeton_did_not_make_are_ignored(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    foreign = {"id": "evt_2", "object": "event", "type": "checkout.session.completed",
               "created": int(time.time()),
               "data": {"object": {"id": "cs_other", "object": "checkout.session",
                                   "metadata": {"order": "42"}}}}
    webhook = fake_stripe.signed(foreign)
    assert stripe_provider.parse_webhook(webhook.payload, webhook.headers) is None


def test_event_types_jeton_does_not_act_on_are_ignored(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    other = {"id": "evt_3", "object": "event", "type": "customer.updated",
             "created": int(time.time()),
             "data": {"object": {"id": "cus_1", "metadata": {"jeton_purchase_id": "p"}}}}
    webhook = fake_stripe.signed(other)
    assert stripe_provider.parse_webhook(webhook.payload, webhook.headers) is None


def test_unpaid_completed_checkout_is_pending_until_the_money_arrives(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    session = {"id": "cs_1", "object": "checkout.session", "payment_status": "unpaid",
               "amount_total": 6000, "currency": "usd", "payment_intent": "pi_1",
               "metadata": {"jeton_purchase_id": "p1", "jeton_save_payment_method": "false"}}

    def event(kind: str) -> PaymentEvent | None:
        body = {"id": f"evt_{kind}", "object": "event", "type": kind,
                "created": int(time.time()), "data": {"object": session}}
        webhook = fake_stripe.signed(body)
        return stripe_provider.parse_webhook(webhook.payload, webhook.headers)

    pending = event("checkout.session.completed")
    assert pending is not None
    assert pending.kind is PaymentEventKind.checkout_pending
    paid = event("checkout.session.async_payment_succeeded")
    assert paid is not None
    assert paid.kind is PaymentEventKind.checkout_completed
    failed = event("checkout.session.async_payment_failed")
    assert failed is not None
    assert failed.kind is PaymentEventKind.payment_failed


def test_fake_posts_signed_events_to_the_webhook_url(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider, webhook_receiver: WebhookReceiver,
) -> None:
    fake_stripe.webhook_url = webhook_receiver.url
    checkout = stripe_provider.create_checkout(**checkout_args())
    fake_stripe.complete_checkout(checkout.session_id)

    kinds = []
    for request in webhook_receiver.received:
        event = stripe_provider.parse_webhook(request.body, request.headers)
        assert event is not None
        kinds.append(event.kind)
    assert kinds == [PaymentEventKind.payment_succeeded, PaymentEventKind.checkout_completed]
    assert {d.status_code for d in fake_stripe.deliveries} == {200}


def test_fake_refuses_a_webhook_url_off_this_machine() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        FakeStripe(webhook_url="https://hooks.example/stripe")


# -- off-session charges -----------------------------------------------------------------------


def test_saved_method_is_charged_off_session(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    first = buy_and_pay(fake_stripe, stripe_provider, save_payment_method=True)
    assert first.customer_id is not None
    assert first.payment_method_id is not None

    result = stripe_provider.charge_saved_method(
        customer_id=first.customer_id, payment_method_id=first.payment_method_id,
        amount_minor=1500, currency="usd", purchase_id="recharge-1",
        idempotency_key="recharge-1", community_id="chess-club", member_id="ann")

    assert result.status is ChargeStatus.succeeded
    assert result.succeeded
    assert (result.amount_minor, result.currency) == (1500, "USD")
    assert result.provider_payment_id is not None
    result.raise_for_failure()  # does nothing on success
    intent = fake_stripe.get(result.provider_payment_id)
    assert intent["metadata"] == {"jeton_purchase_id": "recharge-1",
                                  "jeton_community_id": "chess-club", "jeton_member_id": "ann"}
    succeeded = fake_stripe.signed(fake_stripe.events[-1])
    event = stripe_provider.parse_webhook(succeeded.payload, succeeded.headers)
    assert event is not None
    assert event.kind is PaymentEventKind.payment_succeeded
    assert (event.purchase_id, event.amount_minor) == ("recharge-1", 1500)


@pytest.mark.parametrize(("method", "status", "reason"), [
    ("pm_card_chargeDeclined", ChargeStatus.failed, "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", ChargeStatus.failed, "insufficient_funds"),
    ("pm_card_authenticationRequired", ChargeStatus.requires_action, "authentication_required"),
])
def test_declined_card_is_a_failed_result_not_an_exception(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
    method: str, status: ChargeStatus, reason: str,
) -> None:
    customer = fake_stripe_customer(stripe_provider)
    result = stripe_provider.charge_saved_method(
        customer_id=customer, payment_method_id=method, amount_minor=1500, currency="USD",
        purchase_id="recharge-2", idempotency_key=f"recharge-2-{method}")

    assert (result.status, result.failure_reason) == (status, reason)
    assert result.failure_message
    assert result.provider_payment_id is not None
    assert fake_stripe.get(result.provider_payment_id)["status"] == "requires_payment_method"
    with pytest.raises(ProviderDeclined) as caught:
        result.raise_for_failure()
    assert caught.value.extra["code"] == reason


def test_method_that_starts_declining_fails_the_next_charge(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    first = buy_and_pay(fake_stripe, stripe_provider, save_payment_method=True)
    assert first.customer_id is not None
    assert first.payment_method_id is not None
    fake_stripe.decline(first.payment_method_id, "card_velocity_exceeded")
    result = stripe_provider.charge_saved_method(
        customer_id=first.customer_id, payment_method_id=first.payment_method_id,
        amount_minor=1500, currency="USD", purchase_id="recharge-3",
        idempotency_key="recharge-3")
    assert (result.status, result.failure_reason) == (
        ChargeStatus.failed, "card_velocity_exceeded")
    failed = fake_stripe.signed(fake_stripe.events[-1])
    event = stripe_provider.parse_webhook(failed.payload, failed.headers)
    assert event is not None
    assert (event.kind, event.failure_reason) == (
        PaymentEventKind.payment_failed, "card_velocity_exceeded")


def test_same_idempotency_key_returns_the_same_payment_intent(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    customer = fake_stripe_customer(stripe_provider)
    args = {"customer_id": customer, "payment_method_id": "pm_card_visa", "amount_minor": 900,
            "currency": "USD", "purchase_id": "renewal-7", "idempotency_key": "renewal-7"}
    first = stripe_provider.charge_saved_method(**args)  # type: ignore[arg-type]
    again = stripe_provider.charge_saved_method(**args)  # type: ignore[arg-type]
    assert again == first
    assert len(fake_stripe.objects("payment_intent")) == 1


def test_declined_charge_replays_as_declined(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    customer = fake_stripe_customer(stripe_provider)
    args = {"customer_id": customer, "payment_method_id": "pm_card_chargeDeclined",
            "amount_minor": 900, "currency": "USD", "purchase_id": "renewal-8",
            "idempotency_key": "renewal-8"}
    first = stripe_provider.charge_saved_method(**args)  # type: ignore[arg-type]
    again = stripe_provider.charge_saved_method(**args)  # type: ignore[arg-type]
    assert again == first
    assert len(fake_stripe.objects("payment_intent")) == 1


def test_same_idempotency_key_with_another_amount_is_rejected(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    customer = fake_stripe_customer(stripe_provider)
    stripe_provider.charge_saved_method(
        customer_id=customer, payment_method_id="pm_card_visa", amount_minor=900,
        currency="USD", purchase_id="renewal-9", idempotency_key="renewal-9")
    with pytest.raises(ProviderRejected) as caught:
        stripe_provider.charge_saved_method(
            customer_id=customer, payment_method_id="pm_card_visa", amount_minor=901,
            currency="USD", purchase_id="renewal-9", idempotency_key="renewal-9")
    assert caught.value.status is Status.idempotency_conflict


def test_charging_an_unknown_customer_is_not_found(stripe_provider: StripeProvider) -> None:
    with pytest.raises(PaymentNotFound):
        stripe_provider.charge_saved_method(
            customer_id="cus_nobody", payment_method_id="pm_card_visa", amount_minor=900,
            currency="USD", purchase_id="renewal-10", idempotency_key="renewal-10")


# -- refunds -----------------------------------------------------------------------------------


def test_refund_in_parts_until_nothing_is_left(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    paid = buy_and_pay(fake_stripe, stripe_provider)
    assert paid.provider_payment_id is not None

    part = stripe_provider.refund(provider_payment_id=paid.provider_payment_id,
                                  amount_minor=1000, idempotency_key="refund-1")
    assert (part.status, part.amount_minor, part.currency) == (RefundStatus.succeeded, 1000, "USD")
    assert part.refund_id.startswith("re_")
    again = stripe_provider.refund(provider_payment_id=paid.provider_payment_id,
                                   amount_minor=1000, idempotency_key="refund-1")
    assert again == part  # a retried refund gives back nothing more

    stripe_provider.refund(provider_payment_id=paid.provider_payment_id, amount_minor=5000,
                           idempotency_key="refund-2")
    refunded = fake_stripe.signed(fake_stripe.events[-1])
    event = stripe_provider.parse_webhook(refunded.payload, refunded.headers)
    assert event is not None
    assert event.kind is PaymentEventKind.refunded
    assert (event.purchase_id, event.amount_minor) == (paid.purchase_id, 6000)  # cumulative

    with pytest.raises(ProviderRejected) as caught:
        stripe_provider.refund(provider_payment_id=paid.provider_payment_id, amount_minor=1,
                               idempotency_key="refund-3")
    assert caught.value.extra["code"] == "charge_already_refunded"


def test_refund_of_an_unknown_payment_is_not_found(stripe_provider: StripeProvider) -> None:
    with pytest.raises(PaymentNotFound):
        stripe_provider.refund(provider_payment_id="pi_nope", amount_minor=100,
                               idempotency_key="refund-4")


# -- configuration and failures ----------------------------------------------------------------


def test_wrong_api_key_is_rejected(fake_stripe: FakeStripe) -> None:
    with StripeProvider("sk_test_wrong", fake_stripe.webhook_secret, fake_stripe.base_url,
                        max_network_retries=0) as provider, pytest.raises(ProviderRejected):
        provider.create_checkout(**checkout_args())


def test_unreachable_stripe_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with StripeProvider("sk_test_x", "whsec_x", f"http://127.0.0.1:{port}",
                        max_network_retries=0) as provider, pytest.raises(ProviderUnavailable):
        provider.get_checkout("cs_test_1")


def test_api_base_in_clear_text_is_refused_off_this_machine() -> None:
    with pytest.raises(InvalidRequest, match="loopback"):
        StripeProvider("sk_test_x", "whsec_x", "http://stripe.internal.example")


@pytest.mark.parametrize(("key", "secret"), [("", "whsec_x"), ("sk_test_x", "")])
def test_missing_credentials_are_refused(key: str, secret: str) -> None:
    with pytest.raises(InvalidRequest):
        StripeProvider(key, secret)


def test_provider_is_configured_from_the_environment(
    fake_stripe: FakeStripe,
) -> None:
    settings = Settings.from_env({
        "JETON_STRIPE_API_KEY": fake_stripe.api_key,
        "JETON_STRIPE_WEBHOOK_SECRET": fake_stripe.webhook_secret,
        "JETON_STRIPE_API_BASE": fake_stripe.base_url,
    })
    with StripeProvider.from_settings(settings) as provider:
        checkout = provider.create_checkout(**checkout_args())
        assert provider.get_checkout(checkout.session_id).status is CheckoutStatus.open


def test_bad_arguments_are_refused_before_anything_is_sent(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    for bad in ({"currency": "dollars"}, {"amount_minor": 0}, {"success_url": "/relative"},
                {"description": "card 4242 4242 4242 4242"}):
        with pytest.raises(InvalidRequest):
            stripe_provider.create_checkout(**checkout_args(**bad))
    assert fake_stripe.objects("checkout.session") == []


def fake_stripe_customer(provider: StripeProvider) -> str:
    """A customer on the fake, made the way the adapter makes them."""
    checkout = provider.create_checkout(**checkout_args(
        purchase_id=f"setup-{time.monotonic_ns()}", save_payment_method=True))
    assert checkout.customer_id is not None
    return checkout.customer_id


def test_event_body_is_what_stripe_sends(
    fake_stripe: FakeStripe, stripe_provider: StripeProvider,
) -> None:
    """The fake's events have Stripe's envelope, so code that reads raw events can rely on it."""
    checkout = stripe_provider.create_checkout(**checkout_args())
    body = json.loads(fake_stripe.complete_checkout(checkout.session_id).payload)
    assert body["object"] == "event"
    assert body["type"] == "checkout.session.completed"
    assert body["data"]["object"]["client_reference_id"] == checkout_args()["purchase_id"]
    assert body["data"]["object"]["payment_status"] == "paid"
