"""Charging through the catalog: check, charge, metered use and rewards (services/charging/).

The catalog itself is routes/catalog.py. Every body names the asset (CREDIT by default); the
price, the splits and any free allowance come from the community's active catalog.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Response
from pydantic import Field, StrictInt

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey
from jeton.api.params import HoldId
from jeton.api.routing import api_router, ledger_answer, problem_responses
from jeton.api.schemas import (
    EXTERNAL_ID_PATTERN,
    Actor,
    AssetCode,
    Body,
    ExternalId,
    Memo,
    ServiceCode,
)
from jeton.api.writer import Calls, made_in_groups, made_together
from jeton.app import Community
from jeton.core import limits
from jeton.core.errors import InsufficientCredits
from jeton.services.access.api_keys import Scope
from jeton.services.charging.results import (
    ChargeReceipt,
    CheckResult,
    MeteredReceipt,
    MeteredSession,
    RewardResult,
)
from jeton.services.charging.together import ChargeAsk, charge_together
from jeton.services.ledger.batches import when_committed

router = api_router(tags=["charges"])

Quantity = Annotated[StrictInt, Field(ge=0, le=limits.quantity_max,
                                      description="Uses, or units of the service (minutes, "
                                                  "bytes...).")]
ContextName = Annotated[str, Field(pattern=EXTERNAL_ID_PATTERN, max_length=64)]
ContextValue = Annotated[str, Field(min_length=1,
                                    max_length=limits.charge_context_value_chars_max)]
Context = Annotated[dict[ContextName, ContextValue] | None, Field(
    default=None, max_length=limits.charge_context_entries_max,
    description="The parties the catalog's splits name, e.g. `{\"uploader\": \"bob\"}`.")]
SessionId = Annotated[ExternalId | None, Field(
    default=None, description="The window of a per-session free allowance.")]


class CheckBody(Body):
    member: ExternalId
    service: ServiceCode
    quantity: Quantity = 1
    asset: AssetCode = "CREDIT"
    context: Context = None
    session_id: SessionId = None


class ChargeBody(CheckBody):
    actor: Actor = None
    memo: Memo = ""


class StartMetered(Body):
    member: ExternalId
    service: ServiceCode
    estimated_quantity: Quantity
    asset: AssetCode = "CREDIT"
    context: Context = None
    session_id: SessionId = None
    timeout_s: Annotated[StrictInt, Field(ge=1, le=limits.hold_timeout_s_max)] = (
        limits.hold_timeout_s_default)
    actor: Actor = None


class FinishMetered(Body):
    actual_quantity: Quantity
    actor: Actor = None


class RewardBody(Body):
    member: ExternalId
    reward: ServiceCode
    asset: AssetCode = "CREDIT"
    session_id: SessionId = None
    actor: Actor = None
    memo: Memo = ""


def community(caller: Caller, asset: str) -> Community:
    """The caller's community, with `asset` as the default of its calls."""
    return Community(caller.ctx.jeton, caller.key.community_id, asset=asset)


def with_suggested_packs(exc: InsufficientCredits) -> InsufficientCredits:
    """Name the packs among the decline's fixes as the problem's `suggested_packs` (a decline
    hook of the funding service may replace them)."""
    fixes: list[Any] = exc.extra.get("fixes") or []
    packs = [f["pack"] for f in fixes if isinstance(f, dict) and f.get("pack")]
    exc.extra.setdefault("suggested_packs", packs)
    return exc


@router.post("/check")
def check(body: CheckBody,
          caller: Annotated[Caller, requires(Scope.members_read)]) -> CheckResult:
    """May the member use `quantity` of `service`: the price, the lots that would pay, and when
    not, why and what would fix it. Writes nothing (a POST only because `context` is an
    object); an `Idempotency-Key` is accepted and changes nothing."""
    return community(caller, body.asset).check(body.member, body.service, body.quantity,
                                               context=body.context,
                                               session_id=body.session_id)


def charges_together(calls: Calls) -> list[Response | None]:
    """The charges waiting on one writer, those of each community made together
    (services/charging/together.py): each call's response, or None where it is to be made
    alone by `charge`."""
    return made_in_groups(
        calls, lambda kwargs: kwargs["caller"].key.community_id,
        lambda ctx, community_id, arguments: charge_together(
            ctx.jeton.charging, community_id, [_ask(kw) for kw in arguments]), "charge")


def _ask(kwargs: dict[str, Any]) -> ChargeAsk:
    body: ChargeBody = kwargs["body"]
    caller: Caller = kwargs["caller"]
    return ChargeAsk(body.member, body.service, body.quantity, caller.idempotency_key,
                     context=body.context, session_id=body.session_id, asset=body.asset,
                     actor=caller.actor(body.actor), memo=body.memo)


# The busiest route takes its idempotency key from the caller (`caller.idempotency_key`),
# not from `key: IdempotencyKey`: one FastAPI dependency fewer per charge.
@router.post("/charges", status_code=201, response_model=ChargeReceipt,
             responses=problem_responses(402))
@made_together(charges_together)
def charge(body: ChargeBody,
           caller: Annotated[Caller, requires(Scope.charges_write)]) -> Response:
    """Charge for `quantity` of `service` at the catalog's price, with its splits and free
    allowance, in one transfer. Not enough credits: 402 with `balance`, `required`, `fixes`
    and `suggested_packs`, nothing written."""
    try:
        receipt = community(caller, body.asset).charge(
            body.member, body.service, body.quantity, idempotency_key=caller.idempotency_key,
            context=body.context, session_id=body.session_id,
            actor=caller.actor(body.actor), memo=body.memo)
    except InsufficientCredits as exc:
        raise with_suggested_packs(exc) from None
    if not receipt.replayed:
        when_committed(caller.ctx.metrics.charges.labels("charge").inc)
    return ledger_answer(receipt, 201)


@router.post("/metered", status_code=201, responses=problem_responses(402))
def start_metered(body: StartMetered, caller: Annotated[Caller, requires(Scope.charges_write)],
                  key: IdempotencyKey) -> MeteredSession:
    """Hold credits for the estimated use of a metered service (minutes of a call); finish it
    with `POST /v1/metered/{id}/finish`. Not enough credits: 402 as for a charge."""
    try:
        return community(caller, body.asset).start_metered(
            body.member, body.service, body.estimated_quantity, idempotency_key=key,
            context=body.context, session_id=body.session_id, timeout_s=body.timeout_s,
            actor=caller.actor(body.actor))
    except InsufficientCredits as exc:
        raise with_suggested_packs(exc) from None


@router.post("/metered/{hold_id}/finish", responses=problem_responses(409))
def finish_metered(hold_id: HoldId, body: FinishMetered,
                   caller: Annotated[Caller, requires(Scope.charges_write)],
                   key: IdempotencyKey) -> MeteredReceipt:
    """Capture what the use really cost (with its splits) and release the rest of the hold.
    `hold_id` is the `id` of the metered session."""
    receipt = caller.community.finish_metered(hold_id, body.actual_quantity,
                                              idempotency_key=key,
                                              actor=caller.actor(body.actor))
    if not receipt.replayed:
        caller.ctx.metrics.charges.labels("metered").inc()
    return receipt


@router.post("/rewards")
def reward(body: RewardBody, caller: Annotated[Caller, requires(Scope.credits_write)],
           key: IdempotencyKey) -> RewardResult:
    """Post a reward of the catalog (`poll.completed`) to the member. Past the reward's limit
    the answer is still 200, with `status: limit_exceeded`, and nothing is written."""
    return community(caller, body.asset).reward(body.member, body.reward, idempotency_key=key,
                                                session_id=body.session_id,
                                                actor=caller.actor(body.actor), memo=body.memo)
