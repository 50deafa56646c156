"""Packs on sale: made and changed by the owner (`admin`), read by the host app."""

from __future__ import annotations

from typing import Annotated, Any

from jeton.api.auth import Caller, requires
from jeton.api.funding_schemas import CreatePack, NoBody, entitlements
from jeton.api.routes.funding_params import ForMember, PackId
from jeton.api.routing import api_router, problem_responses
from jeton.app import Community
from jeton.core.errors import JetonError
from jeton.core.statuses import Status
from jeton.services.access.api_keys import Scope
from jeton.services.funding import packs
from jeton.services.funding.results import PackInfo
from jeton.services.ledger.results import Page

router = api_router(tags=["packs"])


@router.post("/packs", status_code=201, responses=problem_responses(409))
def create_pack(body: CreatePack,
                caller: Annotated[Caller, requires(Scope.admin)]) -> PackInfo:
    """A pack on sale: `credits` for `price_minor` of `currency`, maybe with bonus credits
    (expiring after `bonus_expiry_days`), classes and keys. 409 when `pack_id` exists."""
    return caller.community.create_pack(
        body.name, credits=body.credits, price_minor=body.price_minor, currency=body.currency,
        pack_id=body.pack_id, asset=body.asset, bonus_credits=body.bonus_credits,
        bonus_expiry_days=body.bonus_expiry_days, credit_expiry_days=body.credit_expiry_days,
        classes=entitlements(body.classes), keys=entitlements(body.keys),
        visible_to=body.visible_to, sort_order=body.sort_order)


@router.get("/packs")
def list_packs(caller: Annotated[Caller, requires(Scope.members_read)],
               member: ForMember = None, include_inactive: bool = False) -> Page[PackInfo]:
    """Packs on sale in their sort order (one page: a price list); with `member`, those that
    member is offered."""
    return Page(data=caller.community.list_packs(member, include_inactive=include_inactive),
                has_more=False)


@router.get("/packs/{pack_id}")
def get_pack(pack_id: PackId, caller: Annotated[Caller, requires(Scope.members_read)]) -> PackInfo:
    return caller.community.get_pack(pack_id)


@router.post("/packs/{pack_id}/activate")
def activate_pack(pack_id: PackId, body: NoBody,
                  caller: Annotated[Caller, requires(Scope.admin)]) -> PackInfo:
    """Put a retired pack on sale again."""
    return caller.community.set_pack_active(pack_id, True)


@router.post("/packs/{pack_id}/retire")
def retire_pack(pack_id: PackId, body: NoBody,
                caller: Annotated[Caller, requires(Scope.admin)]) -> PackInfo:
    """Take a pack off sale. Purchases already made are kept; it can be activated again."""
    return caller.community.set_pack_active(pack_id, False)


def suggested_packs(community: Community, error: JetonError) -> dict[str, Any]:
    """The decline hook (routes.DECLINE_HOOKS): beside "not enough credits" for a member, the
    packs that member is offered that would cover the shortfall, best first. Charges
    (`/v1/charges`) answer their own `fixes`; this covers spends, holds and transfers."""
    extra = error.extra
    member, balance, required = (extra.get("member"), extra.get("balance"),
                                 extra.get("required"))
    if (error.status is not Status.insufficient_credits or "suggested_packs" in extra
            or not isinstance(member, str) or not isinstance(balance, int)
            or not isinstance(required, int)):
        return {}
    asset = extra.get("asset")
    found = packs.suggest_packs(community.jeton, community.id, member, required - balance,
                                asset if isinstance(asset, str) else community.asset)
    return {"suggested_packs": [p.model_dump(mode="json") for p in found]} if found else {}
