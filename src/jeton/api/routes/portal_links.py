"""Portal links (services/access/member_links.py): the host app asks for a link, then sends the
member's browser to it; it opens the member's own pages (balance, store, plans, coupons,
transfers) once.

The link is a secret shown once: a replay of the request (same `Idempotency-Key`) answers
`url: ""` because the HTTP layer keeps no secrets (the store keeps only the link's digest); ask
for a new link.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from pydantic import Field, StrictInt

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey, keep_for_replay
from jeton.api.params import MemberId
from jeton.api.routing import api_router
from jeton.api.schemas import Actor, Body
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.access.member_links import MemberLink

router = api_router(tags=["members"])


ReturnUrl = Annotated[str, Field(
    min_length=1, max_length=limits.member_return_url_chars_max,
    pattern=r"^https?://[^\x00-\x1f\x7f]+$",
    description="An absolute http(s) URL of the host app; the pages send the member back to it.")]


class CreatePortalLink(Body):
    return_url: ReturnUrl | None = None
    ttl_s: Annotated[StrictInt, Field(
        ge=limits.member_link_ttl_s_min, le=limits.member_link_ttl_s_max,
        description="How long the link opens, in seconds.")] = limits.member_link_ttl_s_default
    actor: Actor = None


@router.post("/members/{member_id}/portal_links", status_code=201)
def create_portal_link(member_id: MemberId, request: Request,
                       caller: Annotated[Caller, requires(Scope.members_write)],
                       key: IdempotencyKey, body: CreatePortalLink | None = None) -> MemberLink:
    """A link that opens the member's pages once, before `expires_at`. Redirect the member's
    browser to `url` at once; do not email it (a mail scanner opening it would use it up)."""
    body = body or CreatePortalLink()
    link = caller.community.create_member_link(member_id, return_url=body.return_url,
                                               ttl_s=body.ttl_s, actor=caller.actor(body.actor))
    keep_for_replay(request, link.model_copy(update={"url": ""}))
    return link
