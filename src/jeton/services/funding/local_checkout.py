"""The checkout page of the in-process providers, for the member pages.

Stripe hosts its own checkout page; the demo and offline providers have none (their checkout URL
is a local path that the web layer fills, see payments/offline.py). The member pages serve it,
and these are its actions, acting as the provider would:

- `pay_demo_checkout`: the member presses "Pay" on the demo provider's page. The provider
  completes the session and signs its `checkout_completed` event, which goes through the same
  webhook handler as Stripe's: the credits are granted by that event, once, never by a page.
- `cancel_local_checkout`: the member walks away; the provider expires the session and its
  `checkout_expired` event marks the purchase expired.

The offline provider's page only tells the member how to pay (a check, a bank transfer); staff
record the money when it arrives (`Community.record_offline_payment`).

Every action checks that the purchase belongs to the member asking: a purchase of another
member is answered like one that does not exist.

The same checkout is also Jeton's *hosted* page, the `url` that `POST /v1/purchases` answers
for these providers (`/pay/<provider>/<session>?sig=...`, web/checkout.py): like a card
provider's hosted page it needs no member session, because the URL is signed by the provider
(`LocalProvider.checkout_signature`); holding it lets one pay or cancel that one checkout.
`hosted_checkout` finds it by the signed URL; `pay_hosted` and `cancel_hosted` act as above,
and the page then sends the browser to the purchase's success or cancel URL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from jeton.core.errors import Conflict, NotFound
from jeton.core.statuses import Status
from jeton.payments._local import LocalProvider
from jeton.payments.errors import PaymentNotFound, ProviderRejected
from jeton.payments.offline import DemoProvider
from jeton.payments.port import SignedWebhook
from jeton.services.funding import provider_webhooks, purchases
from jeton.services.funding.results import PurchaseInfo

if TYPE_CHECKING:
    from jeton.app import Jeton

OPEN_STATUSES = purchases.OPEN_STATUSES
SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"  # as Stripe fills it in a return URL


def member_purchase(j: Jeton, community_id: str, member_id: str,
                    purchase_id: str) -> PurchaseInfo:
    """The member's own purchase; NotFound for anyone else's."""
    found = purchases.get_purchase(j, community_id, purchase_id)
    if found.member_id != member_id:
        raise NotFound(f"no purchase {purchase_id!r}", status=Status.not_found)
    return found


def is_local(j: Jeton, provider_name: str) -> bool:
    """Whether the provider is one of the in-process ones whose checkout page we serve."""
    return isinstance(j.payments.get(provider_name), LocalProvider)


def pay_demo_checkout(j: Jeton, community_id: str, member_id: str,
                      purchase_id: str) -> PurchaseInfo:
    """The member paid on the demo provider's page. Paying twice changes nothing."""
    found = member_purchase(j, community_id, member_id, purchase_id)
    provider = j.payments.get(found.provider)
    if not isinstance(provider, DemoProvider) or found.session_id is None:
        raise NotFound(f"purchase {purchase_id} has no demo checkout to pay",
                       status=Status.not_found)
    if found.status not in OPEN_STATUSES:
        return found
    try:
        webhook = provider.complete_checkout(found.session_id)
    except PaymentNotFound:
        # The demo provider keeps its sessions in memory: this one was opened by a process
        # that has stopped since.
        raise Conflict("this demo checkout was opened before the server restarted; buy the "
                       "pack again", status=Status.conflict) from None
    except ProviderRejected:
        # The session is closed already (a second click): its event was handled then.
        return member_purchase(j, community_id, member_id, purchase_id)
    return _handled(j, provider.name, webhook, community_id, member_id, purchase_id)


def cancel_local_checkout(j: Jeton, community_id: str, member_id: str,
                          purchase_id: str) -> PurchaseInfo:
    """The member gave up on a demo or offline checkout: the purchase expires."""
    found = member_purchase(j, community_id, member_id, purchase_id)
    provider = j.payments.get(found.provider)
    if (not isinstance(provider, LocalProvider) or found.session_id is None
            or found.status not in OPEN_STATUSES):
        return found
    try:
        webhook = provider.expire_checkout(found.session_id)
    except (ProviderRejected, PaymentNotFound):
        # Closed already, or opened by a process that has since stopped: the purchase
        # expires by itself (the `purchases.expire` job).
        return member_purchase(j, community_id, member_id, purchase_id)
    return _handled(j, provider.name, webhook, community_id, member_id, purchase_id)


def _handled(j: Jeton, provider: str, webhook: SignedWebhook, community_id: str,
             member_id: str, purchase_id: str) -> PurchaseInfo:
    # The provider hands its event to Jeton's handler as it makes it; handing it over again
    # here is a replay that changes nothing, and covers a handler that failed the first time.
    provider_webhooks.handle_provider_webhook(j, provider, webhook.payload, webhook.headers)
    return member_purchase(j, community_id, member_id, purchase_id)


# ---- the hosted page (`/pay/<provider>/<session>?sig=...`), opened by anyone holding its URL ----

@dataclass(frozen=True, slots=True)
class HostedCheckout:
    """A checkout of an in-process provider, found by its signed URL."""

    provider: str
    session_id: str
    community_id: str
    purchase: PurchaseInfo
    success_url: str  # with the session id in place of {CHECKOUT_SESSION_ID}
    cancel_url: str

    @property
    def payable(self) -> bool:
        """The demo provider's page has a Pay button; the offline one only says how to pay."""
        return self.provider == "demo"

    @property
    def open(self) -> bool:
        return self.purchase.status in OPEN_STATUSES


def hosted_checkout(j: Jeton, provider_name: str, session_id: str,
                    signature: str) -> HostedCheckout:
    """The checkout a signed URL names; NotFound for a wrong signature, an unknown session or a
    provider that is not in-process (a guess learns nothing from the answer)."""
    missing = NotFound("no such checkout", status=Status.not_found)
    try:
        provider = j.payments.get(provider_name)
    except NotFound:
        raise missing from None
    if not isinstance(provider, LocalProvider):
        raise missing
    try:
        request, _ = provider.signed_checkout(session_id, signature)
    except PaymentNotFound:
        raise missing from None
    purchase = member_purchase(j, request.community_id, request.member_id, request.purchase_id)
    return HostedCheckout(
        provider=provider.name, session_id=session_id, community_id=request.community_id,
        purchase=purchase,
        success_url=request.success_url.replace(SESSION_PLACEHOLDER, session_id),
        cancel_url=request.cancel_url.replace(SESSION_PLACEHOLDER, session_id))


def pay_hosted(j: Jeton, found: HostedCheckout) -> HostedCheckout:
    """"Pay" on the demo provider's hosted page: the same path as the member pages' page."""
    p = found.purchase
    paid = pay_demo_checkout(j, found.community_id, p.member_id, p.id)
    return replace(found, purchase=paid)


def cancel_hosted(j: Jeton, found: HostedCheckout) -> HostedCheckout:
    p = found.purchase
    done = cancel_local_checkout(j, found.community_id, p.member_id, p.id)
    return replace(found, purchase=done)
