"""The errors a payment provider raises, as one branch of Jeton's exception tree.

    JetonError                              jeton.core.errors
    └── PaymentError                        something went wrong talking to a payment provider
        ├── WebhookInvalid (InvalidRequest) the webhook body is not an event we can read (400)
        │   └── SignatureInvalid            signature missing or wrong, or timestamp too old
        ├── ProviderDeclined (Declined)     the provider refused the payment: card declined (402)
        ├── ProviderUnavailable             network error, timeout, rate limit, provider 5xx:
        │                                   retry later with the same idempotency key
        └── ProviderRejected                the provider refused the request itself: bad
            │                               parameters, wrong API key, idempotency key reused
            └── PaymentNotFound (NotFound)  the provider has no object with that id (404)

Why a branch of its own and also the core classes: the API layer maps core classes to HTTP
(InvalidRequest → 400, Declined → 402, NotFound → 404), so a payment error that is one of those
answers correctly without the API knowing about payments; code that talks to providers catches
`PaymentError` and knows the cause is the provider, not the ledger.

`ProviderUnavailable` is the one error that is worth retrying as is. Every write to a provider
carries an idempotency key, so a retry after a timeout never charges twice.

Every error carries `extra` fields: `provider` (its name) and, when the provider said, `code`
(a short machine-readable reason such as `card_declined`) and `request_id` (to quote to the
provider's support). None of them ever holds a card number.
"""

from __future__ import annotations

from typing import Any

from jeton.core.errors import Declined, InvalidRequest, JetonError, NotFound
from jeton.core.statuses import Status


class PaymentError(JetonError):
    """Base of every error raised by a payment provider adapter."""

    status = Status.declined

    def __init__(
        self, detail: str, *, provider: str, status: Status | None = None, **extra: Any
    ) -> None:
        super().__init__(detail, status=status, provider=provider, **extra)
        self.provider = provider


class WebhookInvalid(PaymentError, InvalidRequest):
    """The webhook body cannot be read as a provider event. Answer 400; change nothing."""

    status = Status.value_invalid


class SignatureInvalid(WebhookInvalid):
    """The signature is missing, does not match the body and secret, or is too old to trust.

    A stale timestamp counts as invalid so that a captured request cannot be replayed later.
    """


class ProviderDeclined(PaymentError, Declined):
    """The provider refused the payment (card declined, authentication needed, refund refused)."""

    status = Status.declined


class ProviderUnavailable(PaymentError):
    """The provider could not be reached or answered with a temporary error. Retry later.

    There is no core status for "try again later" yet, so `status` stays `declined`; callers
    (and the API layer) should test the class, not the status.
    """


class ProviderRejected(PaymentError):
    """The provider rejected the request as such: a bug or a misconfiguration on our side."""

    status = Status.value_invalid


class PaymentNotFound(ProviderRejected, NotFound):
    """The provider has no checkout session, payment or customer with that id."""

    status = Status.not_found
