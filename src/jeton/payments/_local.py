"""What the offline and the demo providers share: sessions, payments and refunds kept in memory,
and events signed with a local secret.

Their events go through `parse_webhook` like Stripe's: each completion, charge or refund makes a
`SignedWebhook` (JSON body, `Jeton-Signature` header in the `t=…,v1=…` format) that is kept in
`events`, handed to the `on_event` callback, and returned to the caller. So the code that grants
credits has one entry point for every provider, and a demo exercises the real path.

State lives in the process. That fits tests and demos; the one path that must survive a
restart, staff recording an offline payment, takes the purchase from the ledger instead (see
`OfflineProvider.record_payment`). The webhook secret must then be set (it is random by default)
in every process that signs or reads these events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

from jeton.core import amounts
from jeton.core.clock import Clock, SystemClock
from jeton.core.errors import invariant
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.payments import _signing, limits
from jeton.payments._checked import CheckedProvider
from jeton.payments._validate import ChargeRequest, CheckoutRequest
from jeton.payments.errors import PaymentNotFound, ProviderRejected, WebhookInvalid
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
    SignedWebhook,
)

SIGNATURE_HEADER = "Jeton-Signature"

_R = TypeVar("_R", ChargeResult, RefundResult)


@dataclass
class _Session:
    request: CheckoutRequest
    checkout: Checkout
    status: CheckoutStatus = CheckoutStatus.open
    payment_id: str | None = None


@dataclass
class _Payment:
    payment_id: str
    purchase_id: str
    community_id: str | None
    member_id: str | None
    amount_minor: int
    currency: str
    customer_id: str | None
    refunded_minor: int = 0
    refund_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Purchase:
    """What a payment is for: Jeton's references and the amount asked."""

    community_id: str
    member_id: str
    purchase_id: str
    amount_minor: int
    currency: str


class LocalProvider(CheckedProvider):
    """Base of the in-memory providers. Subclasses set `name` and the charging policy."""

    name = "local"

    def __init__(
        self,
        *,
        webhook_secret: str | None = None,
        clock: Clock | None = None,
        checkout_url_template: str | None = None,
        on_event: Callable[[SignedWebhook], None] | None = None,
    ) -> None:
        # A random secret by default: events are only ever read back by this same process.
        self.webhook_secret = webhook_secret or secrets.token_urlsafe(32)
        self._clock = clock or SystemClock()
        self._url_template = checkout_url_template or f"/pay/{self.name}/{{session_id}}"
        self._on_event = on_event
        self._lock = threading.RLock()
        self._sessions: dict[str, _Session] = {}
        self._by_purchase: dict[tuple[str, str], str] = {}
        self._payments: dict[str, _Payment] = {}
        self._methods: dict[str, str] = {}  # saved payment method → its customer
        # Idempotency keys → (the request, the first answer), one table per kind of write.
        self._charges: dict[str, tuple[tuple[object, ...], ChargeResult]] = {}
        self._refunds: dict[str, tuple[tuple[object, ...], RefundResult]] = {}
        self._events: list[SignedWebhook] = []

    # -- the port -------------------------------------------------------------------------------

    def _open_checkout(self, request: CheckoutRequest) -> Checkout:
        self._check_checkout(request)
        with self._lock:
            existing = self._by_purchase.get((request.community_id, request.purchase_id))
            if existing is not None:
                # Idempotent per purchase, as with Stripe; a different request is a bug.
                session = self._sessions[existing]
                if session.request != request:
                    raise ProviderRejected(
                        f"purchase {request.purchase_id} already has a checkout with other "
                        "parameters",
                        provider=self.name, status=Status.idempotency_conflict)
                return session.checkout
            session_id = self._new_id("cs")
            customer = request.customer_id
            if request.save_payment_method and customer is None:
                customer = self._new_id("cus")
            checkout = Checkout(provider=self.name, session_id=session_id,
                                url=self._checkout_url(session_id, request),
                                customer_id=customer)
            self._sessions[session_id] = _Session(request, checkout)
            self._by_purchase[(request.community_id, request.purchase_id)] = session_id
        self._after_checkout(session_id)
        return checkout

    def get_checkout(self, session_id: str) -> CheckoutState:
        with self._lock:
            session = self._session(session_id)
            return CheckoutState(
                provider=self.name, session_id=session_id, status=session.status,
                paid=session.status is CheckoutStatus.complete,
                purchase_id=session.request.purchase_id,
                amount_minor=session.request.amount_minor, currency=session.request.currency,
                customer_id=session.checkout.customer_id, provider_payment_id=session.payment_id)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent | None:
        if len(payload) > limits.webhook_payload_bytes_max:
            raise WebhookInvalid(
                f"webhook body is over {limits.webhook_payload_bytes_max} bytes",
                provider=self.name)
        _signing.verify(payload, _signing.header_value(headers, SIGNATURE_HEADER),
                        self.webhook_secret, now_s=self._clock.now().timestamp(),
                        tolerance_s=limits.webhook_tolerance_s, provider=self.name)
        try:
            return _decode_event(payload, self.name)
        except (ValueError, TypeError, KeyError) as exc:
            raise WebhookInvalid(f"not a {self.name} event: {exc}", provider=self.name) from exc

    def _charge(self, request: ChargeRequest) -> ChargeResult:
        # What a replay must match: every argument, as a tuple like the refunds' ones.
        asked = ("charge", request.customer_id, request.payment_method_id, request.amount_minor,
                 request.currency, request.purchase_id, request.community_id, request.member_id)
        with self._lock:
            replay = self._replay(self._charges, request.idempotency_key, asked)
            if replay is not None:
                return replay
            status, reason = self._charge_outcome(request.customer_id, request.payment_method_id,
                                                  request.amount_minor)
            payment = _Payment(self._new_id("pi"), request.purchase_id, request.community_id,
                               request.member_id, request.amount_minor, request.currency,
                               request.customer_id)
            if status is ChargeStatus.succeeded:
                self._payments[payment.payment_id] = payment
            result = ChargeResult(
                provider=self.name, status=status, provider_payment_id=payment.payment_id,
                amount_minor=request.amount_minor, currency=request.currency,
                failure_reason=reason,
                failure_message=None if reason is None else f"{self.name}: {reason}")
            self._charges[request.idempotency_key] = (asked, result)
            kind = (PaymentEventKind.payment_succeeded if status is ChargeStatus.succeeded
                    else PaymentEventKind.payment_failed)
            event = self._event(kind, payment, payment_method_id=request.payment_method_id,
                                failure_reason=reason)
        self._publish(event)
        return result

    def refund(
        self, *, provider_payment_id: str, amount_minor: int, idempotency_key: str
    ) -> RefundResult:
        amount = amounts.positive_amount(amount_minor, "amount_minor")
        request = ("refund", provider_payment_id, amount)
        with self._lock:
            replay = self._replay(self._refunds, idempotency_key, request)
            if replay is not None:
                return replay
            payment = self._payments.get(provider_payment_id)
            if payment is None:
                raise PaymentNotFound(f"no payment {provider_payment_id}", provider=self.name)
            left = payment.amount_minor - payment.refunded_minor
            if amount > left:
                raise ProviderRejected(
                    f"refund of {amount} is more than the {left} left on {provider_payment_id}",
                    provider=self.name, code="amount_too_large")
            refund_id = self._new_id("re")
            payment.refunded_minor += amount
            payment.refund_ids.append(refund_id)
            result = RefundResult(
                provider=self.name, refund_id=refund_id, provider_payment_id=provider_payment_id,
                amount_minor=amount, currency=payment.currency, status=RefundStatus.succeeded)
            self._refunds[idempotency_key] = (request, result)
            # Cumulative, as the port promises: replays and reordering cannot double count.
            event = self._event(PaymentEventKind.refunded, payment,
                                amount_minor=payment.refunded_minor)
        self._publish(event)
        return result

    # -- controls shared by both providers -------------------------------------------------------

    @property
    def events(self) -> list[SignedWebhook]:
        """Every event this provider made, oldest first."""
        with self._lock:
            return list(self._events)

    def expire_checkout(self, session_id: str) -> SignedWebhook:
        """Close an unpaid session (the member walked away)."""
        with self._lock:
            session = self._session(session_id)
            self._require_open(session)
            session.status = CheckoutStatus.expired
            event = self._event(PaymentEventKind.checkout_expired, None, session=session)
        self._publish(event)
        return event

    def _complete(self, session_id: str) -> SignedWebhook:
        """The money for a checkout is in: record the payment and sign `checkout_completed`."""
        with self._lock:
            session = self._session(session_id)
            self._require_open(session)
            request = session.request
            purchase = Purchase(request.community_id, request.member_id, request.purchase_id,
                                request.amount_minor, request.currency)
            event = self._paid(purchase, session=session)
        self._publish(event)
        return event

    def _paid(
        self, purchase: Purchase, *, session: _Session | None, payment_id: str | None = None,
        event_id: str | None = None, reference: str | None = None,
    ) -> SignedWebhook:
        """Record the payment for `purchase`, close its session if there is one, and sign the
        `checkout_completed` event (callers hold the lock and publish the event)."""
        customer = session.checkout.customer_id if session is not None else None
        payment = _Payment(payment_id or self._new_id("pi"), purchase.purchase_id,
                           purchase.community_id, purchase.member_id, purchase.amount_minor,
                           purchase.currency, customer)
        self._payments[payment.payment_id] = payment
        method_id = None
        if session is not None and session.request.save_payment_method:
            invariant(customer is not None, "a session that saves a method has a customer")
            method_id = self._new_id("pm")
            self._methods[method_id] = str(customer)
        if session is not None:
            session.status = CheckoutStatus.complete
            session.payment_id = payment.payment_id
        return self._event(
            PaymentEventKind.checkout_completed, payment, session=session,
            event_id=event_id, payment_method_id=method_id, reference=reference)

    # -- hooks for subclasses --------------------------------------------------------------------

    def _check_checkout(self, request: CheckoutRequest) -> None:
        """Refuse checkouts this provider cannot serve (before anything is recorded)."""

    def _after_checkout(self, session_id: str) -> None:
        """Called once a new session is recorded, without the lock held."""

    def _checkout_url(self, session_id: str, request: CheckoutRequest) -> str:
        # Signed, so the hosted page needs no member session: whoever holds the URL may pay
        # or cancel this one checkout, as with a card provider's hosted page.
        url = self._url_template.replace("{session_id}", session_id)
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}sig={self.checkout_signature(session_id)}"

    # -- the hosted page ------------------------------------------------------------------------

    def checkout_signature(self, session_id: str) -> str:
        """The signature of a checkout URL: an HMAC of the session id under this provider's
        secret (the secret its events are signed with; sessions live no longer than it)."""
        mac = hmac.new(self.webhook_secret.encode(), f"checkout:{session_id}".encode(),
                       hashlib.sha256)
        return mac.hexdigest()[:32]

    def signed_checkout(self, session_id: str, signature: str) -> tuple[CheckoutRequest,
                                                                        CheckoutStatus]:
        """The request and status of the session a signed URL names. PaymentNotFound for an
        unknown session or a wrong signature alike (a guess learns nothing)."""
        good = hmac.compare_digest(self.checkout_signature(session_id).encode(),
                                   signature.encode())
        with self._lock:
            session = self._sessions.get(session_id)
            if not good or session is None:
                raise PaymentNotFound("no such checkout", provider=self.name)
            return session.request, session.status

    def _charge_outcome(self, customer_id: str, payment_method_id: str,
                        amount_minor: int) -> tuple[ChargeStatus, str | None]:
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------------------------

    def _new_id(self, kind: str) -> str:
        return f"{self.name}_{kind}_{new_id()}"

    def _session(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise PaymentNotFound(f"no checkout session {session_id!r}", provider=self.name)
        return session

    def _require_open(self, session: _Session) -> None:
        if session.status is not CheckoutStatus.open:
            raise ProviderRejected(
                f"checkout session {session.checkout.session_id} is {session.status.value}",
                provider=self.name, status=Status.conflict)

    def _replay(self, answers: Mapping[str, tuple[tuple[object, ...], _R]], key: str,
                request: tuple[object, ...]) -> _R | None:
        """The first answer for `key`, if the same request was made with it before."""
        amounts.idempotency_key(key)
        stored = answers.get(key)
        if stored is None:
            return None
        if stored[0] != request:
            raise ProviderRejected("idempotency key reused with a different request",
                                   provider=self.name, status=Status.idempotency_conflict)
        return stored[1]

    def _event(
        self, kind: PaymentEventKind, payment: _Payment | None, *,
        session: _Session | None = None, event_id: str | None = None, **more: Any,
    ) -> SignedWebhook:
        """Sign one event and record it (callers hold the lock)."""
        body: dict[str, Any] = {
            "provider": self.name,
            "kind": kind.value,
            "event_id": event_id or self._new_id("evt"),
            "occurred_at": self._clock.now().isoformat(),
        }
        if session is not None:
            request = session.request
            body.update(purchase_id=request.purchase_id, community_id=request.community_id,
                        member_id=request.member_id,
                        checkout_session_id=session.checkout.session_id,
                        amount_minor=request.amount_minor, currency=request.currency,
                        customer_id=session.checkout.customer_id)
        if payment is not None:
            body.update(purchase_id=payment.purchase_id, community_id=payment.community_id,
                        member_id=payment.member_id, provider_payment_id=payment.payment_id,
                        amount_minor=payment.amount_minor, currency=payment.currency,
                        customer_id=payment.customer_id)
        body.update({k: v for k, v in more.items() if v is not None})
        payload = json.dumps(body, sort_keys=True).encode("utf-8")
        header = _signing.signature_header(payload, self.webhook_secret,
                                           int(self._clock.now().timestamp()))
        webhook = SignedWebhook(payload=payload, headers={SIGNATURE_HEADER: header,
                                                          "Content-Type": "application/json"})
        self._events.append(webhook)
        return webhook

    def _publish(self, event: SignedWebhook) -> None:
        # Outside the lock: the receiver may call back into this provider.
        if self._on_event is not None:
            self._on_event(event)


_EVENT_FIELDS = frozenset(f.name for f in fields(PaymentEvent))
# Fields of a local event body that are not on PaymentEvent, kept for people reading the body.
_INFORMATIONAL = frozenset({"reference"})


def _decode_event(payload: bytes, provider: str) -> PaymentEvent:
    body = json.loads(payload)
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    if body.get("provider") != provider:
        raise ValueError(f"the event is from {body.get('provider')!r}, not {provider!r}")
    unknown = set(body) - _EVENT_FIELDS - _INFORMATIONAL
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    values = {k: v for k, v in body.items() if k in _EVENT_FIELDS}
    values["kind"] = PaymentEventKind(values["kind"])
    values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
    return PaymentEvent(**values)
