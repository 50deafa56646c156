"""Holds: credits set aside for metered use, then captured in part or whole, or voided."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey
from jeton.api.params import HoldId
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import Capture, Hold, Void
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.batches import when_committed
from jeton.services.ledger.results import HoldResult

router = api_router(tags=["holds"])


@router.post("/holds", status_code=201, responses=problem_responses(402))
def hold(body: Hold, caller: Annotated[Caller, requires(Scope.holds_write)],
         key: IdempotencyKey) -> HoldResult:
    """Set credits aside now; they count against the available balance until captured, voided
    or expired (after `timeout_s`)."""
    return caller.community.hold(body.member, body.amount, idempotency_key=key,
                                 asset=body.asset, service=body.service,
                                 timeout_s=body.timeout_s, actor=caller.actor(body.actor),
                                 metadata=body.metadata)


@router.get("/holds/{hold_id}")
def get_hold(hold_id: HoldId,
             caller: Annotated[Caller, requires(Scope.reports_read)]) -> HoldResult:
    return caller.community.get_hold(hold_id)


@router.post("/holds/{hold_id}/capture", responses=problem_responses(409))
def capture(hold_id: HoldId, body: Capture,
            caller: Annotated[Caller, requires(Scope.holds_write)],
            key: IdempotencyKey) -> HoldResult:
    """Spend part or all of a hold; with `final` (the default) the rest is released."""
    result = caller.community.capture(hold_id, body.amount, idempotency_key=key,
                                      final=body.final, splits=body.split_list(),
                                      actor=caller.actor(body.actor), memo=body.memo)
    if not result.replayed:
        when_committed(caller.ctx.metrics.charges.labels("capture").inc)
    return result


@router.post("/holds/{hold_id}/void", responses=problem_responses(409))
def void(hold_id: HoldId, caller: Annotated[Caller, requires(Scope.holds_write)],
         key: IdempotencyKey, body: Void | None = None) -> HoldResult:
    """Release what is left of a hold back to the lots it came from."""
    return caller.community.void(hold_id, idempotency_key=key,
                                 actor=caller.actor(body.actor if body else None))
