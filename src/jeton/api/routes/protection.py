"""Protecting wallets: staff freeze and unfreeze a member's wallet, the owner sets velocity
limits (credits a member may spend per hour and per UTC day) and who counts as a new member.

A frozen member's spends, charges, captures, transfers out and purchases are refused with 403
`wallet-frozen`; a spend over a velocity limit with 403 `velocity-limit-exceeded`, its `limit`,
what was `used` in the window, the `period` and `retry_after`, when the window ends.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from jeton.api.auth import Caller, requires
from jeton.api.params import MemberId
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import AssetCode, Body, ServiceCode
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.charging import velocity
from jeton.services.charging.results import SpendingLimits, VelocityLimit, WalletFreeze

router = api_router(tags=["protection"])

Credits = Annotated[StrictInt | None, Field(default=None, ge=0, le=limits.amount_max)]


class FreezeBody(Body):
    reason: Annotated[str, Field(min_length=1, max_length=500,
                                 description="Why: kept in the staff audit log.")]
    actor: Annotated[str, Field(min_length=1, max_length=150, pattern=r"^[^\x00-\x1f]+$",
                                description="The staff user acting (their id in the host "
                                            "app).")]


class SetVelocityLimit(Body):
    service: ServiceCode | None = Field(default=None, description="Omitted: every service.")
    per_hour: Credits = None
    per_day: Credits = None
    new_member_per_hour: Credits = None
    new_member_per_day: Credits = None
    asset: AssetCode = "CREDIT"


class SetSpendingSettings(Body):
    new_member_days: Annotated[StrictInt | None, Field(
        default=None, ge=0, le=velocity.NEW_MEMBER_DAYS_MAX)] = None
    alert_after_trips: Annotated[StrictInt | None, Field(
        default=None, ge=1, le=velocity.ALERT_AFTER_TRIPS_MAX)] = None


@router.get("/members/{member_id}/freeze")
def get_freeze(member_id: MemberId,
               caller: Annotated[Caller, requires(Scope.members_read)]) -> WalletFreeze:
    """Whether the member's wallet is frozen, since when, by whom and why."""
    return caller.community.get_wallet_freeze(member_id)


@router.post("/members/{member_id}/freeze", responses=problem_responses(404))
def freeze(member_id: MemberId, body: FreezeBody,
           caller: Annotated[Caller, requires(Scope.credits_write)]) -> WalletFreeze:
    """Freeze the wallet: no spend, charge, capture, transfer out or purchase until unfrozen.
    Credits may still come in. Freezing a frozen wallet keeps the first freeze."""
    return caller.community.freeze_wallet(member_id, reason=body.reason, actor=body.actor)


@router.post("/members/{member_id}/unfreeze", responses=problem_responses(404))
def unfreeze(member_id: MemberId, body: FreezeBody,
             caller: Annotated[Caller, requires(Scope.credits_write)]) -> WalletFreeze:
    """Let the member spend again."""
    return caller.community.unfreeze_wallet(member_id, reason=body.reason, actor=body.actor)


@router.get("/settings/spending_limits")
def get_spending_limits(caller: Annotated[Caller, requires(Scope.reports_read)]
                        ) -> SpendingLimits:
    """Every velocity limit, who counts as a new member, and when the owner is alerted."""
    return caller.community.spending_limits()


@router.post("/settings/spending_limits")
def set_velocity_limit(body: SetVelocityLimit,
                       caller: Annotated[Caller, requires(Scope.admin)]) -> VelocityLimit:
    """The limit on one service (or every service): credits per hour and per UTC day, and
    tighter figures for new members. Every figure omitted removes the limit."""
    return caller.community.set_velocity_limit(
        service=body.service, per_hour=body.per_hour, per_day=body.per_day,
        new_member_per_hour=body.new_member_per_hour,
        new_member_per_day=body.new_member_per_day, asset=body.asset, actor=caller.actor())


@router.post("/settings/spending")
def set_spending_settings(body: SetSpendingSettings,
                          caller: Annotated[Caller, requires(Scope.admin)]) -> SpendingLimits:
    """Members newer than `new_member_days` get the new-member limits; `alert_after_trips`
    declines by a limit in one UTC day send the owner `member.limit_tripped` (once a day)."""
    return caller.community.set_spending_settings(new_member_days=body.new_member_days,
                                                  alert_after_trips=body.alert_after_trips,
                                                  actor=caller.actor())
