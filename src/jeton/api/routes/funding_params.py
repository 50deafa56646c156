"""Path parameters of the funding endpoints (packs, purchases, subscriptions, coupons)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from jeton.api.schemas import EXTERNAL_ID_PATTERN, UUID_PATTERN

PackId = Annotated[str, Path(pattern=EXTERNAL_ID_PATTERN, max_length=64)]
PlanId = Annotated[str, Path(pattern=EXTERNAL_ID_PATTERN, max_length=64)]
PurchaseId = Annotated[str, Path(pattern=UUID_PATTERN)]
SubscriptionId = Annotated[str, Path(pattern=UUID_PATTERN)]
CouponCodePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$",
                                     description="Matched without regard to case.")]
ForMember = Annotated[str | None, Query(
    pattern=EXTERNAL_ID_PATTERN, max_length=64,
    description="Only what this member is offered, or only this member's.")]
