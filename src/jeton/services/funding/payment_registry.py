"""The payment providers one Jeton sells through, by name: `stripe`, `offline`, `demo`.

Built from settings by default: Stripe when `JETON_STRIPE_API_KEY` and
`JETON_STRIPE_WEBHOOK_SECRET` are set (and `JETON_STRIPE_API_BASE` to point it at a local fake),
the offline provider always (payments staff record by hand), and the demo provider always. The
default provider is Stripe when configured, else the demo provider, so a fresh install can sell
packs end to end without an account anywhere.

The in-process providers (offline, demo) announce their events through a callback; Jeton routes
them to the same webhook handler a real provider's HTTP request reaches, so every provider
grants credits through one path. Given the store, they keep their sessions and payments in it
(`provider_state`), so every process serving the database shares them (decision 0090).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

from jeton.config import Settings
from jeton.core.clock import Clock
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.payments.offline import DemoProvider, OfflineProvider
from jeton.payments.port import PaymentProvider, SignedWebhook
from jeton.services.funding.provider_state import StoreState
from jeton.store.engine import Store

log = logging.getLogger("jeton.payments")

EventSink = Callable[[str, SignedWebhook], None]


class PaymentRegistry:
    """Providers by name, and which one a purchase uses when the caller names none."""

    def __init__(self, providers: Mapping[str, PaymentProvider] | None = None,
                 default: str | None = None) -> None:
        self._providers: dict[str, PaymentProvider] = {}
        for name, provider in (providers or {}).items():
            if name != provider.name:
                raise InvalidRequest(f"provider {provider.name!r} registered as {name!r}",
                                     status=Status.value_invalid)
            self._providers[name] = provider
        if default is not None and default not in self._providers:
            raise InvalidRequest(f"default provider {default!r} is not registered",
                                 status=Status.value_invalid)
        self._default = default or next(iter(self._providers), None)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock,
                      on_local_event: EventSink | None = None,
                      store: Store | None = None) -> PaymentRegistry:
        providers: dict[str, PaymentProvider] = {}
        default = "demo"
        if settings.stripe_api_key and settings.stripe_webhook_secret:
            # Stripe's SDK takes a fifth of a second to import: only when it is configured.
            from jeton.payments.stripe_provider import StripeProvider

            providers["stripe"] = StripeProvider.from_settings(settings)
            default = "stripe"
        # Their checkout pages are Jeton's own (`/pay/<provider>/<session>`, web/checkout.py),
        # at the address members' browsers reach.
        base = settings.public_url.rstrip("/")
        providers["offline"] = OfflineProvider(
            clock=clock, on_event=_sink("offline", on_local_event),
            checkout_url_template=f"{base}/pay/offline/{{session_id}}",
            state=StoreState(store, "offline") if store is not None else None)
        providers["demo"] = DemoProvider(
            clock=clock, on_event=_sink("demo", on_local_event),
            checkout_url_template=f"{base}/pay/demo/{{session_id}}",
            state=StoreState(store, "demo") if store is not None else None)
        return cls(providers, default)

    def get(self, name: str | None = None) -> PaymentProvider:
        """The provider called `name`, or the default one."""
        wanted = name or self._default
        provider = self._providers.get(wanted or "")
        if provider is None:
            raise NotFound(f"no payment provider {wanted!r}; configured: {sorted(self._providers)}",
                           status=Status.not_found)
        return provider

    def add(self, provider: PaymentProvider, *, default: bool = False) -> None:
        self._providers[provider.name] = provider
        if default or self._default is None:
            self._default = provider.name

    @property
    def default_name(self) -> str | None:
        return self._default

    def names(self) -> list[str]:
        return sorted(self._providers)

    def __iter__(self) -> Iterator[PaymentProvider]:
        return iter(list(self._providers.values()))

    def close(self) -> None:
        for provider in self:
            close = getattr(provider, "close", None)
            if callable(close):
                close()


def _sink(name: str, target: EventSink | None) -> Callable[[SignedWebhook], None] | None:
    if target is None:
        return None

    def deliver(webhook: SignedWebhook) -> None:
        # A local provider calls this from inside its own method; an error here must not turn a
        # payment that happened into an exception for its caller. The caller also hands the
        # same event to the handler, and a replay changes nothing, so logging is enough.
        try:
            target(name, webhook)
        except Exception:
            log.exception("handling a %s payment event failed", name)

    return deliver
