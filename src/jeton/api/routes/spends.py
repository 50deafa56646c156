"""Spends: credits taken from a member for what they do, one at a time or in batches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Response
from pydantic import BaseModel

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey
from jeton.api.routing import api_router, ledger_answer, problem_responses
from jeton.api.schemas import Spend, SpendBatch
from jeton.api.writer import Calls, made_in_groups, made_together
from jeton.core.statuses import Status
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.batches import when_committed
from jeton.services.ledger.results import BatchItem, SpendRequest, TransferResult

router = api_router(tags=["spends"])


class BatchResult(BaseModel):
    """One item per request item, in order, each with its own status."""

    data: list[BatchItem]


def spends_together(calls: Calls) -> list[Response | None]:
    """The spends waiting on one writer, those of each community and actor made together
    (`spend_together`, decision 0121): each call's response, or None where it is to be made
    alone by `spend`."""
    return made_in_groups(
        calls, lambda kwargs: (kwargs["caller"].key.community_id,
                               kwargs["caller"].actor(kwargs["body"].actor)),
        lambda ctx, group, arguments: ctx.jeton.ledger.spend_together(
            group[0], [_request(kw) for kw in arguments], actor=group[1]), "spend")


def _request(kwargs: dict[str, Any]) -> SpendRequest:
    body: Spend = kwargs["body"]
    return SpendRequest(member=body.member, amount=body.amount, idempotency_key=kwargs["key"],
                        asset=body.asset, service=body.service, splits=body.split_list(),
                        memo=body.memo, reason_code=body.reason_code, metadata=body.metadata)


@router.post("/spends", status_code=201, response_model=TransferResult,
             responses=problem_responses(402))
@made_together(spends_together)
def spend(body: Spend, caller: Annotated[Caller, requires(Scope.charges_write)],
          key: IdempotencyKey) -> Response:
    """Take credits in spend order, paying revenue and any splits in one transfer."""
    result = caller.community.spend(
        body.member, body.amount, idempotency_key=key, asset=body.asset, service=body.service,
        splits=body.split_list(), actor=caller.actor(body.actor), reason_code=body.reason_code,
        memo=body.memo, metadata=body.metadata)
    if not result.replayed:
        when_committed(caller.ctx.metrics.charges.labels("spend").inc)
    return ledger_answer(result, 201)


@router.post("/spends/batch")
def spend_batch(body: SpendBatch, caller: Annotated[Caller, requires(Scope.charges_write)],
                key: IdempotencyKey) -> BatchResult:
    """Many spends in one transaction, each with its own idempotency key and status: a declined
    item writes nothing and does not stop the others. The request's own `Idempotency-Key`
    replays the whole answer."""
    items = caller.community.spend_batch([item.to_request() for item in body.items],
                                         actor=caller.actor(body.actor))
    metrics = caller.ctx.metrics
    for item in items:
        if item.status == Status.ok.value:
            if item.result is not None and not item.result.replayed:
                metrics.charges.labels("spend").inc()
        elif item.status in _DECLINES:
            metrics.declines.labels(item.status).inc()
    return BatchResult(data=items)


_DECLINES = {Status.insufficient_credits.value, Status.limit_exceeded.value,
             Status.declined.value}
