"""Signed receipts of charges, purchases and refunds, and the keys that verify them.

`GET /.well-known/jeton/{community_id}/keys` is public, as a verifying key should be: no API
key, so a member or any third party can fetch it. It is a plain route (like the providers'
webhooks): no key, no scope, no rate limit of a key. Everything else needs a key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from jeton.api.auth import Caller, requires
from jeton.api.context import api_context
from jeton.api.idempotency import IdempotencyKey
from jeton.api.params import TransferId
from jeton.api.routing import api_router
from jeton.api.schemas import EXTERNAL_ID_PATTERN
from jeton.services.access.api_keys import Scope
from jeton.services.funding import receipt_keys
from jeton.services.funding.receipt_keys import ReceiptKeys
from jeton.services.funding.receipts import Receipt

router = api_router(tags=["receipts"])
well_known = APIRouter(tags=["receipts"])

CommunityId = Annotated[str, Path(pattern=EXTERNAL_ID_PATTERN, max_length=64)]
PurchaseId = Annotated[str, Path(max_length=64, pattern=EXTERNAL_ID_PATTERN)]


@router.get("/transfers/{transfer_id}/receipt")
def transfer_receipt(transfer_id: TransferId,
                     caller: Annotated[Caller, requires(Scope.members_read)]) -> Receipt:
    """The signed receipt of a transfer about a member: a charge, a purchase's credits, a
    refund, a grant or a transfer between members."""
    return caller.community.receipt(transfer_id)


@router.get("/purchases/{purchase_id}/receipt")
def purchase_receipt(purchase_id: PurchaseId,
                     caller: Annotated[Caller, requires(Scope.members_read)]) -> Receipt:
    """The signed receipt of a completed purchase, with the money paid."""
    return caller.community.purchase_receipt(purchase_id)


@router.get("/receipt_keys")
def list_receipt_keys(caller: Annotated[Caller, requires(Scope.members_read)]) -> ReceiptKeys:
    """The community's receipt keys, newest first (as published at /.well-known)."""
    return caller.community.receipt_keys()


@router.post("/receipt_keys/rotate", status_code=201)
def rotate_receipt_key(caller: Annotated[Caller, requires(Scope.admin)],
                       key: IdempotencyKey) -> ReceiptKeys:
    """A new signing key; the old one stays published so its receipts still verify."""
    return caller.community.rotate_receipt_key(idempotency_key=key)


@well_known.get("/.well-known/jeton/{community_id}/keys",
                responses={404: {"description": "No such community."}})
async def published_keys(community_id: CommunityId, request: Request) -> ReceiptKeys:
    """The community's public receipt keys. No API key needed."""
    j = api_context(request).jeton
    return await run_in_threadpool(receipt_keys.public_keys, j.store, community_id, j.clock)

