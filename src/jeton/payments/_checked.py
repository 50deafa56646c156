"""The port's two long writes as every shipped provider takes them: `create_checkout` and
`charge_saved_method` check their arguments here, once (`_validate.py`), and hand the provider
one checked request (`_open_checkout`, `_charge`).

So the offline, demo and Stripe providers accept exactly the same arguments, and the port's
keyword lists are not written out again in each of them.
"""

from __future__ import annotations

from jeton.core import amounts
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.payments import _validate, limits
from jeton.payments._validate import ChargeRequest, CheckoutRequest
from jeton.payments.port import ChargeResult, Checkout


class CheckedProvider:
    """Base of the shipped providers (structurally a `PaymentProvider` with the rest)."""

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
        if not isinstance(save_payment_method, bool):
            raise InvalidRequest("save_payment_method must be a bool",
                                 status=Status.value_invalid)
        return self._open_checkout(CheckoutRequest(
            community_id=amounts.external_id(community_id, "community_id"),
            member_id=amounts.external_id(member_id, "member_id"),
            purchase_id=amounts.external_id(purchase_id, "purchase_id"),
            description=_validate.text(description, "description",
                                       limits.description_chars_max),
            amount_minor=amounts.positive_amount(amount_minor, "amount_minor"),
            currency=_validate.currency_code(currency),
            success_url=_validate.url(success_url, "success_url"),
            cancel_url=_validate.url(cancel_url, "cancel_url"),
            save_payment_method=save_payment_method,
            customer_id=(None if customer_id is None
                         else _validate.provider_id(customer_id, "customer_id")),
        ))

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
        return self._charge(ChargeRequest(
            customer_id=_validate.provider_id(customer_id, "customer_id"),
            payment_method_id=_validate.provider_id(payment_method_id, "payment_method_id"),
            amount_minor=amounts.positive_amount(amount_minor, "amount_minor"),
            currency=_validate.currency_code(currency),
            purchase_id=amounts.external_id(purchase_id, "purchase_id"),
            idempotency_key=idempotency_key, community_id=community_id, member_id=member_id,
        ))

    def _open_checkout(self, request: CheckoutRequest) -> Checkout:
        raise NotImplementedError

    def _charge(self, request: ChargeRequest) -> ChargeResult:
        raise NotImplementedError
