"""Webhook endpoints, the events they receive and the deliveries made to them
(services/events/endpoints.py, events.py, webhook_delivery.py), and members' low-balance thresholds.

Scopes: endpoints and deliveries (where events go, and what those servers answered) need
`webhooks:write`, reads included; events are a read of what happened in the community, like
transfers, and need `reports:read`.

A signing secret is in the answer that makes it (creation, rotation) and nowhere else: a replay
of that request (same `Idempotency-Key`) answers `secret: ""`, since the HTTP layer does not
keep secrets; rotate to get a new one.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import Path, Query, Request
from pydantic import Field, StrictBool, StrictInt

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey, keep_for_replay
from jeton.api.params import AfterId, Asset, Limit, MemberId
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import UUID_PATTERN, AssetCode, Body
from jeton.app import Community
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.events.endpoints import DeliveryInfo, EventInfo, LowBalanceAlert
from jeton.services.events.outbox import ALL_TYPES, EVENT_TYPES
from jeton.services.events.results import EndpointInfo, EndpointWithSecret, LowBalanceLevels
from jeton.services.ledger.results import Page

router = api_router(tags=["webhooks"])

_KNOWN_TYPES = "|".join(re.escape(t) for t in sorted(EVENT_TYPES))
KNOWN_TYPE_PATTERN = f"^({_KNOWN_TYPES})$"
EVENT_TYPE_PATTERN = f"^({_KNOWN_TYPES}|{re.escape(ALL_TYPES)})$"
EventType = Annotated[str, Field(pattern=EVENT_TYPE_PATTERN,
                                 description="An event type, or `*` for every type.")]
EventTypes = Annotated[list[EventType], Field(min_length=1,
                                              max_length=limits.webhook_event_types_max)]
Url = Annotated[str, Field(min_length=1, max_length=limits.webhook_url_chars_max,
                           description="An http(s) URL on a public address.")]
Description = Annotated[str, Field(max_length=limits.webhook_description_chars_max)]

EndpointId = Annotated[str, Path(pattern=UUID_PATTERN)]
EventId = Annotated[str, Path(pattern=UUID_PATTERN)]
DeliveryId = Annotated[str, Path(pattern=UUID_PATTERN)]
OptionalId = Annotated[str | None, Query(pattern=UUID_PATTERN)]
# store.tables.webhooks.DELIVERY_STATUSES
DeliveryStatus = Literal["pending", "succeeded", "failed", "abandoned"]


class CreateEndpoint(Body):
    url: Url
    event_types: EventTypes | None = Field(default=None,
                                           description="Omitted or null: every type.")
    description: Description = ""
    enabled: StrictBool = True


class UpdateEndpoint(Body):
    """Fields left out (or null) stay as they are; `event_types: ["*"]` is every type."""

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: StrictBool | None = None


class RotateSecret(Body):
    grace_s: Annotated[StrictInt, Field(
        ge=0, le=limits.webhook_secret_grace_s_max,
        description="How long the old secret also signs (0: stop at once).")] = (
        limits.webhook_secret_grace_s_default)


class LowBalanceLevelsBody(Body):
    levels: dict[Literal["info", "warning", "critical"],
                 Annotated[StrictInt, Field(ge=1, le=limits.amount_max)] | None] = Field(
        description="Thresholds falling from info to warning to critical; a level left out "
                    "(or null) is removed, `{}` removes them all.")
    asset: AssetCode = "CREDIT"


class LowBalanceThreshold(Body):
    threshold: Annotated[StrictInt, Field(ge=1, le=limits.amount_max)] | None = Field(
        description="balance.low is sent when the available balance falls below this; null "
                    "removes the alert.")
    asset: AssetCode = "CREDIT"


def _shown_once(request: Request, answer: EndpointWithSecret) -> EndpointWithSecret:
    keep_for_replay(request, answer.model_copy(update={"secret": ""}))
    return answer


# ---- endpoints ----

@router.post("/webhook_endpoints", status_code=201)
def create_endpoint(body: CreateEndpoint, request: Request,
                    caller: Annotated[Caller, requires(Scope.webhooks_write)],
                    key: IdempotencyKey) -> EndpointWithSecret:
    """Send events to `url`, signed (Standard Webhooks headers `webhook-id`,
    `webhook-timestamp`, `webhook-signature`) with the `secret` of this answer."""
    return _shown_once(request, caller.community.create_webhook_endpoint(
        body.url, event_types=body.event_types, description=body.description,
        enabled=body.enabled, idempotency_key=key))


@router.get("/webhook_endpoints")
def list_endpoints(caller: Annotated[Caller, requires(Scope.webhooks_write)],
                   limit: Limit = limits.page_size_default, starting_after: AfterId = None,
                   include_deleted: bool = False) -> Page[EndpointInfo]:
    """Endpoints by id, never with their secrets."""
    return caller.community.list_webhook_endpoints(
        include_deleted=include_deleted, limit=limit, starting_after=starting_after)


@router.get("/webhook_endpoints/{endpoint_id}")
def get_endpoint(endpoint_id: EndpointId,
                 caller: Annotated[Caller, requires(Scope.webhooks_write)]) -> EndpointInfo:
    return caller.community.get_webhook_endpoint(endpoint_id)


@router.post("/webhook_endpoints/{endpoint_id}", responses=problem_responses(409))
def update_endpoint(endpoint_id: EndpointId, body: UpdateEndpoint,
                    caller: Annotated[Caller, requires(Scope.webhooks_write)],
                    key: IdempotencyKey) -> EndpointInfo:
    """Change the URL, the event types, the description, or enable or disable it. Disabling
    abandons its pending deliveries; enabling sends the events from then on."""
    return caller.community.update_webhook_endpoint(
        endpoint_id, url=body.url, event_types=body.event_types, description=body.description,
        enabled=body.enabled)


@router.delete("/webhook_endpoints/{endpoint_id}")
def delete_endpoint(endpoint_id: EndpointId,
                    caller: Annotated[Caller, requires(Scope.webhooks_write)]) -> EndpointInfo:
    """Stop sending to it for good; it stays listed with `include_deleted=true`. Deleting it
    again changes nothing."""
    return caller.community.delete_webhook_endpoint(endpoint_id)


@router.post("/webhook_endpoints/{endpoint_id}/rotate_secret", responses=problem_responses(409))
def rotate_secret(endpoint_id: EndpointId, request: Request,
                  caller: Annotated[Caller, requires(Scope.webhooks_write)],
                  key: IdempotencyKey, body: RotateSecret | None = None) -> EndpointWithSecret:
    """A new signing secret, in this answer only. For `grace_s` seconds (a day by default)
    messages carry a second signature by the old secret."""
    grace_s = (body or RotateSecret()).grace_s
    return _shown_once(request, caller.community.rotate_webhook_secret(endpoint_id,
                                                                       grace_s=grace_s))


# ---- events ----

@router.get("/events")
def list_events(caller: Annotated[Caller, requires(Scope.reports_read)],
                limit: Limit = limits.page_size_default, starting_after: AfterId = None,
                type: Annotated[str | None, Query(
                    pattern=KNOWN_TYPE_PATTERN,
                    description="Only events of this type.")] = None,
                member_id: Annotated[str | None, Query(max_length=64)] = None,
                ) -> Page[EventInfo]:
    """Events, newest first."""
    return caller.community.list_events(type=type, member_id=member_id, limit=limit,
                                        starting_after=starting_after)


@router.get("/events/{event_id}")
def get_event(event_id: EventId,
              caller: Annotated[Caller, requires(Scope.reports_read)]) -> EventInfo:
    return caller.community.get_event(event_id)


# ---- deliveries ----

@router.get("/webhook_deliveries")
def list_deliveries(caller: Annotated[Caller, requires(Scope.webhooks_write)],
                    limit: Limit = limits.page_size_default, starting_after: AfterId = None,
                    endpoint_id: OptionalId = None, event_id: OptionalId = None,
                    status: DeliveryStatus | None = None,
                    ) -> Page[DeliveryInfo]:
    """Deliveries newest first, each with its attempt count, last status and next attempt
    (`GET /v1/webhook_deliveries/{id}` has every attempt)."""
    return caller.community.list_webhook_deliveries(
        endpoint_id=endpoint_id, event_id=event_id, status=status, limit=limit,
        starting_after=starting_after)


@router.get("/webhook_deliveries/{delivery_id}")
def get_delivery(delivery_id: DeliveryId,
                 caller: Annotated[Caller, requires(Scope.webhooks_write)]) -> DeliveryInfo:
    """A delivery with every attempt made (status code, duration, error, start of the
    answer), oldest first."""
    return caller.community.get_webhook_delivery(delivery_id)


@router.post("/webhook_deliveries/{delivery_id}/redeliver", responses=problem_responses(409))
def redeliver(delivery_id: DeliveryId,
              caller: Annotated[Caller, requires(Scope.webhooks_write)],
              key: IdempotencyKey) -> DeliveryInfo:
    """Send it again at once, whatever its status (409 when its endpoint is disabled)."""
    return caller.community.redeliver_webhook(delivery_id)


# ---- low-balance alerts ----

@router.put("/members/{member_id}/low_balance_threshold")
def set_low_balance_threshold(
        member_id: MemberId, body: LowBalanceThreshold,
        caller: Annotated[Caller, requires(Scope.members_write)]) -> LowBalanceAlert | None:
    """Send `balance.low` once each time the member's available balance falls below
    `threshold`. Answers the alert, or null when `threshold` was null (removed)."""
    return Community(caller.ctx.jeton, caller.key.community_id).set_low_balance_threshold(
        member_id, body.threshold, asset=body.asset)


@router.put("/members/{member_id}/low_balance_levels")
def set_low_balance_levels(
        member_id: MemberId, body: LowBalanceLevelsBody,
        caller: Annotated[Caller, requires(Scope.members_write)]) -> LowBalanceLevels:
    """Low-balance alerts at several levels: `balance.low` with its `level` is sent once each
    time the available balance falls below a level's threshold."""
    return caller.community.set_low_balance_levels(member_id, dict(body.levels.items()),
                                                   asset=body.asset)


@router.get("/members/{member_id}/low_balance_levels")
def get_low_balance_levels(member_id: MemberId,
                           caller: Annotated[Caller, requires(Scope.members_read)],
                           asset: Annotated[AssetCode, Query()] = "CREDIT"
                           ) -> LowBalanceLevels:
    """The member's levels, and which are armed (not yet sent since the last crossing)."""
    return caller.community.low_balance_levels(member_id, asset=asset)
@router.get("/members/{member_id}/low_balance_threshold", responses=problem_responses(404))
def get_low_balance_threshold(
        member_id: MemberId, caller: Annotated[Caller, requires(Scope.members_read)],
        asset: Asset = "CREDIT") -> LowBalanceAlert | None:
    """The member's low-balance alert (`armed: false` while the balance is below), or null
    when none is set."""
    return caller.community.low_balance_alert(member_id, asset=asset)
