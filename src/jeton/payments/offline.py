"""Providers that take no card payments: `OfflineProvider` for money that arrives another way,
`DemoProvider` for demos and tests. Both implement the `PaymentProvider` port.

OfflineProvider: a member asks to pay by check or bank transfer. `create_checkout` opens a
session whose URL is a local page (`/pay/offline/<session id>` by default) that the web layer
fills with the owner's instructions; when the money arrives, staff call `record_payment` with
the purchase, which completes it and makes the signed `checkout_completed` event that grants the
credits. It cannot save a payment method or charge one, and its refunds record money given back
by hand (for payments its state holds: in a Jeton, every payment recorded on the database).

DemoProvider: deterministic payments. Checkouts complete when `complete_checkout` is called, or
at once with `complete_immediately=True` (the checkout URL is then the success URL itself).
Off-session charges succeed unless the customer was marked failing or the payment method is one
of the `DEMO_METHOD_*` ids below, so a test can script every outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from jeton.core import amounts
from jeton.core.clock import Clock
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.payments import _validate, limits
from jeton.payments._local import LocalProvider, LocalState, Purchase
from jeton.payments._validate import CheckoutRequest
from jeton.payments.errors import PaymentNotFound, ProviderRejected
from jeton.payments.port import ChargeStatus, CheckoutStatus, SignedWebhook

# Payment methods the demo provider knows without a checkout, each with a fixed outcome.
DEMO_METHOD_OK = "pm_demo_ok"
DEMO_METHOD_DECLINED = "pm_demo_declined"
DEMO_METHOD_INSUFFICIENT_FUNDS = "pm_demo_insufficient_funds"
DEMO_METHOD_REQUIRES_ACTION = "pm_demo_requires_action"

_DEMO_OUTCOMES: dict[str, tuple[ChargeStatus, str | None]] = {
    DEMO_METHOD_OK: (ChargeStatus.succeeded, None),
    DEMO_METHOD_DECLINED: (ChargeStatus.failed, "card_declined"),
    DEMO_METHOD_INSUFFICIENT_FUNDS: (ChargeStatus.failed, "insufficient_funds"),
    DEMO_METHOD_REQUIRES_ACTION: (ChargeStatus.requires_action, "authentication_required"),
}


class OfflineProvider(LocalProvider):
    """Payments received outside Jeton (a check, a bank transfer, cash), recorded by staff."""

    name = "offline"

    def record_payment(
        self,
        *,
        community_id: str,
        member_id: str,
        purchase_id: str,
        amount_minor: int,
        currency: str,
        reference: str,
    ) -> SignedWebhook:
        """Staff confirm the money for a purchase arrived; `reference` says how ("check 1042").
        Returns the signed `checkout_completed` event to hand to `parse_webhook`.

        The purchase's fields come from the ledger, not from this provider's memory, so a
        payment can be recorded after a restart, weeks after the checkout was opened. If this
        process holds the purchase's checkout, the fields must match it and it is completed.
        The event and payment ids are derived from the purchase: recording one purchase twice
        (even across a restart) yields the same event id, which the caller already drops.
        """
        note = _validate.text(reference, "reference", limits.reference_chars_max)
        purchase = Purchase(
            community_id=amounts.external_id(community_id, "community_id"),
            member_id=amounts.external_id(member_id, "member_id"),
            purchase_id=amounts.external_id(purchase_id, "purchase_id"),
            amount_minor=amounts.positive_amount(amount_minor, "amount_minor"),
            currency=_validate.currency_code(currency))
        derived = f"{purchase.community_id}.{purchase.purchase_id}"
        payment_id, event_id = f"{self.name}_pi_{derived}", f"{self.name}_evt_{derived}.paid"
        with self._lock:
            if self._state.get("payment", payment_id) is not None:
                raise ProviderRejected(f"purchase {purchase_id} is already recorded as paid",
                                       provider=self.name, status=Status.conflict)
            session_id = self._state.get(
                "purchase", f"{purchase.community_id}/{purchase.purchase_id}")
            session = None
            if session_id is not None:
                asked = self._session(session_id).request
                if (asked.member_id, asked.amount_minor, asked.currency) != (
                        purchase.member_id, purchase.amount_minor, purchase.currency):
                    raise ProviderRejected(
                        f"purchase {purchase_id} was opened for {asked.amount_minor} "
                        f"{asked.currency} by {asked.member_id}", provider=self.name,
                        status=Status.conflict)
                session = self._close(session_id, CheckoutStatus.complete, payment_id)
            event = self._paid(purchase, session=session, payment_id=payment_id,
                               event_id=event_id, reference=note)
        self._publish(event)
        return event

    def _check_checkout(self, request: CheckoutRequest) -> None:
        if request.save_payment_method:
            raise InvalidRequest("the offline provider cannot save a payment method",
                                 status=Status.value_invalid)

    def _charge_outcome(self, customer_id: str, payment_method_id: str,
                        amount_minor: int) -> tuple[ChargeStatus, str | None]:
        # A value, not an error: auto-recharge reports it like any failed charge.
        return ChargeStatus.failed, "unsupported"


class DemoProvider(LocalProvider):
    """Deterministic card payments for demos and tests; no money moves."""

    name = "demo"

    def __init__(
        self,
        *,
        complete_immediately: bool = False,
        failing_customers: Iterable[str] = (),
        webhook_secret: str | None = None,
        clock: Clock | None = None,
        checkout_url_template: str | None = None,
        on_event: Callable[[SignedWebhook], None] | None = None,
        state: LocalState | None = None,
    ) -> None:
        super().__init__(webhook_secret=webhook_secret, clock=clock,
                         checkout_url_template=checkout_url_template, on_event=on_event,
                         state=state)
        self._complete_immediately = complete_immediately
        self._failing_customers = set(failing_customers)

    def complete_checkout(self, session_id: str) -> SignedWebhook:
        """The member paid: complete the session and return the signed `checkout_completed`."""
        return self._complete(session_id)

    def fail_customer(self, customer_id: str) -> None:
        """Decline every later off-session charge of this customer."""
        with self._lock:
            self._failing_customers.add(customer_id)

    def _checkout_url(self, session_id: str, request: CheckoutRequest, token: str) -> str:
        if self._complete_immediately:
            # Nothing to show: the member goes straight back as if they had paid.
            return request.success_url.replace("{CHECKOUT_SESSION_ID}", session_id)
        return super()._checkout_url(session_id, request, token)

    def _after_checkout(self, session_id: str) -> None:
        if self._complete_immediately:
            self._complete(session_id)

    def _charge_outcome(self, customer_id: str, payment_method_id: str,
                        amount_minor: int) -> tuple[ChargeStatus, str | None]:
        outcome = _DEMO_OUTCOMES.get(payment_method_id)
        if outcome is None:
            owner = self._state.get("method", payment_method_id)
            if owner is None:
                raise PaymentNotFound(f"no payment method {payment_method_id!r}",
                                      provider=self.name, code="resource_missing")
            if owner != customer_id:
                raise ProviderRejected(
                    f"payment method {payment_method_id} belongs to another customer",
                    provider=self.name)
            outcome = (ChargeStatus.succeeded, None)
        if customer_id in self._failing_customers:
            return ChargeStatus.failed, "card_declined"
        return outcome
