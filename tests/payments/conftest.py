"""Fixtures for the payment providers: a fake Stripe on 127.0.0.1, the real SDK pointed at it,
and a webhook receiver. Every server is started and stopped by the test that uses it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jeton.payments._server import BackgroundServer
from jeton.payments.fake_stripe import FakeStripe
from jeton.payments.stripe_provider import StripeProvider


@pytest.fixture(autouse=True)
def no_server_outlives_its_test() -> Iterator[None]:
    """Every server a test starts must be stopped by the end of that test."""
    before = set(threading.enumerate())
    yield
    left = [t.name for t in set(threading.enumerate()) - before
            if t.name in ("fake-stripe", "jeton-test-server") and t.is_alive()]
    assert not left, f"servers still running after the test: {left}"


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def stripe_provider(fake_stripe: FakeStripe) -> Iterator[StripeProvider]:
    # No SDK retries: a failure should show at once, not after back-off sleeps.
    with StripeProvider(fake_stripe.api_key, fake_stripe.webhook_secret,
                        api_base=fake_stripe.base_url, max_network_retries=0) as provider:
        yield provider


def checkout_args(**overrides: Any) -> dict[str, Any]:
    """Arguments of `create_checkout` for "20 credits for $60", changed by `overrides`."""
    args: dict[str, Any] = {
        "community_id": "chess-club",
        "member_id": "ann",
        "purchase_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "description": "20 credits",
        "amount_minor": 6000,
        "currency": "USD",
        "success_url": "https://club.example/credits/thanks?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://club.example/credits",
        "save_payment_method": False,
    }
    args.update(overrides)
    return args


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class WebhookReceiver:
    url: str
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """An HTTP endpoint on 127.0.0.1 that records the webhooks POSTed to it."""
    received: list[Received] = []

    async def receive(request: Request) -> Response:
        received.append(Received(await request.body(), dict(request.headers)))
        return Response(status_code=200)

    server = BackgroundServer(Starlette(routes=[Route("/hooks", receive, methods=["POST"])]))
    base = server.start()
    try:
        yield WebhookReceiver(f"{base}/hooks", received)
    finally:
        server.stop()
