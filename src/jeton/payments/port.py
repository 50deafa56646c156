"""The payment-provider port: what Jeton asks of anything that takes money for credits.

Jeton sells packs of credits for money but never touches card data: a member pays on the
provider's hosted page, the provider tells us by a signed webhook, and we keep only the
provider's ids (session, payment, customer, saved payment method) and tokens. No field of any type
here may hold a card number, and the free-text fields that reach a provider are checked for one.

The flow the port serves (DESIGN.md §4):

1. `create_checkout` for a purchase Jeton has already recorded; the member is sent to `url`.
2. The provider calls our webhook; `parse_webhook` verifies the signature and returns a
   normalized `PaymentEvent`. Credits are granted once, on `checkout_completed`, keyed by
   `purchase_id`; the event id lets the caller drop a replayed webhook before doing anything.
3. `get_checkout` lets the return page show "paid" before the webhook has arrived.
4. `charge_saved_method` charges the saved method off-session (auto-recharge, plan renewals).
5. `refund` gives money back.

Amounts are `int` minor units of `currency` (cents for USD, yen for JPY), as everywhere in Jeton.
Currencies are ISO 4217 codes; the port returns them in capitals whatever case went in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from jeton.payments.errors import ProviderDeclined


class PaymentEventKind(StrEnum):
    """What a provider event means for Jeton, whatever the provider called it."""

    # Money for a checkout is confirmed: grant the purchase's credits (once).
    checkout_completed = "checkout_completed"
    # The member finished the checkout but the money is not confirmed yet (a bank debit);
    # a `checkout_completed` or `payment_failed` follows.
    checkout_pending = "checkout_pending"
    # The member never paid and the session is closed.
    checkout_expired = "checkout_expired"
    # A payment succeeded (an off-session charge, or the payment behind a checkout).
    payment_succeeded = "payment_succeeded"
    # A payment failed; `failure_reason` says why.
    payment_failed = "payment_failed"
    # Money went back to the member; `amount_minor` is the total refunded on that payment so far.
    refunded = "refunded"
    # The member's bank took the money back (a chargeback): `amount_minor` is what this dispute
    # withdrew. Whatever its outcome later, the money is gone now.
    disputed = "disputed"


class CheckoutStatus(StrEnum):
    open = "open"
    complete = "complete"
    expired = "expired"


class ChargeStatus(StrEnum):
    succeeded = "succeeded"
    # Accepted but not settled (some bank methods); the outcome arrives as an event.
    processing = "processing"
    # The bank wants the member present (3-D Secure); bring them back on-session.
    requires_action = "requires_action"
    failed = "failed"


class RefundStatus(StrEnum):
    succeeded = "succeeded"
    pending = "pending"
    failed = "failed"


@dataclass(frozen=True, slots=True)
class Checkout:
    """A hosted checkout session the member is sent to."""

    provider: str
    session_id: str
    url: str
    # The provider customer the session belongs to, when one was made or given (saving a method
    # needs one); store it on the member so later checkouts reuse it.
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class CheckoutState:
    """A checkout session as the provider sees it now, for the return page to poll."""

    provider: str
    session_id: str
    status: CheckoutStatus
    # The money is confirmed. A session can be complete and still unpaid (a bank debit).
    paid: bool
    purchase_id: str | None
    amount_minor: int
    currency: str
    customer_id: str | None = None
    provider_payment_id: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A verified provider event, normalized.

    `event_id` is the provider's id of the event: the same webhook delivered twice has the same
    id, so the caller records it and ignores repeats. `purchase_id`, `community_id` and
    `member_id` are Jeton's own references, carried through the provider as metadata; they are
    None on events about payments Jeton did not start.
    """

    provider: str
    kind: PaymentEventKind
    event_id: str
    occurred_at: datetime
    purchase_id: str | None
    community_id: str | None = None
    member_id: str | None = None
    checkout_session_id: str | None = None
    provider_payment_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    customer_id: str | None = None
    # The payment method the member agreed to save, for off-session charges later.
    payment_method_id: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The outcome of an off-session charge. A decline is a result, not an exception.

    `failure_reason` is a short machine-readable code (`card_declined`, `insufficient_funds`,
    `authentication_required`, ...); `failure_message` is the provider's text for people.
    """

    provider: str
    status: ChargeStatus
    provider_payment_id: str | None
    amount_minor: int
    currency: str
    failure_reason: str | None = None
    failure_message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is ChargeStatus.succeeded

    def raise_for_failure(self) -> None:
        """Raise `ProviderDeclined` unless the charge succeeded or is still processing.

        For callers that want the single-call style (an exception) rather than a status.
        """
        if self.status in (ChargeStatus.succeeded, ChargeStatus.processing):
            return
        raise ProviderDeclined(
            self.failure_message or f"the charge {self.status.value}",
            provider=self.provider,
            code=self.failure_reason,
            charge_status=self.status.value,
            provider_payment_id=self.provider_payment_id,
        )


@dataclass(frozen=True, slots=True)
class RefundResult:
    provider: str
    refund_id: str
    provider_payment_id: str
    amount_minor: int
    currency: str
    status: RefundStatus
    failure_reason: str | None = None


@dataclass(frozen=True, slots=True)
class SignedWebhook:
    """A webhook request as a provider would send it: the raw body and its headers.

    The test doubles hand these out so a test (or a demo) can push an event through the same
    `parse_webhook` path a real provider's request takes.
    """

    payload: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Frozen means frozen: a caller must not be able to edit the headers after signing.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))


@runtime_checkable
class PaymentProvider(Protocol):
    """A payment provider. Every method may raise `ProviderUnavailable` (retry later) or
    `ProviderRejected` (a bug or a misconfiguration); arguments are checked first and bad ones
    raise `jeton.core.errors.InvalidRequest` before anything is sent.
    """

    @property
    def name(self) -> str:
        """A short stable name (`stripe`, `offline`, `demo`), stored beside provider ids."""
        ...

    def create_checkout(
        self,
        *,
        community_id: str,
        member_id: str,
        purchase_id: str,
        description: str,
        amount_minor: int,
        currency: str,
        success_url: str,
        cancel_url: str,
        save_payment_method: bool,
        customer_id: str | None = None,
    ) -> Checkout:
        """Open a hosted checkout for a one-off purchase.

        Idempotent per `purchase_id`: asking again for the same purchase returns the same
        session (within the provider's idempotency window). With `save_payment_method`, the
        member agrees to later off-session charges and the event carries the saved method.
        `customer_id` reuses the member's provider customer from an earlier purchase.
        """
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent | None:
        """Verify a webhook and normalize it; None for verified events Jeton does not act on.

        Raises `SignatureInvalid` for a missing, wrong or stale signature, and `WebhookInvalid`
        for a body that is not an event. Header names are matched case-insensitively.
        """
        ...

    def get_checkout(self, session_id: str) -> CheckoutState:
        """The session as the provider sees it now. Raises `PaymentNotFound` for unknown ids."""
        ...

    def charge_saved_method(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount_minor: int,
        currency: str,
        purchase_id: str,
        idempotency_key: str,
        community_id: str | None = None,
        member_id: str | None = None,
    ) -> ChargeResult:
        """Charge a saved payment method with the member absent (auto-recharge, renewals).

        A decline is returned as a failed `ChargeResult`. The same `idempotency_key` returns
        the first answer and never charges twice. Pass `community_id` and `member_id` so that
        events about this payment can be routed like checkout events.
        """
        ...

    def refund(
        self, *, provider_payment_id: str, amount_minor: int, idempotency_key: str
    ) -> RefundResult:
        """Give back `amount_minor` of a payment (all of it or a part)."""
        ...
