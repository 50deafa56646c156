"""Credits posted by hand by a staff user of the host app (an owner, a moderator), with a
reason, within their role's limit (`/settings/role_limits`), and audited.

Unlike `/grants` and `/spends`, which the host app's code makes, these are people's actions:
each names the staff user (`actor`) and their `role`, whose limit is counted per user.
"""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.funding_schemas import StaffGrant, StaffPosting
from jeton.api.idempotency import IdempotencyKey
from jeton.api.routing import api_router, problem_responses
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.results import TransferResult

router = api_router(tags=["staff postings"])


@router.post("/staff_grants", status_code=201)
def staff_grant(body: StaffGrant, caller: Annotated[Caller, requires(Scope.credits_write)],
                key: IdempotencyKey) -> TransferResult:
    """Free credits for a member from a staff user. Over the role's limit: 403
    `limit-exceeded`, saying what is left; a role that may not post: 403 `forbidden`."""
    return caller.community.staff_grant(
        body.member, body.amount, actor=body.actor, reason=body.reason, idempotency_key=key,
        role=body.role.value if body.role else None, asset=body.asset,
        expires_at=body.expires_at)


@router.post("/staff_charges", status_code=201, responses=problem_responses(402, 409))
def staff_charge(body: StaffPosting, caller: Annotated[Caller, requires(Scope.credits_write)],
                 key: IdempotencyKey) -> TransferResult:
    """Credits taken from a member by a staff user, in spend order, within the role's
    limit."""
    return caller.community.staff_charge(
        body.member, body.amount, actor=body.actor, reason=body.reason, idempotency_key=key,
        role=body.role.value if body.role else None, asset=body.asset)
