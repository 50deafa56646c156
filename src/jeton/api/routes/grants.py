"""Grants: credits into a member's wallet, bought or free, as a lot."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey
from jeton.api.routing import api_router
from jeton.api.schemas import Grant
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.results import TransferResult

router = api_router(tags=["grants"])


@router.post("/grants", status_code=201)
def grant(body: Grant, caller: Annotated[Caller, requires(Scope.credits_write)],
          key: IdempotencyKey) -> TransferResult:
    """Paid credits (with their cost basis) come from `issuance`, free ones from `promotions`."""
    return caller.community.grant(
        body.member, body.amount, idempotency_key=key, asset=body.asset, source=body.source,
        paid=body.paid, cost_minor=body.cost_minor, cost_currency=body.cost_currency,
        expires_at=body.expires_at, priority=body.priority, scope=body.scope,
        actor=caller.actor(body.actor), reason_code=body.reason_code, memo=body.memo,
        metadata=body.metadata)
