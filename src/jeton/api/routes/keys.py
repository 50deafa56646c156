"""API keys of the community: made (token shown once), listed, revoked."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey, keep_for_replay
from jeton.api.params import AfterId, KeyId, Limit
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import CreateKey
from jeton.core import limits
from jeton.services.access.api_keys import ApiKeyCreated, ApiKeyInfo, Scope
from jeton.services.ledger.results import Page

router = api_router(tags=["API keys"])


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
