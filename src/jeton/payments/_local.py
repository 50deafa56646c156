"""What the offline and the demo providers share: sessions, payments and refunds kept in memory,
and events signed with a local secret.

Their events go through `parse_webhook` like Stripe's: each completion, charge or refund makes a
`SignedWebhook` (JSON body, `Jeton-Signature` header in the `t=…,v1=…` format) that is kept in
`events`, handed to the `on_event` callback, and returned to the caller. So the code that grants
credits has one entry point for every provider, and a demo exercises the real path.

What they know (checkout sessions, payments, saved methods, the answers of keyed charges and
refunds) is kept in a `LocalState`: JSON text by kind and key. `MemoryState`, the default, is
one process's memory, which fits tests and a library user's script. Jeton gives its providers
one in the database (services/funding/provider_state.py, decision 0090), so every server
process sees the same sessions: a member's checkout page may reach any of them. Within a
process a lock orders the provider's steps; across processes a session or a payment changes
only by a compare-and-set of its JSON, so two processes never both complete one session.
A hosted page's URL carries a random token kept with its session, so any process can check it.

Events are signed with the provider's webhook secret (random by default) and read back by the
process that made them (`on_event`). Staff recording an offline payment takes the purchase from
the ledger (see `OfflineProvider.record_payment`), so it works for a session no state holds.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Protocol

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

class LocalState(Protocol):
    """Where an in-process provider keeps what it knows: JSON text by (kind, key), with the
    community the record belongs to (None for none)."""

    def get(self, kind: str, key: str) -> str | None:
        """The record, or None."""

    def add(self, kind: str, key: str, value: str, community_id: str | None) -> bool:
        """Keep a new record; False, changing nothing, when (kind, key) is taken."""

    def swap(self, kind: str, key: str, old: str, new: str) -> bool:
        """Replace the record if it is still `old`; False, changing nothing, otherwise."""


class MemoryState:
    """A `LocalState` in this process's memory (the default)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, key: str) -> str | None:
        return self._rows.get((kind, key))

    def add(self, kind: str, key: str, value: str, community_id: str | None) -> bool:
        with self._lock:
            if (kind, key) in self._rows:
                return False
            self._rows[(kind, key)] = value
            return True

    def swap(self, kind: str, key: str, old: str, new: str) -> bool:
        with self._lock:
            if self._rows.get((kind, key)) != old:
                return False
            self._rows[(kind, key)] = new
            return True


@dataclass(frozen=True)
class _Session:
    request: CheckoutRequest
    checkout: Checkout
    token: str  # the hosted page's URL carries it (`sig`)
    status: CheckoutStatus = CheckoutStatus.open
    payment_id: str | None = None

    def dump(self) -> str:
        return json.dumps({"request": asdict(self.request), "checkout": asdict(self.checkout),
                           "token": self.token, "status": self.status.value,
                           "payment_id": self.payment_id}, sort_keys=True)

    @classmethod
    def load(cls, raw: str) -> _Session:
        d = json.loads(raw)
        return cls(CheckoutRequest(**d["request"]), Checkout(**d["checkout"]), d["token"],
                   CheckoutStatus(d["status"]), d["payment_id"])


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
    # Each refund by its idempotency key: [refund id, amount]. A refund and its key change the
    # payment in one compare-and-set, so two processes never both refund under one key.
    refunds: dict[str, list[Any]] = field(default_factory=dict)

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def load(cls, raw: str) -> _Payment:
        return cls(**json.loads(raw))


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
        state: LocalState | None = None,
    ) -> None:
        # A random secret by default: events are only ever read back by this same process.
        self.webhook_secret = webhook_secret or secrets.token_urlsafe(32)
        self._clock = clock or SystemClock()
        self._url_template = checkout_url_template or f"/pay/{self.name}/{{session_id}}"
        self._on_event = on_event
        self._lock = threading.RLock()
        # Kinds: "session" (by id), "purchase" (community/purchase -> session id), "payment",
        # "method" (saved method -> its customer), "charge" and "refund" (idempotency key ->
        # the request and its first answer).
        self._state: LocalState = state if state is not None else MemoryState()
        self._events: list[SignedWebhook] = []

    # -- the port -------------------------------------------------------------------------------

    def _open_checkout(self, request: CheckoutRequest) -> Checkout:
        self._check_checkout(request)
        by_purchase = f"{request.community_id}/{request.purchase_id}"
        with self._lock:
            existing = self._state.get("purchase", by_purchase)
            opened: Checkout | None = None
            if existing is None:
                session_id = self._new_id("cs")
                customer = request.customer_id
                if request.save_payment_method and customer is None:
                    customer = self._new_id("cus")
                token = secrets.token_hex(16)
                checkout = Checkout(provider=self.name, session_id=session_id,
                                    url=self._checkout_url(session_id, request, token),
                                    customer_id=customer)
                self._state.add("session", session_id, _Session(request, checkout, token).dump(),
                                request.community_id)
                if self._state.add("purchase", by_purchase, session_id, request.community_id):
                    opened = checkout
                else:  # another process opened this purchase's checkout meanwhile: its answer
                    existing = self._state.get("purchase", by_purchase)
        if opened is not None:
            self._after_checkout(opened.session_id)
            return opened
        session = self._session(existing or "")
        # Idempotent per purchase, as with Stripe; a different request is a bug.
        if session.request != request:
            raise ProviderRejected(
                f"purchase {request.purchase_id} already has a checkout with other parameters",
                provider=self.name, status=Status.idempotency_conflict)
        return session.checkout

    def get_checkout(self, session_id: str) -> CheckoutState:
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
            replay = self._replay("charge", request.idempotency_key, asked)
            if replay is not None:
                return ChargeResult(**{**replay, "status": ChargeStatus(replay["status"])})
            status, reason = self._charge_outcome(request.customer_id, request.payment_method_id,
                                                  request.amount_minor)
            payment = _Payment(self._new_id("pi"), request.purchase_id, request.community_id,
                               request.member_id, request.amount_minor, request.currency,
                               request.customer_id)
            result = ChargeResult(
                provider=self.name, status=status, provider_payment_id=payment.payment_id,
                amount_minor=request.amount_minor, currency=request.currency,
                failure_reason=reason,
                failure_message=None if reason is None else f"{self.name}: {reason}")
            if not self._answer("charge", request.idempotency_key, asked, asdict(result),
                                request.community_id):  # another process answered the key
                return self._charge(request)
            if status is ChargeStatus.succeeded:
                self._state.add("payment", payment.payment_id, payment.dump(),
                                payment.community_id)
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
            replay = self._replay("refund", idempotency_key, request)
            if replay is not None:
                return RefundResult(**{**replay, "status": RefundStatus(replay["status"])})
            while True:
                raw = self._state.get("payment", provider_payment_id)
                if raw is None:
                    raise PaymentNotFound(f"no payment {provider_payment_id}",
                                          provider=self.name)
                payment = _Payment.load(raw)
                made = payment.refunds.get(idempotency_key)
                if made is not None:  # made by another process, which answers and tells
                    if made[1] != amount:
                        raise ProviderRejected(
                            "idempotency key reused with a different request",
                            provider=self.name, status=Status.idempotency_conflict)
                    refund_id = made[0]
                    break
                left = payment.amount_minor - payment.refunded_minor
                if amount > left:
                    raise ProviderRejected(
                        f"refund of {amount} is more than the {left} left on "
                        f"{provider_payment_id}", provider=self.name, code="amount_too_large")
                refund_id = self._new_id("re")
                payment.refunded_minor += amount
                payment.refunds[idempotency_key] = [refund_id, amount]
                if self._state.swap("payment", provider_payment_id, raw, payment.dump()):
                    break  # else another process changed the payment meanwhile: read it again
            result = RefundResult(
                provider=self.name, refund_id=refund_id, provider_payment_id=provider_payment_id,
                amount_minor=amount, currency=payment.currency, status=RefundStatus.succeeded)
            if made is not None:
                return result
            self._answer("refund", idempotency_key, request, asdict(result),
                         payment.community_id)
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
            session = self._close(session_id, CheckoutStatus.expired, None)
            event = self._event(PaymentEventKind.checkout_expired, None, session=session)
        self._publish(event)
        return event

    def _complete(self, session_id: str) -> SignedWebhook:
        """The money for a checkout is in: record the payment and sign `checkout_completed`."""
        with self._lock:
            session = self._close(session_id, CheckoutStatus.complete, self._new_id("pi"))
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
        """Record the payment for `purchase` (its session, if it has one, already closed by
        the caller with the payment's id) and sign the `checkout_completed` event (callers hold
        the lock and publish the event)."""
        customer = session.checkout.customer_id if session is not None else None
        payment_id = session.payment_id if session is not None else payment_id
        payment = _Payment(payment_id or self._new_id("pi"), purchase.purchase_id,
                           purchase.community_id, purchase.member_id, purchase.amount_minor,
                           purchase.currency, customer)
        self._state.add("payment", payment.payment_id, payment.dump(), purchase.community_id)
        method_id = None
        if session is not None and session.request.save_payment_method:
            invariant(customer is not None, "a session that saves a method has a customer")
            method_id = self._new_id("pm")
            self._state.add("method", method_id, str(customer), purchase.community_id)
        return self._event(
            PaymentEventKind.checkout_completed, payment, session=session,
            event_id=event_id, payment_method_id=method_id, reference=reference)

    # -- hooks for subclasses --------------------------------------------------------------------

    def _check_checkout(self, request: CheckoutRequest) -> None:
        """Refuse checkouts this provider cannot serve (before anything is recorded)."""

    def _after_checkout(self, session_id: str) -> None:
        """Called once a new session is recorded, without the lock held."""

    def _checkout_url(self, session_id: str, request: CheckoutRequest, token: str) -> str:
        # Signed, so the hosted page needs no member session: whoever holds the URL may pay
        # or cancel this one checkout, as with a card provider's hosted page.
        url = self._url_template.replace("{session_id}", session_id)
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}sig={token}"

    # -- the hosted page ------------------------------------------------------------------------

    def checkout_signature(self, session_id: str) -> str:
        """The `sig` of a checkout URL: a random token kept with its session (any process
        sharing the provider's state can check it). PaymentNotFound for an unknown session."""
        return self._session(session_id).token

    def signed_checkout(self, session_id: str, signature: str) -> tuple[CheckoutRequest,
                                                                        CheckoutStatus]:
        """The request and status of the session a signed URL names. PaymentNotFound for an
        unknown session or a wrong signature alike (a guess learns nothing)."""
        raw = self._state.get("session", session_id)
        session = _Session.load(raw) if raw is not None else None
        expected = session.token if session is not None else secrets.token_hex(16)
        if not hmac.compare_digest(expected.encode(), signature.encode()) or session is None:
            raise PaymentNotFound("no such checkout", provider=self.name)
        return session.request, session.status

    def _charge_outcome(self, customer_id: str, payment_method_id: str,
                        amount_minor: int) -> tuple[ChargeStatus, str | None]:
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------------------------

    def _new_id(self, kind: str) -> str:
        return f"{self.name}_{kind}_{new_id()}"

    def _session(self, session_id: str) -> _Session:
        raw = self._state.get("session", session_id)
        if raw is None:
            raise PaymentNotFound(f"no checkout session {session_id!r}", provider=self.name)
        return _Session.load(raw)

    def _close(self, session_id: str, status: CheckoutStatus,
               payment_id: str | None) -> _Session:
        """Move an open session to `status` (with the payment that completed it), by a
        compare-and-set: of two processes closing one session, one does, the other is told it
        is closed. Callers hold the lock."""
        while True:
            raw = self._state.get("session", session_id)
            if raw is None:
                raise PaymentNotFound(f"no checkout session {session_id!r}", provider=self.name)
            session = _Session.load(raw)
            self._require_open(session)
            closed = replace(session, status=status, payment_id=payment_id)
            if self._state.swap("session", session_id, raw, closed.dump()):
                return closed

    def _require_open(self, session: _Session) -> None:
        if session.status is not CheckoutStatus.open:
            raise ProviderRejected(
                f"checkout session {session.checkout.session_id} is {session.status.value}",
                provider=self.name, status=Status.conflict)

    def _replay(self, kind: str, key: str, request: tuple[object, ...]) -> dict[str, Any] | None:
        """The first answer for `key` (its fields), if the same request was made with it
        before."""
        amounts.idempotency_key(key)
        raw = self._state.get(kind, key)
        if raw is None:
            return None
        stored = json.loads(raw)
        if stored["request"] != list(request):
            raise ProviderRejected("idempotency key reused with a different request",
                                   provider=self.name, status=Status.idempotency_conflict)
        answer: dict[str, Any] = stored["answer"]
        return answer

    def _answer(self, kind: str, key: str, request: tuple[object, ...], answer: dict[str, Any],
                community_id: str | None) -> bool:
        """Keep the first answer for `key`; False if another process kept one first."""
        return self._state.add(kind, key, json.dumps({"request": list(request), "answer": answer},
                                                     default=str, sort_keys=True), community_id)

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
