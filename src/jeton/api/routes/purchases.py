"""Purchases: a member buys a pack through a payment provider's checkout; staff record offline
payments; refunds give money back (through the provider, or as credits) and a charge back to
the lots it came from.

Credits are never granted by these routes: they come when the provider confirms the payment
(its signed webhook, `provider_webhooks.py`), or when staff record an offline payment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.funding_schemas import (
    BuyPack,
    OfflinePayment,
    RefundAsCredits,
    RefundCharge,
    RefundPurchase,
)
from jeton.api.idempotency import IdempotencyKey
from jeton.api.params import AfterId, Limit, TransferId
from jeton.api.problems import HttpProblem
from jeton.api.routes.funding_params import ForMember, PurchaseId
from jeton.api.routing import api_router, problem_responses
from jeton.core import limits
from jeton.core.statuses import Status
from jeton.payments.errors import ProviderUnavailable
from jeton.services.access.api_keys import Scope
from jeton.services.funding.results import Checkout, PurchaseInfo, RefundInfo
from jeton.services.ledger.results import Page, TransferResult

router = api_router(tags=["purchases"])


@contextmanager
def provider_retry_later() -> Iterator[None]:
    """A provider that cannot be reached now is a 503 with `Retry-After` (which `jeton.Client`
    retries with the same idempotency key), not a decline: nothing was refused."""
    try:
        yield
    except ProviderUnavailable as exc:
        raise HttpProblem(Status.unavailable, exc.detail, headers={"Retry-After": "5"},
                          provider=exc.provider) from exc


@router.post("/purchases", status_code=201, responses=problem_responses(402, 503))
def buy_pack(body: BuyPack, caller: Annotated[Caller, requires(Scope.credits_write)],
             key: IdempotencyKey) -> Checkout:
    """Start buying a pack: send the member to the answer's `url`, the provider's checkout.
    The credits come once the provider confirms the payment. A pack the member is not offered
    is not found (404)."""
    with provider_retry_later():
        return caller.community.buy_pack(
            body.member, body.pack_id, idempotency_key=key, success_url=body.success_url,
            cancel_url=body.cancel_url, provider=body.provider,
            save_payment_method=body.save_payment_method)


@router.get("/purchases")
def list_purchases(caller: Annotated[Caller, requires(Scope.members_read)],
                   member: ForMember = None, limit: Limit = limits.page_size_default,
                   starting_after: AfterId = None) -> Page[PurchaseInfo]:
    """Purchases, newest first; with `member`, that member's only."""
    return caller.community.list_purchases(member, limit=limit, starting_after=starting_after)


@router.get("/purchases/{purchase_id}")
def get_purchase(purchase_id: PurchaseId,
                 caller: Annotated[Caller, requires(Scope.members_read)]) -> PurchaseInfo:
    return caller.community.get_purchase(purchase_id)


@router.post("/purchases/{purchase_id}/offline_payment", responses=problem_responses(409))
def record_offline_payment(purchase_id: PurchaseId, body: OfflinePayment,
                           caller: Annotated[Caller, requires(Scope.credits_write)],
                           ) -> PurchaseInfo:
    """The money for a purchase made with the `offline` provider arrived (a check, a bank
    transfer): the purchase completes and its credits are granted, once."""
    return caller.community.record_offline_payment(purchase_id, reference=body.reference,
                                                   actor=caller.actor(body.actor))


@router.post("/purchases/{purchase_id}/refund", status_code=201,
             responses=problem_responses(402, 409, 503))
def refund_purchase(purchase_id: PurchaseId, body: RefundPurchase,
                    caller: Annotated[Caller, requires(Scope.credits_write)],
                    key: IdempotencyKey) -> RefundInfo:
    """Money back through the provider (all of it, or `amount_minor`); the purchase's unspent
    credits are taken back in proportion. 402 when the provider refuses the refund."""
    with provider_retry_later():
        return caller.community.refund_purchase(purchase_id, idempotency_key=key,
                                                amount_minor=body.amount_minor,
                                                actor=caller.actor(body.actor),
                                                reason=body.reason)


@router.post("/purchases/{purchase_id}/refund_as_credits", status_code=201,
             responses=problem_responses(409))
def refund_as_credits(purchase_id: PurchaseId, body: RefundAsCredits,
                      caller: Annotated[Caller, requires(Scope.credits_write)],
                      key: IdempotencyKey) -> RefundInfo:
    """Money owed on a purchase given back as permanent credits instead of cash."""
    return caller.community.refund_as_credits(purchase_id, idempotency_key=key,
                                              amount_minor=body.amount_minor,
                                              credits=body.credits,
                                              actor=caller.actor(body.actor),
                                              reason=body.reason)


@router.post("/transfers/{transfer_id}/refund", status_code=201,
             responses=problem_responses(409))
def refund_charge(transfer_id: TransferId, body: RefundCharge,
                  caller: Annotated[Caller, requires(Scope.credits_write)],
                  key: IdempotencyKey) -> TransferResult:
    """A charge (a spend or a capture) given back to the lots it came from, with their expiry
    and paid status: the ledger's reversal, for charges only, recorded as a refund
    (`reason_code: refund`, the reason as memo). Any other kind of transfer: 409."""
    return caller.community.refund_charge(transfer_id, idempotency_key=key,
                                          actor=caller.actor(body.actor), reason=body.reason)
