"""API keys of the community: made (token shown once), listed, revoked, and their spending
budgets (services/charging/key_budgets.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request
from pydantic import Field, StrictInt

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey, keep_for_replay
from jeton.api.params import AfterId, KeyId, Limit
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import AssetCode, Body, CreateKey, ExternalId
from jeton.core import limits
from jeton.services.access.api_keys import ApiKeyCreated, ApiKeyInfo, Scope
from jeton.services.charging.results import KeyBudget
from jeton.services.ledger.results import Page

router = api_router(tags=["API keys"])
Credits = Annotated[StrictInt | None, Field(default=None, ge=0, le=limits.amount_max)]


@router.post("/api_keys", status_code=201, responses=problem_responses(409))
def create_key(body: CreateKey, request: Request,
               caller: Annotated[Caller, requires(Scope.keys_write)],
               key: IdempotencyKey) -> ApiKeyCreated:
    """A new key with at most the scopes of the key asking. Its `token` is in this answer only;
    a replay of the request answers `token: null`."""
    created = caller.ctx.keys.create(caller.key.community_id, name=body.name,
                                     scopes=body.scopes, created_by=caller.actor(),
                                     granter=caller.key, idempotency_key=key)
    keep_for_replay(request, created.model_copy(update={"token": None}))
    return created


@router.get("/api_keys")
def list_keys(caller: Annotated[Caller, requires(Scope.keys_write)],
              limit: Limit = limits.page_size_default,
              starting_after: AfterId = None) -> Page[ApiKeyInfo]:
    """Keys oldest first, revoked ones included. Tokens are never shown again."""
    return caller.ctx.keys.list(caller.key.community_id, limit=limit,
                                starting_after=starting_after)


@router.get("/api_keys/{key_id}")
def get_key(key_id: KeyId, caller: Annotated[Caller, requires(Scope.keys_write)]) -> ApiKeyInfo:
    return caller.ctx.keys.get(caller.key.community_id, key_id)


@router.post("/api_keys/{key_id}/revoke")
def revoke_key(key_id: KeyId,
               caller: Annotated[Caller, requires(Scope.keys_write)]) -> ApiKeyInfo:
    """Stop a key from working, at once. Revoking it again changes nothing."""
    return caller.ctx.keys.revoke(caller.key.community_id, key_id)


class SetKeyBudget(Body):
    period: Literal["hour", "day", "month"] = Field(
        default="day", description="The window: a clock hour, a UTC day or a UTC month.")
    per_key: Credits = Field(default=None, description="For all members together.")
    per_member: Credits = Field(default=None, description="For each member.")
    asset: AssetCode = "CREDIT"


@router.post("/api_keys/{key_id}/budget", responses=problem_responses(404))
def set_budget(key_id: KeyId, body: SetKeyBudget,
               caller: Annotated[Caller, requires(Scope.admin)]) -> KeyBudget:
    """What the key may spend of members' credits per period, overall and per member. Both
    figures omitted remove the budget. Charges, spends and captures made with the key past a
    figure are refused with 403 `key_budget_exceeded`."""
    return caller.community.set_key_budget(key_id, period=body.period, per_key=body.per_key,
                                           per_member=body.per_member, asset=body.asset,
                                           actor=caller.actor())


@router.get("/api_key/budget")
def get_own_budget(caller: Annotated[Caller, requires(Scope.charges_write)],
                   member: Annotated[ExternalId | None, Query()] = None,
                   asset: Annotated[AssetCode, Query()] = "CREDIT") -> KeyBudget:
    """The calling key's own budget and what it used: what an agent asks before it charges.
    Needs only `charges:write` (a key that cannot charge has nothing to budget)."""
    return caller.community.key_budget(caller.key.key_id, member_id=member, asset=asset)


@router.get("/api_keys/{key_id}/budget", responses=problem_responses(404))
def get_budget(key_id: KeyId, caller: Annotated[Caller, requires(Scope.keys_write)],
               member: Annotated[ExternalId | None, Query()] = None,
               asset: Annotated[AssetCode, Query()] = "CREDIT") -> KeyBudget:
    """The key's budget and what it used in the window now running (`member`: and for them)."""
    return caller.community.key_budget(key_id, member_id=member, asset=asset)
