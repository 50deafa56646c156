"""The community's funding settings: the sign-up bonus, member transfer limits and fees, and
what each staff role may post by hand."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.funding_schemas import SetRoleLimit, SetSignupBonus, SetTransferLimits
from jeton.api.params import Asset
from jeton.api.routing import api_router
from jeton.services.access.api_keys import Scope
from jeton.services.funding.results import RoleLimit, SignupBonus, TransferLimits

router = api_router(tags=["settings"])


@router.get("/settings/signup_bonus")
def get_signup_bonus(caller: Annotated[Caller, requires(Scope.reports_read)]) -> SignupBonus:
    """Credits every new member gets (`amount: 0`: none)."""
    return caller.community.get_signup_bonus()


@router.post("/settings/signup_bonus")
def set_signup_bonus(body: SetSignupBonus,
                     caller: Annotated[Caller, requires(Scope.admin)]) -> SignupBonus:
    """Credits every member made from now on gets, expiring after `expiry_days` (omitted:
    never). `amount: 0` turns the bonus off."""
    return caller.community.set_signup_bonus(body.amount, expiry_days=body.expiry_days,
                                             asset=body.asset)


@router.get("/settings/transfer_limits")
def get_transfer_limits(caller: Annotated[Caller, requires(Scope.reports_read)],
                        asset: Asset = "CREDIT") -> TransferLimits:
    return caller.community.get_transfer_limits(asset=asset)


@router.post("/settings/transfer_limits")
def set_transfer_limits(body: SetTransferLimits,
                        caller: Annotated[Caller, requires(Scope.admin)]) -> TransferLimits:
    """What a member may send to other members per UTC day and calendar month (omitted: no
    limit), and the fee the sender pays on each transfer (fixed plus basis points)."""
    return caller.community.set_transfer_limits(per_day=body.per_day, per_month=body.per_month,
                                                fee_fixed=body.fee_fixed, fee_bp=body.fee_bp,
                                                asset=body.asset)


@router.post("/settings/role_limits")
def set_role_limit(body: SetRoleLimit,
                   caller: Annotated[Caller, requires(Scope.admin)]) -> RoleLimit:
    """What each staff user of `role` may post by hand (granted plus charged) per `period`.
    Moderators post nothing until an owner sets theirs."""
    return caller.community.set_role_limit(body.role.value, body.amount, period=body.period,
                                           asset=body.asset)
