"""The Stripe adapter of the payment-provider port, on the official `stripe` SDK.

What it does with Stripe:
- a pack purchase is a hosted Checkout Session in `payment` mode with one inline price, our
  purchase id as `client_reference_id` and Jeton's references as metadata on both the session
  and its PaymentIntent (so that refund and payment events can be routed back too);
- saving the method sets `payment_intent_data.setup_future_usage=off_session` and attaches the
  session to a Customer (made here if the member has none yet);
- webhooks are verified by the SDK (`StripeClient.construct_event`) with our secret;
- auto-recharge and renewals are PaymentIntents created and confirmed in one call with
  `off_session=true`;
- every write carries an idempotency key (ours, derived from the purchase, or the caller's), so
  the SDK's own network retries and ours never charge twice.

Only Jeton's references, amounts and provider ids cross this module; card data never does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Self
from urllib.parse import urlsplit

import requests  # a dependency of the stripe SDK, which it uses for sync requests
import stripe

from jeton.core import amounts
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.payments import _validate, limits
from jeton.payments._checked import CheckedProvider
from jeton.payments._signing import header_value
from jeton.payments._validate import ChargeRequest, CheckoutRequest
from jeton.payments.errors import (
    PaymentError,
    PaymentNotFound,
    ProviderDeclined,
    ProviderRejected,
    ProviderUnavailable,
    SignatureInvalid,
    WebhookInvalid,
)
from jeton.payments.port import (
    ChargeResult,
    ChargeStatus,
    Checkout,
    CheckoutState,
    CheckoutStatus,
    PaymentEvent,
    PaymentEventKind,
    RefundResult,
    RefundStatus,
)

if TYPE_CHECKING:
    from stripe.params import PaymentIntentCreateParams, RefundCreateParams
    from stripe.params.checkout import SessionCreateParams

    from jeton.config import Settings

PROVIDER = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"

# Metadata keys Jeton puts on Stripe objects. Prefixed so that they cannot clash with the
# operator's own metadata, and so that events about objects Jeton did not make are recognised.
META_PURCHASE = "jeton_purchase_id"
META_COMMUNITY = "jeton_community_id"
META_MEMBER = "jeton_member_id"
META_SAVE_METHOD = "jeton_save_payment_method"

_PAID = frozenset({"paid", "no_payment_required"})
_LOOPBACK_NAMES = frozenset({"localhost"})


class StripeProvider(CheckedProvider):
    """`PaymentProvider` for Stripe. Thread-safe; call `close()` (or use `with`) when done.

    `api_base` points the SDK somewhere other than Stripe's API, such as the local fake
    (`jeton.payments.fake_stripe`). Plain http is accepted only for a loopback address, so a
    secret key is never sent in clear text over a network.
    """

    name = PROVIDER

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        *,
        timeout_s: float = limits.provider_read_timeout_s,
        max_network_retries: int = limits.provider_retries_max,
        webhook_tolerance_s: int = limits.webhook_tolerance_s,
    ) -> None:
        if not api_key:
            raise InvalidRequest("a Stripe API key is required (JETON_STRIPE_API_KEY)",
                                 status=Status.value_invalid)
        if not webhook_secret:
            raise InvalidRequest(
                "a Stripe webhook secret is required (JETON_STRIPE_WEBHOOK_SECRET)",
                status=Status.value_invalid)
        if webhook_tolerance_s <= 0:
            # The SDK reads 0 as "do not check the timestamp": replays would be accepted forever.
            raise InvalidRequest("webhook_tolerance_s must be positive",
                                 status=Status.value_invalid)
        base = _api_base(api_base) if api_base else None
        self._webhook_secret = webhook_secret
        self._webhook_tolerance_s = webhook_tolerance_s
        # Our own session so that `close()` releases its connections from any thread, and so
        # that a loopback base (the local fake) is not sent through a proxy from the environment.
        self._session = requests.Session()
        if base is not None and _is_loopback(base):
            self._session.trust_env = False
        http_client = stripe.RequestsClient(
            timeout=(limits.provider_connect_timeout_s, timeout_s), session=self._session)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": base} if base else None,
            max_network_retries=max_network_retries,
            http_client=http_client,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeProvider:
        """Build from `JETON_STRIPE_API_KEY`, `JETON_STRIPE_WEBHOOK_SECRET` and, optionally,
        `JETON_STRIPE_API_BASE`."""
        return cls(settings.stripe_api_key, settings.stripe_webhook_secret,
                   settings.stripe_api_base or None)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- checkout ---------------------------------------------------------------------------

    def _open_checkout(self, request: CheckoutRequest) -> Checkout:
        key_prefix = f"jeton:{request.community_id}:{request.purchase_id}"
        metadata = {
            META_PURCHASE: request.purchase_id,
            META_COMMUNITY: request.community_id,
            META_MEMBER: request.member_id,
        }
        customer = request.customer_id
        if request.save_payment_method and customer is None:
            # Off-session charges need the method attached to a Customer; one per member, which
            # the caller stores (Checkout.customer_id) and passes back next time.
            with _translate_errors():
                made = self._client.v1.customers.create(
                    params={"metadata": {META_COMMUNITY: request.community_id,
                                         META_MEMBER: request.member_id}},
                    options={"idempotency_key": f"{key_prefix}:customer"})
            customer = _require_str(made.to_dict(), "id")
        params: SessionCreateParams = {
            "mode": "payment",
            "client_reference_id": request.purchase_id,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": request.amount_minor,
                    "product_data": {"name": request.description},
                },
            }],
            "metadata": {**metadata, META_SAVE_METHOD: str(request.save_payment_method).lower()},
            "payment_intent_data": {"metadata": metadata},
        }
        if request.save_payment_method:
            params["payment_intent_data"]["setup_future_usage"] = "off_session"
        if customer is not None:
            params["customer"] = customer
        with _translate_errors():
            session = self._client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": f"{key_prefix}:checkout"})
        data = session.to_dict()
        return Checkout(provider=PROVIDER, session_id=_require_str(data, "id"),
                        url=_require_str(data, "url"), customer_id=customer)

    def get_checkout(self, session_id: str) -> CheckoutState:
        _validate.provider_id(session_id, "session_id")
        with _translate_errors():
            session = self._client.v1.checkout.sessions.retrieve(session_id)
        data = session.to_dict()
        status = _str(data, "status") or "open"
        try:
            checkout_status = CheckoutStatus(status)
        except ValueError:
            _unexpected(f"checkout session {session_id} has an unknown status {status!r}")
        return CheckoutState(
            provider=PROVIDER,
            session_id=_require_str(data, "id"),
            status=checkout_status,
            paid=_str(data, "payment_status") in _PAID,
            purchase_id=_str(data, "client_reference_id"),
            amount_minor=_int(data, "amount_total") or 0,
            currency=(_str(data, "currency") or "").upper(),
            customer_id=_id_of(data.get("customer")),
            provider_payment_id=_id_of(data.get("payment_intent")),
        )

    # -- webhooks ---------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent | None:
        """Verify and normalize a Stripe event; None for events about objects Jeton did not make
        or of types Jeton does not act on.

        A `checkout.session.completed` for a session that saves the method costs one API call
        (the saved method is on the PaymentIntent, which events do not expand); if that call
        fails the error propagates, the webhook answers 5xx and Stripe delivers it again.
        """
        if len(payload) > limits.webhook_payload_bytes_max:
            raise WebhookInvalid(
                f"webhook body is over {limits.webhook_payload_bytes_max} bytes", provider=PROVIDER)
        signature = header_value(headers, SIGNATURE_HEADER)
        try:
            event = self._client.construct_event(
                payload, signature, self._webhook_secret, self._webhook_tolerance_s)
        except stripe.SignatureVerificationError as exc:
            raise SignatureInvalid(f"Stripe webhook refused: {exc.user_message}",
                                   provider=PROVIDER) from exc
        except ValueError as exc:  # not UTF-8, not JSON, or not a snapshot event
            raise WebhookInvalid(f"Stripe webhook body is not an event: {exc}",
                                 provider=PROVIDER) from exc
        return self._normalize(event.to_dict())

    def _normalize(self, event: Mapping[str, Any]) -> PaymentEvent | None:
        event_type = _str(event, "type")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, Mapping) else None
        if event_type is None or not isinstance(obj, Mapping):
            raise WebhookInvalid("Stripe event has no type or no data.object", provider=PROVIDER)
        if event_type.startswith("charge.dispute."):
            return self._dispute_event(event, event_type, obj)
        metadata = _metadata(obj)
        common = _common(event, obj, metadata)
        if common is None:
            return None  # not a payment Jeton started (the account may serve other systems)
        if event_type.startswith("checkout.session."):
            return self._checkout_event(event_type, obj, metadata, common)
        if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
            succeeded = event_type == "payment_intent.succeeded"
            return PaymentEvent(
                kind=(PaymentEventKind.payment_succeeded if succeeded
                      else PaymentEventKind.payment_failed),
                provider_payment_id=_str(obj, "id"),
                amount_minor=_int(obj, "amount_received" if succeeded else "amount"),
                payment_method_id=_id_of(obj.get("payment_method")),
                failure_reason=None if succeeded else _failure_code(obj.get("last_payment_error")),
                **common)
        if event_type == "charge.refunded":
            return PaymentEvent(
                kind=PaymentEventKind.refunded,
                provider_payment_id=_id_of(obj.get("payment_intent")) or _str(obj, "id"),
                amount_minor=_int(obj, "amount_refunded"),
                **common)
        return None

    def _dispute_event(self, event: Mapping[str, Any], event_type: str,
                       dispute: Mapping[str, Any]) -> PaymentEvent | None:
        """`charge.dispute.funds_withdrawn`: the bank took the money back. A dispute carries no
        metadata of its own, so the purchase is read from its PaymentIntent. The other dispute
        events (opened, evidence, closed) change no money: ignored."""
        payment_id = _id_of(dispute.get("payment_intent"))
        if event_type != "charge.dispute.funds_withdrawn" or payment_id is None:
            return None
        with _translate_errors():
            intent = self._client.v1.payment_intents.retrieve(payment_id).to_dict()
        common = _common(event, dispute, _metadata(intent))
        if common is None:
            return None
        return PaymentEvent(kind=PaymentEventKind.disputed, provider_payment_id=payment_id,
                            amount_minor=_int(dispute, "amount"), **common)

    def _checkout_event(
        self, event_type: str, session: Mapping[str, Any], metadata: Mapping[str, Any],
        common: dict[str, Any],
    ) -> PaymentEvent | None:
        paid = _str(session, "payment_status") in _PAID
        failure_reason = None
        if event_type == "checkout.session.completed":
            kind = (PaymentEventKind.checkout_completed if paid
                    else PaymentEventKind.checkout_pending)
        elif event_type == "checkout.session.async_payment_succeeded":
            kind = PaymentEventKind.checkout_completed
        elif event_type == "checkout.session.async_payment_failed":
            kind, failure_reason = PaymentEventKind.payment_failed, "async_payment_failed"
        elif event_type == "checkout.session.expired":
            kind = PaymentEventKind.checkout_expired
        else:
            return None
        payment_id = _id_of(session.get("payment_intent"))
        method_id = None
        if (kind is PaymentEventKind.checkout_completed and payment_id is not None
                and _str(metadata, META_SAVE_METHOD) == "true"):
            with _translate_errors():
                intent = self._client.v1.payment_intents.retrieve(payment_id)
            method_id = _id_of(intent.to_dict().get("payment_method"))
        return PaymentEvent(
            kind=kind,
            checkout_session_id=_str(session, "id"),
            provider_payment_id=payment_id,
            amount_minor=_int(session, "amount_total"),
            payment_method_id=method_id,
            failure_reason=failure_reason,
            **common)

    # -- off-session charges and refunds ----------------------------------------------------

    def _charge(self, request: ChargeRequest) -> ChargeResult:
        amount, code = request.amount_minor, request.currency
        metadata = {META_PURCHASE: request.purchase_id}
        if request.community_id is not None:
            metadata[META_COMMUNITY] = amounts.external_id(request.community_id, "community_id")
        if request.member_id is not None:
            metadata[META_MEMBER] = amounts.external_id(request.member_id, "member_id")
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": code.lower(),
            "customer": request.customer_id,
            "payment_method": request.payment_method_id,
            "off_session": True,
            "confirm": True,
            # The member is absent, so a method that needs a redirect cannot work; saying so
            # also spares the return_url that Stripe otherwise demands when confirming.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": metadata,
        }
        key = amounts.idempotency_key(request.idempotency_key)
        try:
            intent = self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": key})
        except stripe.CardError as exc:
            # An expected outcome of charging a member who is not there: a value, not an error.
            return _declined_charge(_error_body(exc), amount, code)
        except stripe.StripeError as exc:
            _raise_translated(exc)
        return _charge_result(intent.to_dict(), amount, code)

    def refund(
        self, *, provider_payment_id: str, amount_minor: int, idempotency_key: str
    ) -> RefundResult:
        _validate.provider_id(provider_payment_id, "provider_payment_id")
        amount = amounts.positive_amount(amount_minor, "amount_minor")
        params: RefundCreateParams = {"amount": amount}
        # Payments made here are PaymentIntents; a bare charge id is accepted for old payments.
        if provider_payment_id.startswith("ch_"):
            params["charge"] = provider_payment_id
        else:
            params["payment_intent"] = provider_payment_id
        with _translate_errors():
            made = self._client.v1.refunds.create(
                params=params,
                options={"idempotency_key": amounts.idempotency_key(idempotency_key)})
        data = made.to_dict()
        status = _str(data, "status")
        if status == "succeeded":
            refund_status = RefundStatus.succeeded
        elif status in ("failed", "canceled"):
            refund_status = RefundStatus.failed
        else:  # pending, requires_action
            refund_status = RefundStatus.pending
        return RefundResult(
            provider=PROVIDER, refund_id=_require_str(data, "id"),
            provider_payment_id=provider_payment_id, amount_minor=_int(data, "amount") or amount,
            currency=(_str(data, "currency") or "").upper(), status=refund_status,
            failure_reason=_str(data, "failure_reason"))


# -- helpers ---------------------------------------------------------------------------------


def _api_base(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"JETON_STRIPE_API_BASE must be an http(s) URL, got {value!r}",
                             status=Status.value_invalid)
    if parts.scheme == "http" and not _is_loopback(value):
        raise InvalidRequest("JETON_STRIPE_API_BASE may use plain http only on a loopback address",
                             status=Status.value_invalid)
    return value.rstrip("/")


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as exc:
        _raise_translated(exc)


def _raise_translated(exc: stripe.StripeError) -> NoReturn:
    raise _translate(exc) from exc


def _translate(exc: stripe.StripeError) -> PaymentError:
    """The Jeton error for a Stripe SDK error. Messages are Stripe's, which never hold card data."""
    message = exc.user_message or type(exc).__name__
    extra: dict[str, Any] = {"code": exc.code, "request_id": exc.request_id}
    if isinstance(exc, stripe.CardError):
        return ProviderDeclined(message, provider=PROVIDER,
                                decline_code=_str(_error_body(exc), "decline_code"), **extra)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return ProviderUnavailable(message, provider=PROVIDER, **extra)
    if isinstance(exc, stripe.IdempotencyError):
        return ProviderRejected(message, provider=PROVIDER, status=Status.idempotency_conflict,
                                **extra)
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.code == "resource_missing" or exc.http_status == 404:
            return PaymentNotFound(message, provider=PROVIDER, **extra)
        return ProviderRejected(message, provider=PROVIDER, **extra)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return ProviderRejected(message, provider=PROVIDER, **extra)
    # APIError: Stripe's own 5xx, or a response we could not read. Worth a retry.
    return ProviderUnavailable(message, provider=PROVIDER, **extra)


def _declined_charge(error: Mapping[str, Any], amount: int, currency: str) -> ChargeResult:
    """A ChargeResult from the `error` object of Stripe's 402 answer to an off-session charge."""
    reason = _failure_code(error) or "card_declined"
    return ChargeResult(
        provider=PROVIDER,
        status=(ChargeStatus.requires_action if reason == "authentication_required"
                else ChargeStatus.failed),
        provider_payment_id=_id_of(error.get("payment_intent")),
        amount_minor=amount, currency=currency, failure_reason=reason,
        failure_message=_str(error, "message"))


def _charge_result(intent: Mapping[str, Any], amount: int, currency: str) -> ChargeResult:
    """A ChargeResult from a PaymentIntent that Stripe created without a card error."""
    status = _str(intent, "status")
    reason: str | None = None
    if status == "succeeded":
        charge_status = ChargeStatus.succeeded
    elif status == "processing":
        charge_status = ChargeStatus.processing
    elif status in ("requires_action", "requires_confirmation"):
        charge_status, reason = ChargeStatus.requires_action, "authentication_required"
    else:  # requires_payment_method after a failed attempt, or canceled
        charge_status = ChargeStatus.failed
        reason = _failure_code(intent.get("last_payment_error")) or status or "unknown"
    return ChargeResult(provider=PROVIDER, status=charge_status,
                        provider_payment_id=_str(intent, "id"), amount_minor=amount,
                        currency=currency, failure_reason=reason)


def _error_body(exc: stripe.StripeError) -> Mapping[str, Any]:
    body = exc.json_body
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def _failure_code(error: object) -> str | None:
    """The most specific reason in a Stripe error object: the issuer's, else Stripe's code."""
    if not isinstance(error, Mapping):
        return None
    return _str(error, "decline_code") or _str(error, "code")


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    raw = obj.get("metadata")
    return raw if isinstance(raw, Mapping) else {}


def _common(event: Mapping[str, Any], obj: Mapping[str, Any],
            metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fields every event of a Jeton purchase has; None when Jeton did not start it."""
    purchase_id = _str(metadata, META_PURCHASE)
    if purchase_id is None:
        return None
    return {
        "provider": PROVIDER,
        "event_id": _require_str(event, "id"),
        "occurred_at": datetime.fromtimestamp(_int(event, "created") or 0, UTC),
        "purchase_id": purchase_id,
        "community_id": _str(metadata, META_COMMUNITY),
        "member_id": _str(metadata, META_MEMBER),
        "currency": (_str(obj, "currency") or "").upper() or None,
        "customer_id": _id_of(obj.get("customer")),
    }


def _str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _require_str(obj: Mapping[str, Any], key: str) -> str:
    value = _str(obj, key)
    if value is None:
        _unexpected(f"Stripe answered without {key!r}")
    return value


def _int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if type(value) is int else None


def _id_of(value: object) -> str | None:
    """An id from a field Stripe sends either as an id or, when expanded, as the object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        return _str(value, "id")
    return None


def _unexpected(detail: str) -> NoReturn:
    raise ProviderUnavailable(detail, provider=PROVIDER)
