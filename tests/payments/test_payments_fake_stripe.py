"""The fake Stripe API itself: what a host app testing its own integration relies on."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe._encode import _api_encode  # the SDK's own form encoder, to check ours against

from jeton.payments._server import BackgroundServer
from jeton.payments._stripe_forms import decode_form
from jeton.payments.fake_stripe import DEFAULT_API_KEY, FakeStripe

from .conftest import WebhookReceiver

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def api(fake_stripe: FakeStripe) -> Iterator[httpx.Client]:
    """A raw HTTP client for the fake, authenticated like the SDK."""
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    with httpx.Client(base_url=fake_stripe.base_url, headers=headers, timeout=5,
                      trust_env=False) as client:
        yield client


def test_fake_serves_on_loopback_and_stops(fake_stripe: FakeStripe) -> None:
    assert fake_stripe.base_url.startswith("http://127.0.0.1:")
    with pytest.raises(RuntimeError, match="already running"):
        fake_stripe.start()


def test_fake_frees_its_port_when_stopped() -> None:
    fake = FakeStripe()
    base = fake.start()
    fake.stop()
    fake.stop()  # twice is harmless
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/v1/customers/cus_1", timeout=2, trust_env=False)


def test_requests_without_the_api_key_get_401(fake_stripe: FakeStripe) -> None:
    answer = httpx.post(f"{fake_stripe.base_url}/v1/customers", timeout=5, trust_env=False)
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_unknown_parameters_are_refused_like_stripe(api: httpx.Client) -> None:
    answer = api.post("/v1/customers", data={"emial": "ann@club.example"})
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "type": "invalid_request_error", "message": "Received unknown parameter: emial",
        "code": "parameter_unknown", "param": "emial"}


def test_unknown_urls_get_a_stripe_error_envelope(api: httpx.Client) -> None:
    answer = api.get("/v1/nothing/here/at/all")
    assert answer.status_code == 404
    assert "Unrecognized request URL" in answer.json()["error"]["message"]


def test_idempotency_key_replays_the_first_answer(
    api: httpx.Client, fake_stripe: FakeStripe,
) -> None:
    first = api.post("/v1/customers", data={"metadata[member]": "ann"},
                     headers={"Idempotency-Key": "k1"})
    again = api.post("/v1/customers", data={"metadata[member]": "ann"},
                     headers={"Idempotency-Key": "k1"})
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(fake_stripe.objects("customer")) == 1

    other = api.post("/v1/customers", data={"metadata[member]": "bob"},
                     headers={"Idempotency-Key": "k1"})
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"


def test_confirming_without_a_way_back_is_refused_like_stripe(api: httpx.Client) -> None:
    customer = api.post("/v1/customers").json()["id"]
    answer = api.post("/v1/payment_intents", data={
        "amount": "500", "currency": "usd", "customer": customer,
        "payment_method": "pm_card_visa", "confirm": "true", "off_session": "true"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "return_url"


def test_checkout_session_needs_line_items(api: httpx.Client) -> None:
    answer = api.post("/v1/checkout/sessions",
                      data={"mode": "payment", "success_url": "https://a.example"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "line_items"


def test_events_are_posted_after_the_answer_to_the_webhook_url(
    api: httpx.Client, fake_stripe: FakeStripe, webhook_receiver: WebhookReceiver,
) -> None:
    fake_stripe.webhook_url = webhook_receiver.url
    customer = api.post("/v1/customers").json()["id"]
    charge = api.post("/v1/payment_intents", data={
        "amount": "500", "currency": "usd", "customer": customer,
        "payment_method": "pm_card_visa", "confirm": "true", "off_session": "true",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never"})
    assert charge.json()["status"] == "succeeded"
    refund = api.post("/v1/refunds", data={"payment_intent": charge.json()["id"]})
    assert refund.json()["amount"] == 500
    types = [e["type"] for e in fake_stripe.events]
    assert types == ["payment_intent.succeeded", "refund.created", "charge.refunded"]
    # Delivery runs after each answer is sent; by the time the test looks it may still run.
    wait_for(lambda: len(webhook_receiver.received) == 3)
    assert all("stripe-signature" in r.headers for r in webhook_receiver.received)


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_background_server_refuses_a_second_start() -> None:
    server = BackgroundServer(FakeStripe().app)
    server.start()
    try:
        with pytest.raises(RuntimeError):
            server.start()
    finally:
        server.stop()


# -- form decoding, checked against the SDK's encoder ------------------------------------------

_names = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)
_leaves = st.text(max_size=12)
_params = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3),
        st.dictionaries(_names, inner, min_size=1, max_size=3),
    ),
    max_leaves=12,
)


@given(st.dictionaries(_names, _params, min_size=1, max_size=4))
def test_decode_form_undoes_the_sdk_encoding(params: dict[str, Any]) -> None:
    # As the SDK's requestor does: encode, then put the brackets back for readability.
    body = urlencode(list(_api_encode(params))).replace("%5B", "[").replace("%5D", "]")
    assert decode_form(parse_qsl(body, keep_blank_values=True)) == params


def test_decode_form_nests_stripe_keys() -> None:
    pairs = [("line_items[0][price_data][currency]", "usd"),
             ("line_items[0][quantity]", "1"), ("metadata[a]", "b"), ("expand[]", "x"),
             ("expand[]", "y")]
    assert decode_form(pairs) == {
        "line_items": [{"price_data": {"currency": "usd"}, "quantity": "1"}],
        "metadata": {"a": "b"}, "expand": ["x", "y"]}
