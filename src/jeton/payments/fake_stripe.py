"""A small fake of the Stripe HTTP API, for testing against the real Stripe SDK offline.

Why a fake server rather than mocks: the adapter's risk is in what the SDK sends and receives
(form encoding, idempotency headers, error envelopes, webhook signatures). Serving the subset of
Stripe's API that Jeton uses over real HTTP on 127.0.0.1 exercises all of it, with no network and
no Stripe account. It ships in the package so that a host app can test its own integration too.

    with FakeStripe() as fake:                      # serves on http://127.0.0.1:<free port>
        provider = StripeProvider(fake.api_key, fake.webhook_secret, api_base=fake.base_url)
        checkout = provider.create_checkout(...)
        webhook = fake.complete_checkout(checkout.session_id)   # the member paid
        event = provider.parse_webhook(webhook.payload, webhook.headers)

What it serves (form-encoded bodies, Stripe-shaped JSON and error envelopes):
    POST /v1/customers                  GET /v1/customers/{id}
    POST /v1/checkout/sessions          GET /v1/checkout/sessions/{id}
    POST /v1/payment_intents            GET /v1/payment_intents/{id}
    POST /v1/refunds                    GET /v1/refunds/{id}, /v1/charges/{id},
                                            /v1/payment_methods/{id}, /v1/disputes/{id}
    GET/POST /c/pay/{session id}        a bare hosted checkout page with Pay and Cancel buttons

Behaviour worth knowing:
- `Authorization: Bearer <api_key>` is required; a wrong key gets Stripe's 401.
- `Idempotency-Key`: the same key with the same request replays the first answer (errors too,
  as Stripe does) with `Idempotent-Replayed: true`; with a different request it is a 400
  `idempotency_error`.
- Unknown parameters are refused with a 400, as Stripe does, so adapter typos show up in tests.
- Off-session confirmation succeeds unless the payment method is one of Stripe's test decline
  methods (`pm_card_chargeDeclined`, `pm_card_chargeDeclinedInsufficientFunds`,
  `pm_card_chargeDeclinedExpiredCard`, `pm_card_authenticationRequired`) or was marked with
  `decline()`; then it answers 402 `card_error` like Stripe.
- `dispute()` plays a chargeback on a paid PaymentIntent (`charge.dispute.created`, then
  `charge.dispute.funds_withdrawn`).
- Events are recorded in `events`, signed with `webhook_secret` in the `Stripe-Signature`
  format, and POSTed to `webhook_url` if one is set (a 127.0.0.1 URL only).

It binds to and talks to 127.0.0.1 only, keeps everything in memory, and is not a full or exact
model of Stripe: it covers what `StripeProvider` uses.
"""

from __future__ import annotations

import copy
import html
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from jeton.payments import _signing, limits
from jeton.payments import _stripe_forms as forms
from jeton.payments._server import HOST, BackgroundServer
from jeton.payments.port import SignedWebhook

DEFAULT_API_KEY = "sk_test_jeton_fake"
DEFAULT_WEBHOOK_SECRET = "whsec_jeton_fake"  # noqa: S105 - a fixed secret of a local test double

# Stripe's test payment methods that fail, by id: (error code, decline code, message).
DECLINING_PAYMENT_METHODS: Mapping[str, tuple[str, str, str]] = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card",
                                          "Your card has expired."),
    "pm_card_authenticationRequired": (
        "authentication_required", "authentication_required",
        "Your card was declined. This transaction requires authentication."),
}
# Any other `pm_card_…` id stands for a working test card, as in Stripe's test mode.
_TEST_CARD_PREFIX = "pm_card_"

_CHECKOUT_TTL_S = 24 * 3600  # Stripe's default lifetime of a Checkout Session
_COLLECTIONS = {
    "customers": "customer",
    "payment_intents": "payment_intent",
    "payment_methods": "payment_method",
    "charges": "charge",
    "refunds": "refund",
    "disputes": "dispute",
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to POST an event to `webhook_url`: the HTTP status, or the error."""

    event_id: str
    status_code: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Answer:
    status_code: int
    body: dict[str, Any]
    fingerprint: str


class FakeStripe:
    """The fake Stripe API: state, a Starlette app over it, and test controls. Thread-safe."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        webhook_url: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self._webhook_url = _loopback_url(webhook_url) if webhook_url else None
        self._lock = threading.RLock()
        self._objects: dict[str, dict[str, Any]] = {}
        # What Stripe knows about a session but does not show on it.
        self._session_setup: dict[str, dict[str, Any]] = {}
        self._answers: dict[str, _Answer] = {}
        self._declines: dict[str, tuple[str, str, str]] = dict(DECLINING_PAYMENT_METHODS)
        self._events: list[dict[str, Any]] = []
        self._deliveries: list[Delivery] = []
        self._serial = itertools.count(1)
        self._server: BackgroundServer | None = None
        self.app = self._build_app()

    # -- running --------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on 127.0.0.1 and a free port, in a background thread; returns the base URL."""
        if self._server is not None:
            raise RuntimeError("this FakeStripe is already running")
        self._server = BackgroundServer(self.app, name="fake-stripe")
        return self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()

    @property
    def base_url(self) -> str:
        """The URL to give the SDK as its API base (`JETON_STRIPE_API_BASE`)."""
        if self._server is None:
            raise RuntimeError("this FakeStripe is not running; call start() first")
        return self._server.base_url

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test controls --------------------------------------------------------------------------

    @property
    def webhook_url(self) -> str | None:
        return self._webhook_url

    @webhook_url.setter
    def webhook_url(self, value: str | None) -> None:
        self._webhook_url = _loopback_url(value) if value else None

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event made so far, oldest first (copies)."""
        with self._lock:
            return copy.deepcopy(self._events)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def get(self, object_id: str) -> dict[str, Any]:
        """A copy of any object by id (`cus_…`, `cs_…`, `pi_…`, `pm_…`, `ch_…`, `re_…`)."""
        with self._lock:
            if object_id not in self._objects:
                raise KeyError(object_id)
            return copy.deepcopy(self._objects[object_id])

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Copies of every object of one kind (`payment_intent`, `checkout.session`, ...)."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values() if o["object"] == kind]

    def decline(self, payment_method_id: str, decline_code: str = "generic_decline") -> None:
        """Make later charges of this payment method fail with a card decline."""
        with self._lock:
            self._declines[payment_method_id] = ("card_declined", decline_code,
                                                 "Your card was declined.")

    def complete_checkout(self, session_id: str, *, deliver: bool = True) -> SignedWebhook:
        """The member pays: mark the session paid and return the signed
        `checkout.session.completed` event (also POSTed to `webhook_url` if `deliver`).

        Like Stripe, this makes the PaymentIntent and its charge, and, when the session saves
        the method, a PaymentMethod attached to the session's customer (made if there is none).
        """
        with self._lock:
            events = self._complete(session_id)
        if deliver:
            self._deliver(events)
        return self.signed(events[-1])

    def expire_checkout(self, session_id: str, *, deliver: bool = True) -> SignedWebhook:
        """The member never paid: close the session and return `checkout.session.expired`."""
        with self._lock:
            session = self._session(session_id)
            if session["status"] != "open":
                raise ValueError(f"checkout session {session_id} is {session['status']}")
            session["status"] = "expired"
            event = self._event("checkout.session.expired", session)
        if deliver:
            self._deliver([event])
        return self.signed(event)

    def dispute(self, payment_intent_id: str, amount: int | None = None, *,
                reason: str = "fraudulent", deliver: bool = True) -> SignedWebhook:
        """The card holder disputes the payment and the bank takes the money back: a Dispute on
        its charge (all of it unless `amount`), `charge.dispute.created` then
        `charge.dispute.funds_withdrawn`. Returns the second, signed. Like Stripe's, the
        dispute carries no metadata of its own: a receiver looks at its PaymentIntent."""
        with self._lock:
            intent = self._find(payment_intent_id, "payment_intent")
            charge = self._find(intent["latest_charge"] or "", "charge")
            if not charge["paid"]:
                raise ValueError(f"payment {payment_intent_id} took no money to dispute")
            taken = charge["amount_captured"] if amount is None else amount
            dispute = self._put({
                "id": self._new_id("dp"), "object": "dispute", "amount": taken,
                "currency": charge["currency"], "charge": charge["id"],
                "payment_intent": intent["id"], "reason": reason,
                "status": "needs_response", "metadata": {}, "created": int(time.time()),
                "livemode": False,
            })
            charge["disputed"] = True
            events = [self._event("charge.dispute.created", dispute),
                      self._event("charge.dispute.funds_withdrawn", dispute)]
        if deliver:
            self._deliver(events)
        return self.signed(events[-1])

    def signed(self, event: Mapping[str, Any], *, timestamp_s: int | None = None,
               secret: str | None = None) -> SignedWebhook:
        """`event` as Stripe would POST it: JSON body and `Stripe-Signature` header."""
        return self.sign(json.dumps(event).encode("utf-8"), timestamp_s=timestamp_s,
                         secret=secret)

    def sign(self, payload: bytes, *, timestamp_s: int | None = None,
             secret: str | None = None) -> SignedWebhook:
        """Sign a raw body; pass another `timestamp_s` or `secret` to test refusals."""
        when = int(time.time()) if timestamp_s is None else timestamp_s
        header = _signing.signature_header(payload, secret or self.webhook_secret, when)
        return SignedWebhook(payload=payload, headers={"Stripe-Signature": header,
                                                       "Content-Type": "application/json"})

    # -- state changes (callers hold the lock) ---------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        # A serial number makes ids easy to read in a failing test; the random tail keeps ids
        # from two fakes (two tests sharing one database) apart. A letter between them (as in
        # Stripe's own ids): a tail of only digits made a run of 18 that passed the Luhn check,
        # a card number to the check that none is ever stored or logged.
        return f"{prefix}_{next(self._serial):06d}x{secrets.token_hex(6)}"

    def _put(self, obj: dict[str, Any]) -> dict[str, Any]:
        if len(self._objects) >= limits.fake_objects_max:
            raise forms.Fail(500, "the fake holds too many objects", type_="api_error")
        self._objects[obj["id"]] = obj
        return obj

    def _find(self, object_id: str, kind: str, param: str | None = None) -> dict[str, Any]:
        obj = self._objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise forms.Fail(404 if param is None else 400, f"No such {kind}: '{object_id}'",
                        code="resource_missing", param=param)
        return obj

    def _session(self, session_id: str) -> dict[str, Any]:
        obj = self._objects.get(session_id)
        if obj is None or obj["object"] != "checkout.session":
            raise KeyError(f"no checkout session {session_id}")
        return obj

    def _event(self, event_type: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        event = {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": None,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(dict(obj))},
            "livemode": False,
            "pending_webhooks": 1 if self._webhook_url else 0,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self._events.append(event)
        return event

    def _complete(self, session_id: str) -> list[dict[str, Any]]:
        session = self._session(session_id)
        if session["status"] != "open":
            raise ValueError(f"checkout session {session_id} is {session['status']}, not open")
        setup = self._session_setup[session_id]
        saving = setup["setup_future_usage"] is not None
        if saving and session["customer"] is None:
            session["customer"] = self._customer({})["id"]
        method = self._put({
            "id": self._new_id("pm"), "object": "payment_method", "type": "card",
            "created": int(time.time()), "livemode": False,
            "customer": session["customer"] if saving else None,
        })
        intent = self._intent(
            amount=session["amount_total"], currency=session["currency"],
            customer=session["customer"], metadata=setup["payment_intent_metadata"],
            setup_future_usage=setup["setup_future_usage"])
        events = self._confirm(intent, method["id"])
        session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
        events.append(self._event("checkout.session.completed", session))
        return events

    def _customer(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._put({
            "id": self._new_id("cus"), "object": "customer", "created": int(time.time()),
            "livemode": False, "email": params.get("email"), "name": params.get("name"),
            "description": params.get("description"),
            "metadata": forms.metadata(params.get("metadata")),
        })

    def _intent(self, *, amount: int, currency: str, customer: str | None,
                metadata: Mapping[str, str], setup_future_usage: str | None,
                description: str | None = None) -> dict[str, Any]:
        return self._put({
            "id": self._new_id("pi"), "object": "payment_intent", "amount": amount,
            "amount_received": 0, "currency": currency, "customer": customer,
            "created": int(time.time()), "description": description, "livemode": False,
            "metadata": dict(metadata), "payment_method": None, "latest_charge": None,
            "last_payment_error": None, "setup_future_usage": setup_future_usage,
            "status": "requires_payment_method",
        })

    def _confirm(self, intent: dict[str, Any], method_id: str) -> list[dict[str, Any]]:
        """Try to take the money; returns the events. A decline leaves `last_payment_error`."""
        charge = self._put({
            "id": self._new_id("ch"), "object": "charge", "amount": intent["amount"],
            "amount_captured": 0, "amount_refunded": 0, "currency": intent["currency"],
            "customer": intent["customer"], "metadata": dict(intent["metadata"]),
            "payment_intent": intent["id"], "payment_method": method_id, "paid": False,
            "refunded": False, "disputed": False, "status": "failed",
            "created": int(time.time()),
            "failure_code": None, "failure_message": None, "livemode": False,
        })
        intent.update(payment_method=method_id, latest_charge=charge["id"])
        decline = self._declines.get(method_id)
        if decline is None:
            charge.update(amount_captured=intent["amount"], paid=True, status="succeeded")
            intent.update(status="succeeded", amount_received=intent["amount"])
            return [self._event("payment_intent.succeeded", intent)]
        code, decline_code, message = decline
        charge.update(failure_code=code, failure_message=message)
        intent["last_payment_error"] = {
            "type": "card_error", "code": code, "decline_code": decline_code,
            "message": message, "charge": charge["id"],
            "payment_method": {"id": method_id, "object": "payment_method", "type": "card"},
        }
        return [self._event("payment_intent.payment_failed", intent)]

    # -- delivery -------------------------------------------------------------------------------

    def _deliver(self, events: Sequence[Mapping[str, Any]]) -> None:
        """POST events to `webhook_url`, one after the other, recording each attempt.

        Called without the lock held: the receiver may call back into this fake.
        """
        url = self._webhook_url
        if url is None:
            return
        # trust_env=False: never route a loopback request through a proxy from the environment.
        with httpx.Client(timeout=limits.fake_webhook_timeout_s, trust_env=False) as client:
            for event in events:
                webhook = self.signed(event)
                try:
                    answer = client.post(url, content=webhook.payload,
                                         headers=dict(webhook.headers))
                    delivery = Delivery(event["id"], answer.status_code)
                except httpx.HTTPError as exc:
                    delivery = Delivery(event["id"], None, f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self._deliveries.append(delivery)

    # -- HTTP -----------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        async def not_found(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            return JSONResponse({"error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({request.method}: {request.url.path}).",
            }}, status_code=status)

        routes = [
            Route("/v1/customers", self._api(self._create_customer), methods=["POST"]),
            Route("/v1/checkout/sessions", self._api(self._create_session), methods=["POST"]),
            Route("/v1/checkout/sessions/{object_id}", self._api(self._retrieve_session),
                  methods=["GET"]),
            Route("/v1/payment_intents", self._api(self._create_intent), methods=["POST"]),
            Route("/v1/refunds", self._api(self._create_refund), methods=["POST"]),
            Route("/v1/{collection}/{object_id}", self._api(self._retrieve), methods=["GET"]),
            Route("/c/pay/{session_id}", self._page, methods=["GET", "POST"]),
        ]
        return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})

    def _api(
        self, handler: Callable[[Request, dict[str, Any]], tuple[dict[str, Any], list[Any]]],
    ) -> Callable[[Request], Any]:
        """Wrap a handler with Stripe's auth, form decoding, idempotency and error envelope.

        A handler returns the object to answer with and the events it made; the events are
        delivered after the answer is sent, as Stripe does.
        """

        async def endpoint(request: Request) -> Response:
            request_id = f"req_x{secrets.token_hex(8)}"  # never a run of digits alone
            headers = {"Request-Id": request_id}
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return JSONResponse({"error": {
                    "type": "invalid_request_error",
                    "message": "Invalid API Key provided.",
                }}, status_code=401, headers=headers)
            body = await request.body()
            raw = body.decode("utf-8", "replace") if request.method == "POST" else ""
            raw = raw or request.url.query
            key = request.headers.get("idempotency-key")
            fingerprint = f"{request.method} {request.url.path}?{raw}"
            events: list[Any] = []
            with self._lock:
                stored = self._answers.get(key) if key and request.method == "POST" else None
                if stored is not None:
                    if stored.fingerprint != fingerprint:
                        return JSONResponse({"error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the "
                                       "same parameters they were first used with.",
                        }}, status_code=400, headers=headers)
                    return JSONResponse(stored.body, status_code=stored.status_code,
                                        headers={**headers, "Idempotent-Replayed": "true"})
                try:
                    params = forms.decode_form(parse_qsl(raw, keep_blank_values=True))
                    answer, events = handler(request, params)
                    status_code = 200
                except forms.Fail as fail:
                    answer, status_code, events = fail.body, fail.http_status, fail.events
                if key and request.method == "POST":
                    self._answers[key] = _Answer(status_code, answer, fingerprint)
            task = BackgroundTask(self._deliver, events) if events else None
            return JSONResponse(answer, status_code=status_code, headers=headers,
                                background=task)

        return endpoint

    def _create_customer(self, request: Request, params: dict[str, Any]
                         ) -> tuple[dict[str, Any], list[Any]]:
        forms.only_known(params, "customer")
        return self._customer(params), []

    def _create_session(self, request: Request, params: dict[str, Any]
                        ) -> tuple[dict[str, Any], list[Any]]:
        forms.only_known(params, "checkout.session")
        if params.get("mode") != "payment":
            raise forms.Fail(400, "This fake supports only mode=payment.", param="mode")
        success_url = forms.required(params, "success_url")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise forms.Fail(400, "Missing required param: line_items.", code="parameter_missing",
                        param="line_items")
        total, currency = 0, None
        for n, item in enumerate(items):
            price = item.get("price_data") if isinstance(item, dict) else None
            if not isinstance(price, dict):
                raise forms.Fail(400, "This fake supports only line_items with price_data.",
                            param=f"line_items[{n}][price_data]")
            item_currency = forms.required(price, "currency", f"line_items[{n}][price_data]")
            if currency not in (None, item_currency):
                raise forms.Fail(400, "All line items must have the same currency.",
                            param=f"line_items[{n}][price_data][currency]")
            currency = item_currency
            product = price.get("product_data")
            if not isinstance(product, dict) or not product.get("name"):
                raise forms.Fail(400, "Missing required param: product_data[name].",
                            code="parameter_missing",
                            param=f"line_items[{n}][price_data][product_data][name]")
            unit = forms.integer(price, "unit_amount", f"line_items[{n}][price_data]", minimum=0)
            total += unit * forms.integer(item, "quantity", f"line_items[{n}]", minimum=1)
        customer = params.get("customer") or None
        if customer is not None:
            self._find(customer, "customer", param="customer")
        intent_data = params.get("payment_intent_data") or {}
        if not isinstance(intent_data, dict):
            raise forms.Fail(400, "Invalid payment_intent_data.", param="payment_intent_data")
        future_usage = intent_data.get("setup_future_usage") or None
        if future_usage not in (None, "off_session", "on_session"):
            raise forms.Fail(400, "Invalid setup_future_usage.",
                        param="payment_intent_data[setup_future_usage]")
        now = int(time.time())
        session_id = self._new_id("cs_test")
        session = self._put({
            "id": session_id, "object": "checkout.session", "mode": "payment",
            "amount_subtotal": total, "amount_total": total, "currency": currency,
            "client_reference_id": params.get("client_reference_id") or None,
            "customer": customer, "customer_email": params.get("customer_email") or None,
            "metadata": forms.metadata(params.get("metadata")), "payment_intent": None,
            "payment_status": "unpaid", "status": "open", "success_url": success_url,
            "cancel_url": params.get("cancel_url") or None, "created": now,
            "expires_at": now + _CHECKOUT_TTL_S, "livemode": False,
            "url": f"{str(request.base_url).rstrip('/')}/c/pay/{session_id}",
        })
        self._session_setup[session_id] = {
            "setup_future_usage": future_usage,
            "payment_intent_metadata": forms.metadata(intent_data.get("metadata")),
        }
        return session, []

    def _retrieve_session(self, request: Request, params: dict[str, Any]
                          ) -> tuple[dict[str, Any], list[Any]]:
        return self._find(request.path_params["object_id"], "checkout.session"), []

    def _retrieve(self, request: Request, params: dict[str, Any]
                  ) -> tuple[dict[str, Any], list[Any]]:
        kind = _COLLECTIONS.get(request.path_params["collection"])
        if kind is None:
            raise forms.Fail(404, f"Unrecognized request URL (GET: {request.url.path}).")
        return self._find(request.path_params["object_id"], kind), []

    def _create_intent(self, request: Request, params: dict[str, Any]
                       ) -> tuple[dict[str, Any], list[Any]]:
        forms.only_known(params, "payment_intent")
        amount = forms.integer(params, "amount", minimum=1)
        currency = forms.required(params, "currency")
        customer = params.get("customer") or None
        if customer is not None:
            self._find(customer, "customer", param="customer")
        method_id = params.get("payment_method") or None
        if method_id is not None and not method_id.startswith(_TEST_CARD_PREFIX):
            method = self._find(method_id, "payment_method", param="payment_method")
            if method["customer"] is not None and method["customer"] != customer:
                raise forms.Fail(400, "The provided PaymentMethod belongs to another customer.",
                            param="payment_method")
        confirm = forms.boolean(params, "confirm")
        if forms.boolean(params, "off_session") and customer is None:
            raise forms.Fail(400, "off_session payments need a customer.", param="customer")
        if confirm and method_id is None:
            raise forms.Fail(400, "You must provide a payment_method to confirm.",
                        code="parameter_missing", param="payment_method")
        automatic = params.get("automatic_payment_methods") or {}
        if (confirm and not params.get("return_url") and not params.get("payment_method_types")
                and not (isinstance(automatic, dict)
                         and automatic.get("allow_redirects") == "never")):
            # Stripe's rule: methods enabled in the Dashboard may redirect, so confirming needs
            # somewhere to come back to unless redirects are ruled out.
            raise forms.Fail(400, "return_url must be specified because this PaymentIntent may use "
                             "redirect-based payment methods; or set "
                             "automatic_payment_methods[allow_redirects]=never.",
                        param="return_url")
        intent = self._intent(
            amount=amount, currency=currency, customer=customer,
            metadata=forms.metadata(params.get("metadata")),
            setup_future_usage=params.get("setup_future_usage") or None,
            description=params.get("description") or None)
        if method_id is None or not confirm:
            if method_id is not None:
                intent.update(payment_method=method_id, status="requires_confirmation")
            return intent, []
        events = self._confirm(intent, method_id)
        error = intent["last_payment_error"]
        if error is not None:
            # Like Stripe: the declined PaymentIntent stays, and the error carries it.
            raise forms.Fail(402, error["message"], type_="card_error", code=error["code"],
                        decline_code=error["decline_code"], charge=error["charge"],
                        payment_intent=copy.deepcopy(intent),
                        payment_method=error["payment_method"]).with_events(events)
        return intent, events

    def _create_refund(self, request: Request, params: dict[str, Any]
                       ) -> tuple[dict[str, Any], list[Any]]:
        forms.only_known(params, "refund")
        if params.get("payment_intent"):
            intent = self._find(params["payment_intent"], "payment_intent",
                                param="payment_intent")
            if intent["latest_charge"] is None or intent["status"] != "succeeded":
                raise forms.Fail(400, "This PaymentIntent has no successful charge to refund.",
                            param="payment_intent")
            charge = self._objects[intent["latest_charge"]]
        elif params.get("charge"):
            charge = self._find(params["charge"], "charge", param="charge")
        else:
            raise forms.Fail(400, "One of payment_intent or charge is required.",
                        code="parameter_missing", param="payment_intent")
        left = charge["amount_captured"] - charge["amount_refunded"]
        if left <= 0:
            raise forms.Fail(400, f"Charge {charge['id']} has already been refunded.",
                        code="charge_already_refunded")
        amount = forms.integer(params, "amount", minimum=1) if "amount" in params else left
        if amount > left:
            raise forms.Fail(400, f"Refund amount ({amount}) is greater than unrefunded amount on "
                             f"charge ({left})", code="amount_too_large", param="amount")
        refund = self._put({
            "id": self._new_id("re"), "object": "refund", "amount": amount,
            "charge": charge["id"], "currency": charge["currency"],
            "payment_intent": charge["payment_intent"], "status": "succeeded",
            "metadata": forms.metadata(params.get("metadata")), "reason": params.get("reason"),
            "created": int(time.time()),
        })
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        return refund, [self._event("refund.created", refund),
                        self._event("charge.refunded", charge)]

    async def _page(self, request: Request) -> Response:
        """A bare hosted checkout page, so a person can click through a demo purchase."""
        session_id = request.path_params["session_id"]
        with self._lock:
            session = copy.deepcopy(self._objects.get(session_id))
        if session is None or session["object"] != "checkout.session":
            return HTMLResponse("<h1>No such checkout session</h1>", status_code=404)
        if request.method == "GET":
            return HTMLResponse(_page_html(session))
        action = dict(parse_qsl((await request.body()).decode("utf-8", "replace"))).get("action")
        if action == "cancel" or session["status"] != "open":
            return RedirectResponse(session["cancel_url"] or session["success_url"], 303)
        with self._lock:
            events = self._complete(session_id)
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        return RedirectResponse(target, 303, background=BackgroundTask(self._deliver, events))


def _loopback_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != HOST:
        raise ValueError(f"the fake only delivers webhooks to http://{HOST}:<port>/..., "
                         f"not {url!r}")
    return url


def _page_html(session: Mapping[str, Any]) -> str:
    amount = f"{session['amount_total']} {str(session['currency']).upper()} (minor units)"
    state = html.escape(str(session["status"]))
    buttons = (
        '<button name="action" value="pay">Pay</button> '
        '<button name="action" value="cancel">Cancel</button>'
        if session["status"] == "open" else f"<p>This session is {state}.</p>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Fake checkout</title></head>"
        "<body><h1>Fake Stripe checkout</h1>"
        f"<p>Session <code>{html.escape(session['id'])}</code>: {html.escape(amount)}</p>"
        f"<form method='post'>{buttons}</form></body></html>")
