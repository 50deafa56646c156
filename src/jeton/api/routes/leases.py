"""Sub-leased areas: the owner leases an area of the catalog to a member, its operator, who
prices it within the lease's bounds and is paid a share of every charge in it, in the charge's
own transfer (docs/api/leases.md).

Leasing, ending, binding the operator's dashboard account and pricing the area on the
operator's behalf need `admin`; reading leases and an area's report, `reports:read`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import Field, StrictInt

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import (
    EXTERNAL_ID_PATTERN,
    SERVICE_PATTERN,
    UUID_PATTERN,
    Actor,
    Body,
    ExternalId,
)
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.charging.results import AreaReport, LeaseInfo, ServiceInfo

router = api_router(tags=["leases"])

LeaseId = Annotated[str, Path(pattern=UUID_PATTERN)]
CodePath = Annotated[str, Path(pattern=SERVICE_PATTERN, max_length=100)]
Credits = Annotated[StrictInt, Field(ge=0, le=limits.amount_max)]
Area = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*(\.[a-z0-9_\-]+)*\.$",
                            max_length=100,
                            description="A prefix of service codes ending in `.`.")]


class CreateLease(Body):
    area: Area
    operator: ExternalId
    share_bp: Annotated[StrictInt, Field(ge=0, le=10_000,
                                         description="Of each charge's price, 1/100 %.")]
    price_min: Credits
    price_max: Credits
    kinds: list[Literal["fixed", "per_unit"]] | None = Field(
        default=None, min_length=1, description="Price kinds allowed; omitted: all.")
    actor: Actor = None


class EndLease(Body):
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    actor: Actor = None


class BindLeaseStaff(Body):
    email: Annotated[str, Field(min_length=3, max_length=254)]
    actor: Actor = None


class AreaAccess(Body):
    level: Literal["open", "locked", "hidden"] = "open"
    any_of: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list,
                                                                  max_length=20)


class AreaServiceBody(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    kind: Literal["fixed", "per_unit"] = "fixed"
    credits: Credits
    class_credits: dict[Annotated[str, Field(pattern=EXTERNAL_ID_PATTERN)], Credits] | None = (
        Field(default=None, max_length=20))
    unit: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    unit_size: Annotated[StrictInt, Field(ge=1, le=1_000_000_000)] | None = None
    access: AreaAccess | None = None
    actor: Actor = None


@router.post("/leases", status_code=201, responses=problem_responses(404, 409))
def create_lease(body: CreateLease, caller: Annotated[Caller, requires(Scope.admin)],
                 key: IdempotencyKey) -> LeaseInfo:
    """Lease `area` to the member `operator`. 409 when it overlaps a running lease."""
    return caller.community.create_lease(
        body.area, body.operator, share_bp=body.share_bp, price_min=body.price_min,
        price_max=body.price_max, kinds=list(body.kinds) if body.kinds else None,
        idempotency_key=key, actor=caller.actor(body.actor))


@router.get("/leases")
def list_leases(caller: Annotated[Caller, requires(Scope.reports_read)],
                active_only: bool = False,
                operator: Annotated[str | None, Query(pattern=EXTERNAL_ID_PATTERN,
                                                      max_length=64)] = None,
                ) -> list[LeaseInfo]:
    """Leases, newest first: running and ended, or `active_only`."""
    return caller.community.list_leases(active_only=active_only, operator=operator)


@router.get("/leases/{lease_id}")
def get_lease(lease_id: LeaseId,
              caller: Annotated[Caller, requires(Scope.reports_read)]) -> LeaseInfo:
    return caller.community.get_lease(lease_id)


@router.get("/leases/{lease_id}/report")
def area_report(lease_id: LeaseId,
                caller: Annotated[Caller, requires(Scope.reports_read)]) -> AreaReport:
    """What the area did while the lease ran: uses, credits charged and earned by the
    operator, per service, and the top members."""
    return caller.community.area_report(lease_id)


@router.post("/leases/{lease_id}/end", responses=problem_responses(404))
def end_lease(lease_id: LeaseId, body: EndLease,
              caller: Annotated[Caller, requires(Scope.admin)]) -> LeaseInfo:
    """End the lease now: charges pay no share from this instant; nothing paid moves."""
    return caller.community.end_lease(lease_id, reason=body.reason,
                                      actor=caller.actor(body.actor))


@router.post("/leases/{lease_id}/staff", responses=problem_responses(404, 409))
def bind_lease_staff(lease_id: LeaseId, body: BindLeaseStaff,
                     caller: Annotated[Caller, requires(Scope.admin)]) -> LeaseInfo:
    """Make the support account `email` the operator's dashboard account: from now on it sees
    and changes only the area."""
    return caller.community.bind_lease_staff(lease_id, email=body.email,
                                             actor=caller.actor(body.actor))


@router.post("/leases/{lease_id}/services/{service}", responses=problem_responses(403, 404))
def set_area_service(lease_id: LeaseId, service: CodePath, body: AreaServiceBody,
                     caller: Annotated[Caller, requires(Scope.admin)]) -> ServiceInfo:
    """Add or change a service of the area for its operator, within the lease's bounds
    (422 outside them; 403 once the lease has ended)."""
    entry: dict[str, Any] = {"kind": body.kind, "credits": body.credits}
    if body.name is not None:
        entry["name"] = body.name
    if body.class_credits:
        entry["class_credits"] = dict(body.class_credits)
    if body.unit is not None:
        entry["unit"] = body.unit
    if body.unit_size is not None:
        entry["unit_size"] = body.unit_size
    if body.access is not None:
        entry["access"] = {"level": body.access.level, "any_of": list(body.access.any_of)}
    return caller.community.set_area_service(lease_id, service, entry,
                                             actor=caller.actor(body.actor))
