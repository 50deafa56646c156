"""Transfers between members, reading any transfer, and reversing one."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey
from jeton.api.params import TransferId
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import Reverse, Transfer
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.results import TransferResult

router = api_router(tags=["transfers"])


@router.post("/transfers", status_code=201, responses=problem_responses(402))
def transfer(body: Transfer, caller: Annotated[Caller, requires(Scope.credits_write)],
             key: IdempotencyKey) -> TransferResult:
    """Credits from one member to another; the lots travel with their expiry and paid status.
    A `fee` goes to revenue (omitted: the community's transfer fee)."""
    return caller.community.transfer(
        body.from_member, body.to_member, body.amount, idempotency_key=key, asset=body.asset,
        fee=body.fee, actor=caller.actor(body.actor), memo=body.memo, metadata=body.metadata)


@router.get("/transfers/{transfer_id}")
def get_transfer(transfer_id: TransferId,
                 caller: Annotated[Caller, requires(Scope.reports_read)]) -> TransferResult:
    """Any transfer: a grant, spend, capture, transfer, expiry or reversal."""
    return caller.community.get_transfer(transfer_id)


@router.post("/transfers/{transfer_id}/reverse", status_code=201,
             responses=problem_responses(409))
def reverse(transfer_id: TransferId, body: Reverse,
            caller: Annotated[Caller, requires(Scope.credits_write)],
            key: IdempotencyKey) -> TransferResult:
    """The exact opposite of a transfer: its lots given back with their expiry and paid
    status. Refused (409) when the credits it gave have been spent, or it was reversed."""
    return caller.community.reverse(transfer_id, idempotency_key=key,
                                    actor=caller.actor(body.actor),
                                    reason_code=body.reason_code, memo=body.memo)
