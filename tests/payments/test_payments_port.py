"""The port's value types, its errors, the signing scheme and the argument checks."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime

import pytest

import jeton.payments
from jeton.core.errors import Declined, InvalidRequest, JetonError, NotFound
from jeton.core.statuses import Status
from jeton.payments import (
    ChargeResult,
    ChargeStatus,
    DemoProvider,
    PaymentError,
    PaymentEvent,
    PaymentEventKind,
    PaymentNotFound,
    ProviderDeclined,
    ProviderRejected,
    ProviderUnavailable,
    SignatureInvalid,
    SignedWebhook,
    WebhookInvalid,
    _signing,
    _validate,
)


def test_public_names_are_sorted_and_all_importable() -> None:
    names = jeton.payments.__all__

    def isort_style(name: str) -> tuple[int, str]:  # the order ruff's RUF022 keeps
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=isort_style)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(jeton.payments, name), name


def test_value_types_are_frozen() -> None:
    event = PaymentEvent(provider="demo", kind=PaymentEventKind.checkout_completed,
                         event_id="evt_1", occurred_at=datetime.now(UTC), purchase_id="p1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.purchase_id = "p2"  # type: ignore[misc]
    webhook = SignedWebhook(b"{}", {"Stripe-Signature": "t=1,v1=x"})
    with pytest.raises(TypeError):
        webhook.headers["Stripe-Signature"] = "forged"  # type: ignore[index]


def test_no_value_type_has_a_field_for_card_data() -> None:
    suspicious = ("card", "pan", "cvc", "cvv", "number", "expiry", "exp_")
    for cls in (jeton.payments.Checkout, jeton.payments.CheckoutState, PaymentEvent,
                ChargeResult, jeton.payments.RefundResult, SignedWebhook):
        for f in dataclasses.fields(cls):
            assert not any(word in f.name for word in suspicious), (cls.__name__, f.name)


def test_error_tree_answers_like_the_core_errors() -> None:
    assert issubclass(SignatureInvalid, WebhookInvalid)
    assert issubclass(WebhookInvalid, InvalidRequest)
    assert issubclass(ProviderDeclined, Declined)
    assert issubclass(PaymentNotFound, NotFound)
    assert issubclass(PaymentNotFound, ProviderRejected)
    for cls in (WebhookInvalid, ProviderDeclined, ProviderUnavailable, ProviderRejected):
        assert issubclass(cls, PaymentError)
        assert issubclass(cls, JetonError)
    error = ProviderRejected("nope", provider="stripe", status=Status.idempotency_conflict,
                             code="idempotency_error")
    assert (error.status, error.provider, error.extra["code"]) == (
        Status.idempotency_conflict, "stripe", "idempotency_error")


@pytest.mark.parametrize("status", [ChargeStatus.succeeded, ChargeStatus.processing])
def test_a_charge_that_is_not_refused_raises_nothing(status: ChargeStatus) -> None:
    ChargeResult("demo", status, "pi_1", 100, "USD").raise_for_failure()


def test_a_refused_charge_raises_provider_declined_on_request() -> None:
    result = ChargeResult("demo", ChargeStatus.failed, "pi_1", 100, "USD",
                          failure_reason="insufficient_funds")
    with pytest.raises(ProviderDeclined) as caught:
        result.raise_for_failure()
    assert caught.value.extra["code"] == "insufficient_funds"
    assert caught.value.status is Status.declined


# -- signatures --------------------------------------------------------------------------------


def test_signature_round_trip_and_refusals() -> None:
    now = int(time.time())
    header = _signing.signature_header(b'{"a": 1}', "secret", now)
    _signing.verify(b'{"a": 1}', header, "secret", now_s=now, tolerance_s=300, provider="t")
    refusals = [
        (b'{"a": 2}', header, "secret", now),            # body changed
        (b'{"a": 1}', header, "other", now),             # another secret
        (b'{"a": 1}', header, "secret", now + 301),      # too old
        (b'{"a": 1}', header, "secret", now - 301),      # from the future
        (b'{"a": 1}', None, "secret", now),              # no header
        (b'{"a": 1}', "v1=abc", "secret", now),          # no timestamp
        (b'{"a": 1}', "t=x,v1=abc", "secret", now),      # timestamp not a number
        (b'{"a": 1}', f"t={now}", "secret", now),        # no signature
    ]
    for payload, bad_header, secret, at in refusals:
        with pytest.raises(SignatureInvalid):
            _signing.verify(payload, bad_header, secret, now_s=at, tolerance_s=300,
                            provider="t")


def test_any_of_several_signatures_may_match() -> None:
    """Providers send two v1 signatures while a secret is being rolled."""
    header = _signing.signature_header(b"x", "new", 100)
    both = f"t=100,v1={'0' * 64},{header.split(',')[1]}"
    _signing.verify(b"x", both, "new", now_s=100, tolerance_s=300, provider="t")


def test_header_lookup_ignores_case() -> None:
    assert _signing.header_value({"stripe-signature": "v"}, "Stripe-Signature") == "v"
    assert _signing.header_value({}, "Stripe-Signature") is None


# -- argument checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "4242424242424242", "card 4111 1111 1111 1111 please", "5555-5555-5555-4444",
    "378282246310005",
])
def test_text_with_a_card_number_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match="card number"):
        _validate.reject_card_number(text, "note")


@pytest.mark.parametrize("text", [
    "check 1042", "20 credits", "4242424242424241",  # fails Luhn
    "order 12345678901234567890123",  # too long to be a card number
])
def test_ordinary_text_is_accepted(text: str) -> None:
    _validate.reject_card_number(text, "note")


def test_checkout_arguments_are_normalized() -> None:
    provider = DemoProvider()
    checkout = provider.create_checkout(
        community_id="c", member_id="m", purchase_id="p", description="20 credits",
        amount_minor=6000, currency="usd", success_url="https://a.example/ok",
        cancel_url="http://127.0.0.1:8000/no", save_payment_method=False, customer_id=None)
    assert provider.get_checkout(checkout.session_id).currency == "USD"


@pytest.mark.parametrize(("field", "value"), [
    ("amount_minor", -5), ("amount_minor", True), ("amount_minor", 2**63),
    ("currency", "US"), ("success_url", "javascript:alert(1)"), ("success_url", "https://[Q"),
    ("cancel_url", "https://a.example/\nx"), ("description", ""),
    ("description", "x" * 251), ("member_id", "has space"), ("customer_id", "cus 1"),
    ("save_payment_method", "yes"),
])
def test_bad_checkout_arguments_are_refused(field: str, value: object) -> None:
    args: dict[str, object] = {
        "community_id": "c", "member_id": "m", "purchase_id": "p", "description": "d",
        "amount_minor": 1, "currency": "USD", "success_url": "https://a.example/ok",
        "cancel_url": "https://a.example/no", "save_payment_method": False, "customer_id": None,
    }
    args[field] = value
    with pytest.raises(InvalidRequest):
        DemoProvider().create_checkout(**args)  # type: ignore[arg-type]
