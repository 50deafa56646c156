"""What the operator of a Jeton server does: make communities and hand them their first key.

Used by `POST /v1/communities` (with the operator's token) and by the CLI.
"""

from __future__ import annotations

from jeton.app import Jeton
from jeton.core import limits
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.services.access.api_keys import ApiKeyCreated, ApiKeys, Scope
from jeton.services.ledger.clocks import COMMUNITY_SELECT, community_info
from jeton.services.ledger.results import AssetInfo, CommunityInfo, Page, Result
from jeton.store.engine import Store
from jeton.store.tables.ledger import communities


class CommunityCreated(Result):
    community: CommunityInfo
    asset: AssetInfo
    api_key: ApiKeyCreated


def bootstrap_community(j: Jeton, keys: ApiKeys, *, community_id: str, name: str,
                        asset: str = "CREDIT", scale: int = 0, key_name: str = "admin",
                        created_by: str = "operator", idempotency_key: str | None = None,
                        test_mode: bool = False) -> CommunityCreated:
    """A new community, its first asset and an `admin` API key.

    A community that exists already is refused (409): its keys are made by its own admins. The
    one exception is a retry of the request that made it (same `idempotency_key`), which finds
    the key made the first time, without its token.
    """
    try:
        j.ledger.get_community(community_id)
        exists = True
    except NotFound:
        exists = False
    if exists and (idempotency_key is None or keys.find(community_id, idempotency_key) is None):
        raise Conflict(f"community {community_id!r} already exists",
                       status=Status.already_exists)
    community = j.create_community(name, community_id, asset=asset, scale=scale,
                                   test_mode=test_mode)
    key = keys.create(community.id, name=key_name, scopes=[Scope.admin], created_by=created_by,
                      idempotency_key=idempotency_key)
    made = next(a for a in community.assets() if a.code == asset)
    return CommunityCreated(community=community.info(), asset=made, api_key=key)


def without_token(created: CommunityCreated) -> CommunityCreated:
    return created.model_copy(update={
        "api_key": created.api_key.model_copy(update={"token": None})})


def list_communities(store: Store, *, limit: int = limits.page_size_default,
                     starting_after: str | None = None) -> Page[CommunityInfo]:
    """Communities by id."""
    if type(limit) is not int or not 1 <= limit <= limits.page_size_max:
        raise InvalidRequest(f"limit must be 1-{limits.page_size_max}",
                             status=Status.value_invalid)
    c = communities.c
    stmt = COMMUNITY_SELECT
    if starting_after:
        stmt = stmt.where(c.community_id > starting_after)
    with store.read() as conn:
        rows = conn.execute(stmt.order_by(c.community_id).limit(limit + 1)).all()
    data = [community_info(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)
