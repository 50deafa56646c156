"""Payment providers: the port Jeton sells credits through, and its adapters.

- `PaymentProvider` (port.py): hosted checkout, verified webhooks, off-session charges, refunds.
- `StripeProvider`: the Stripe adapter, on the official SDK.
- `OfflineProvider`: payments staff record by hand (a check, a bank transfer).
- `DemoProvider`: deterministic payments for demos and tests.
- `LocalState`, `MemoryState`: where those two keep their sessions and payments (in memory by
  default; a Jeton keeps them in its database, so every server process shares them).
- `jeton.payments.fake_stripe.FakeStripe`: a local fake of Stripe's HTTP API for tests; import
  it from its module (it pulls in a web server).

See docs.md for what this package is for and what it must never do.
"""

from typing import TYPE_CHECKING, Any

from jeton.payments._local import LocalState, MemoryState
from jeton.payments.errors import (
    PaymentError,
    PaymentNotFound,
    ProviderDeclined,
    ProviderRejected,
    ProviderUnavailable,
    SignatureInvalid,
    WebhookInvalid,
)
from jeton.payments.offline import (
    DEMO_METHOD_DECLINED,
    DEMO_METHOD_INSUFFICIENT_FUNDS,
    DEMO_METHOD_OK,
    DEMO_METHOD_REQUIRES_ACTION,
    DemoProvider,
    OfflineProvider,
)
from jeton.payments.port import (
    ChargeResult,
    ChargeStatus,
    Checkout,
    CheckoutState,
    CheckoutStatus,
    PaymentEvent,
    PaymentEventKind,
    PaymentProvider,
    RefundResult,
    RefundStatus,
    SignedWebhook,
)

if TYPE_CHECKING:
    from jeton.payments.stripe_provider import StripeProvider


def __getattr__(name: str) -> Any:
    # The Stripe adapter loads its SDK (a fifth of a second) only when someone asks for it.
    if name == "StripeProvider":
        from jeton.payments.stripe_provider import StripeProvider

        return StripeProvider
    raise AttributeError(f"module 'jeton.payments' has no attribute {name!r}")

__all__ = [
    "DEMO_METHOD_DECLINED",
    "DEMO_METHOD_INSUFFICIENT_FUNDS",
    "DEMO_METHOD_OK",
    "DEMO_METHOD_REQUIRES_ACTION",
    "ChargeResult",
    "ChargeStatus",
    "Checkout",
    "CheckoutState",
    "CheckoutStatus",
    "DemoProvider",
    "LocalState",
    "MemoryState",
    "OfflineProvider",
    "PaymentError",
    "PaymentEvent",
    "PaymentEventKind",
    "PaymentNotFound",
    "PaymentProvider",
    "ProviderDeclined",
    "ProviderRejected",
    "ProviderUnavailable",
    "RefundResult",
    "RefundStatus",
    "SignatureInvalid",
    "SignedWebhook",
    "StripeProvider",
    "WebhookInvalid",
]
