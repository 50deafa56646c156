"""What the events domain answers: events, low-balance alerts, endpoints and deliveries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import Field

from jeton.core.clock import from_us
from jeton.services.ledger.results import Result


class EventInfo(Result):
    id: str
    type: str
    member_id: str | None = None
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> EventInfo:
        return cls(id=row[0], type=row[1], member_id=row[2], data=json.loads(row[3]),
                   created_at=from_us(row[4]))


class LowBalanceAlert(Result):
    member_id: str
    asset: str
    threshold: int
    armed: bool  # False: the balance is below the threshold and balance.low was sent


class LowBalanceLevel(Result):
    """One level of a member's low-balance alerts: `balance.low` with this `level` is sent when
    the available balance falls below `threshold`, once per crossing."""

    level: str  # info, warning, critical
    threshold: int
    armed: bool  # False: below the threshold, sent, waiting for the balance to come back


class LowBalanceLevels(Result):
    member_id: str
    asset: str
    levels: list[LowBalanceLevel]


class AttemptInfo(Result):
    attempt: int
    attempted_at: datetime
    status_code: int | None = None  # None: no HTTP answer (refused address, timeout...)
    duration_ms: int
    error: str | None = None
    response_excerpt: str | None = None


class DeliveryInfo(Result):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str  # pending, succeeded, failed, abandoned
    attempts: int
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    attempt_log: list[AttemptInfo] = Field(default_factory=list)  # by get_delivery


class EndpointInfo(Result):
    id: str
    url: str
    event_types: list[str] | None = None  # None: every type
    description: str = ""
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None = None
    deleted_at: datetime | None = None
    # After a rotation the previous secret signs too, until then.
    previous_secret_expires_at: datetime | None = None


class EndpointWithSecret(EndpointInfo):
    """An endpoint with its signing secret: returned on creation and rotation only."""

    secret: str
