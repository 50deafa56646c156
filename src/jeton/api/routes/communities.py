"""Communities: the operator makes them (with a first admin key); a key reads its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request

from jeton.api.auth import OPERATOR, Caller, requires
from jeton.api.idempotency import IdempotencyKey, keep_for_replay
from jeton.api.params import AfterMember, Limit
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import CreateCommunity
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.results import CommunityInfo, Page
from jeton.services.ops import operator

router = api_router(tags=["communities"])


@router.post("/communities", status_code=201, responses=problem_responses(409))
def create_community(body: CreateCommunity, request: Request,
                     caller: Annotated[Caller, requires(OPERATOR)],
                     key: IdempotencyKey) -> operator.CommunityCreated:
    """A community with its first asset and its first API key (scope `admin`), whose token is
    in the answer once: a replay of this request answers `token: null`."""
    created = operator.bootstrap_community(
        caller.ctx.jeton, caller.ctx.keys, community_id=body.id, name=body.name,
        asset=body.asset, scale=body.scale, key_name=body.key_name,
        created_by=caller.actor(), idempotency_key=key, test_mode=body.test_mode)
    keep_for_replay(request, operator.without_token(created))
    return created


@router.get("/communities")
def list_communities(caller: Annotated[Caller, requires(OPERATOR)],
                     limit: Limit = limits.page_size_default,
                     starting_after: AfterMember = None) -> Page[CommunityInfo]:
    return operator.list_communities(caller.ctx.jeton.store, limit=limit,
                                     starting_after=starting_after)


@router.get("/community")
def get_community(caller: Annotated[Caller, requires(Scope.reports_read)]) -> CommunityInfo:
    """The community of the API key."""
    return caller.community.info()
