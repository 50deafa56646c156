"""Signed webhooks: the endpoints a community registers, and the service that sends to them.

    wh = webhooks.install(j)            # once per Jeton: the ledger's events hook and this service
    ep = wh.create_endpoint("chat", "https://host.example/jeton", event_types=["balance.low"])
    ep.secret                           # `whsec_...`: the host app verifies with it

A change writes its event into the `events` outbox in its transaction (services/events/outbox.py:
`emit_event`, `Events.record`, and the ledger hook installed here). The jobs registered below
fan new events out into deliveries and send them (services/events/delivery.py: message format,
retries, statuses). Where an endpoint may point is checked in services/events/urls.py.

`Webhooks` is the one object the API, the dashboard and the jobs use: endpoints here, events in
`wh.events`, deliveries through the methods that hand over to `wh.deliveries`.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import weakref
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.config import Settings
from jeton.core import limits
from jeton.core.clock import Clock, from_us, to_us
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.events.cursors import abandon_pending, start_cursor
from jeton.services.events.delivery import (
    Deliveries,
    delivery_attempts_total,
    delivery_failures_total,
)
from jeton.services.events.outbox import ALL_TYPES, EVENT_TYPES, Events, emit_event
from jeton.services.events.results import (
    AttemptInfo,
    DeliveryInfo,
    EndpointInfo,
    EndpointWithSecret,
    EventInfo,
    LowBalanceAlert,
)
from jeton.services.events.signing import sign_headers
from jeton.services.events.urls import Resolver, resolve_host, validate_endpoint_url
from jeton.services.ledger import idempotency
from jeton.services.ledger.jobs import job
from jeton.services.ledger.results import Page
from jeton.store.dialect import for_update, is_unique_violation
from jeton.store.engine import Store
from jeton.store.tables.ledger import communities
from jeton.store.tables.webhooks import webhook_endpoints

if TYPE_CHECKING:
    from jeton.app import Jeton

__all__ = [
    "EVENT_TYPES",
    "UNCHANGED",
    "AttemptInfo",
    "Deliveries",
    "DeliveryInfo",
    "EndpointInfo",
    "EndpointWithSecret",
    "EventInfo",
    "Events",
    "LowBalanceAlert",
    "Webhooks",
    "delivery_attempts_total",
    "delivery_failures_total",
    "emit_event",
    "install",
    "new_secret",
    "service",
    "sign_headers",
]

KEY_PREFIX = "whsec_"  # how Standard Webhooks marks a signing secret
_CREATE = "webhook_endpoint.create"


class _Unchanged(Enum):
    unchanged = "unchanged"


UNCHANGED = _Unchanged.unchanged
"""Leave a field of `update_endpoint` as it is (None means "every type" for event_types)."""


def new_secret() -> str:
    """A signing secret in Standard Webhooks form: `whsec_` and base64 of random bytes."""
    raw = secrets.token_bytes(limits.webhook_secret_bytes)
    return KEY_PREFIX + base64.b64encode(raw).decode()


class Webhooks:
    """Endpoints, events and deliveries of one store. Thread-safe; one per Jeton (`install`)."""

    def __init__(self, store: Store, clock: Clock, settings: Settings, *,
                 retry_schedule_s: Sequence[float] = limits.webhook_retry_schedule_s,
                 jitter_ratio: float = limits.webhook_retry_jitter_ratio,
                 resolver: Resolver = resolve_host,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.resolver = resolver
        self.events = Events(store, clock)
        self.deliveries = Deliveries(store, clock, settings, self.events,
                                     retry_schedule_s=retry_schedule_s,
                                     jitter_ratio=jitter_ratio, resolver=resolver,
                                     transport=transport)

    def now_us(self) -> int:
        return to_us(self.clock.now())

    # ---- endpoints ----

    def create_endpoint(self, community_id: str, url: str, *,
                        event_types: Sequence[str] | None = None, description: str = "",
                        enabled: bool = True,
                        idempotency_key: str | None = None) -> EndpointWithSecret:
        """Register a URL to receive events (`event_types`, or every type when None).

        The URL must be http(s) and, unless `webhooks_allow_private`, resolve to public
        addresses only. With `idempotency_key`, a retry returns the endpoint already made.
        """
        url = validate_endpoint_url(url, allow_private=self.settings.webhooks_allow_private,
                                    resolver=self.resolver)
        types = _check_types(event_types)
        description = _check_description(description)
        if type(enabled) is not bool:
            raise InvalidRequest("enabled must be true or false", status=Status.value_invalid)
        request = {"url": url, "event_types": types, "description": description,
                   "enabled": enabled}
        req_hash = idempotency.request_hash(_CREATE, request)
        now = self.now_us()

        def tx(conn: Connection) -> str:
            if conn.execute(sa.select(communities.c.community_id).where(
                    communities.c.community_id == community_id)).first() is None:
                raise NotFound(f"no community {community_id!r}",
                               status=Status.community_not_found)
            if idempotency_key is not None:
                replay = idempotency.lookup_one(conn, community_id, idempotency_key, _CREATE,
                                                req_hash)
                if replay is not None:
                    found: str = json.loads(replay)["endpoint_id"]
                    return found
            e = webhook_endpoints.c
            live = conn.execute(sa.select(sa.func.count()).select_from(webhook_endpoints).where(
                e.community_id == community_id, e.deleted_at_us.is_(None))).scalar_one()
            if live >= limits.webhook_endpoints_max:
                raise Conflict(f"a community has at most {limits.webhook_endpoints_max} "
                               "webhook endpoints", status=Status.limit_exceeded)
            if enabled:
                start_cursor(conn, self.store.dialect, community_id, now)
            endpoint_id = new_id()
            conn.execute(webhook_endpoints.insert().values(
                community_id=community_id, endpoint_id=endpoint_id, url=url,
                secret=new_secret(), event_types_json=_types_json(types),
                description=description, enabled=enabled, created_at_us=now,
                updated_at_us=now, enabled_at_us=now, disabled_at_us=None if enabled else now))
            if idempotency_key is not None:
                conn.execute(idempotency.INSERT_KEY, idempotency.key_row(
                    community_id, idempotency_key, _CREATE, req_hash,
                    json.dumps({"endpoint_id": endpoint_id}), now))
            return endpoint_id

        for attempt in range(2):
            try:
                endpoint_id = self.store.run_write(tx)
                break
            except sa.exc.IntegrityError as exc:
                # The same key committed first elsewhere: the retry finds it as a replay.
                if attempt == 0 and is_unique_violation(exc) and "idempotency" in str(exc):
                    continue
                raise
        self.events.invalidate(community_id)
        with self.store.read() as conn:
            row = self._endpoint_row(conn, community_id, endpoint_id)
        return EndpointWithSecret(**_endpoint_info(row).model_dump(), secret=row["secret"])

    def list_endpoints(self, community_id: str, *,
                       include_deleted: bool = False) -> list[EndpointInfo]:
        e = webhook_endpoints.c
        stmt = sa.select(webhook_endpoints).where(e.community_id == community_id)
        if not include_deleted:
            stmt = stmt.where(e.deleted_at_us.is_(None))
        with self.store.read() as conn:
            rows = conn.execute(stmt.order_by(e.endpoint_id)).mappings().all()
        return [_endpoint_info(r) for r in rows]

    def get_endpoint(self, community_id: str, endpoint_id: str) -> EndpointInfo:
        with self.store.read() as conn:
            return _endpoint_info(self._endpoint_row(conn, community_id, endpoint_id))

    def endpoint_secret(self, community_id: str, endpoint_id: str) -> str:
        """The current signing secret, for an owner who lost their copy."""
        with self.store.read() as conn:
            secret: str = self._endpoint_row(conn, community_id, endpoint_id)["secret"]
            return secret

    def update_endpoint(self, community_id: str, endpoint_id: str, *,
                        url: str | _Unchanged = UNCHANGED,
                        event_types: Sequence[str] | _Unchanged | None = UNCHANGED,
                        description: str | _Unchanged = UNCHANGED,
                        enabled: bool | _Unchanged = UNCHANGED) -> EndpointInfo:
        """Change an endpoint. Disabling it abandons its pending deliveries; enabling it again
        sends events from then on (not those that happened while it was disabled)."""
        values: dict[str, Any] = {}
        if url is not UNCHANGED:
            values["url"] = validate_endpoint_url(
                url, allow_private=self.settings.webhooks_allow_private, resolver=self.resolver)
        if event_types is not UNCHANGED:
            values["event_types_json"] = _types_json(_check_types(event_types))
        if description is not UNCHANGED:
            values["description"] = _check_description(description)
        if enabled is not UNCHANGED and type(enabled) is not bool:
            raise InvalidRequest("enabled must be true or false", status=Status.value_invalid)
        now = self.now_us()

        def tx(conn: Connection) -> None:
            row = self._endpoint_row(conn, community_id, endpoint_id, lock=True)
            if row["deleted_at_us"] is not None:
                raise Conflict(f"webhook endpoint {endpoint_id} was deleted",
                               status=Status.conflict)
            if enabled is not UNCHANGED and enabled != row["enabled"]:
                values["enabled"] = enabled
                if enabled:
                    start_cursor(conn, self.store.dialect, community_id, now)
                    values.update(enabled_at_us=now, disabled_at_us=None)
                else:
                    values["disabled_at_us"] = now
                    abandon_pending(conn, community_id, endpoint_id, "endpoint disabled")
            values["updated_at_us"] = now
            conn.execute(webhook_endpoints.update().where(
                webhook_endpoints.c.community_id == community_id,
                webhook_endpoints.c.endpoint_id == endpoint_id).values(**values))

        self.store.run_write(tx)
        self.events.invalidate(community_id)
        return self.get_endpoint(community_id, endpoint_id)

    def delete_endpoint(self, community_id: str, endpoint_id: str) -> EndpointInfo:
        """Disable an endpoint for good. It stays listed (with `include_deleted`) for history;
        its pending deliveries are abandoned. Deleting it again changes nothing."""
        now = self.now_us()

        def tx(conn: Connection) -> None:
            row = self._endpoint_row(conn, community_id, endpoint_id, lock=True)
            if row["deleted_at_us"] is not None:
                return
            abandon_pending(conn, community_id, endpoint_id, "endpoint deleted")
            conn.execute(webhook_endpoints.update().where(
                webhook_endpoints.c.community_id == community_id,
                webhook_endpoints.c.endpoint_id == endpoint_id).values(
                enabled=False, deleted_at_us=now, updated_at_us=now,
                disabled_at_us=row["disabled_at_us"] or now))

        self.store.run_write(tx)
        self.events.invalidate(community_id)
        return self.get_endpoint(community_id, endpoint_id)

    def rotate_secret(self, community_id: str, endpoint_id: str, *,
                      grace_s: int = limits.webhook_secret_grace_s_default,
                      ) -> EndpointWithSecret:
        """A new signing secret. For `grace_s` seconds messages carry a second signature by
        the old one, so the host app can switch without refusing anything (0: at once)."""
        if type(grace_s) is not int or not 0 <= grace_s <= limits.webhook_secret_grace_s_max:
            raise InvalidRequest(f"grace_s must be 0-{limits.webhook_secret_grace_s_max}",
                                 status=Status.value_invalid)
        now = self.now_us()
        secret = new_secret()

        def tx(conn: Connection) -> None:
            row = self._endpoint_row(conn, community_id, endpoint_id, lock=True)
            if row["deleted_at_us"] is not None:
                raise Conflict(f"webhook endpoint {endpoint_id} was deleted",
                               status=Status.conflict)
            conn.execute(webhook_endpoints.update().where(
                webhook_endpoints.c.community_id == community_id,
                webhook_endpoints.c.endpoint_id == endpoint_id).values(
                secret=secret, previous_secret=row["secret"] if grace_s else None,
                previous_secret_expires_at_us=now + grace_s * 1_000_000 if grace_s else None,
                updated_at_us=now))

        self.store.run_write(tx)
        info = self.get_endpoint(community_id, endpoint_id)
        return EndpointWithSecret(**info.model_dump(), secret=secret)

    def _endpoint_row(self, conn: Connection, community_id: str, endpoint_id: str, *,
                      lock: bool = False) -> Any:
        stmt = sa.select(webhook_endpoints).where(
            webhook_endpoints.c.community_id == community_id,
            webhook_endpoints.c.endpoint_id == endpoint_id)
        if lock:
            stmt = for_update(stmt, self.store.dialect)
        row = conn.execute(stmt).mappings().first()
        if row is None:
            raise NotFound(f"no webhook endpoint {endpoint_id!r}", status=Status.not_found)
        return row

    # ---- deliveries (see services/events/delivery.py) ----

    def fan_out(self, community_id: str) -> int:
        """Make the deliveries of new events (the `webhooks.fan_out` job)."""
        return self.deliveries.fan_out(community_id)

    def deliver_due(self, community_id: str) -> int:
        """Send what is due (the `webhooks.deliver` job). Returns the attempts made."""
        return self.deliveries.deliver_due(community_id)

    def redeliver(self, community_id: str, delivery_id: str) -> DeliveryInfo:
        return self.deliveries.redeliver(community_id, delivery_id)

    def list_deliveries(self, community_id: str, *, endpoint_id: str | None = None,
                        event_id: str | None = None, status: str | None = None,
                        limit: int = limits.page_size_default,
                        starting_after: str | None = None) -> Page[DeliveryInfo]:
        return self.deliveries.list_deliveries(
            community_id, endpoint_id=endpoint_id, event_id=event_id, status=status,
            limit=limit, starting_after=starting_after)

    def get_delivery(self, community_id: str, delivery_id: str) -> DeliveryInfo:
        return self.deliveries.get_delivery(community_id, delivery_id)


# ---- installing on a Jeton ----

_installed: weakref.WeakKeyDictionary[Jeton, Webhooks] = weakref.WeakKeyDictionary()
_install_lock = threading.Lock()


def install(j: Jeton, *, retry_schedule_s: Sequence[float] | None = None,
            jitter_ratio: float | None = None, resolver: Resolver | None = None,
            transport: httpx.BaseTransport | None = None) -> Webhooks:
    """The webhooks service of `j`, made on first call: its events hook is appended to
    `j.ledger.hooks`. Later calls return the same service. The options are for tests (a short
    retry schedule, no jitter, a fake resolver); given again later, they replace the delivery
    settings of the installed service (`jeton.open` installs it with the defaults)."""
    with _install_lock:
        found = _installed.get(j)
        if found is not None:
            if (retry_schedule_s, jitter_ratio, resolver, transport) != (None, None, None, None):
                found.resolver = resolver or found.resolver
                found.deliveries = Deliveries(
                    j.store, j.clock, j.settings, found.events,
                    retry_schedule_s=retry_schedule_s or limits.webhook_retry_schedule_s,
                    jitter_ratio=(limits.webhook_retry_jitter_ratio if jitter_ratio is None
                                  else jitter_ratio),
                    resolver=found.resolver, transport=transport)
            return found
        wh = Webhooks(
            j.store, j.clock, j.settings,
            retry_schedule_s=retry_schedule_s or limits.webhook_retry_schedule_s,
            jitter_ratio=(limits.webhook_retry_jitter_ratio if jitter_ratio is None
                          else jitter_ratio),
            resolver=resolver or resolve_host, transport=transport)
        j.ledger.hooks.append(wh.events.hook)
        _installed[j] = wh
        return wh


def service(j: Jeton) -> Webhooks:
    """The webhooks service of `j` (installed now if it was not)."""
    return install(j)


@job("webhooks.fan_out", 1)
def _fan_out_job(j: Jeton, community_id: str) -> int:
    return service(j).fan_out(community_id)


@job("webhooks.deliver", 1)
def _deliver_job(j: Jeton, community_id: str) -> int:
    return service(j).deliver_due(community_id)


@job("events.prune", 3600)
def _prune_events_job(j: Jeton, community_id: str) -> int:
    return service(j).deliveries.prune_events(community_id)


@job("events.credits_expiring", 60)
def _credits_expiring_job(j: Jeton, community_id: str) -> int:
    return service(j).events.announce_expiring(community_id)


# ---- helpers ----

def _endpoint_info(r: Any) -> EndpointInfo:
    def when(us: int | None) -> datetime | None:
        return from_us(us) if us is not None else None

    raw = r["event_types_json"]
    return EndpointInfo(
        id=r["endpoint_id"], url=r["url"], event_types=json.loads(raw) if raw else None,
        description=r["description"], enabled=bool(r["enabled"]),
        created_at=from_us(r["created_at_us"]), updated_at=from_us(r["updated_at_us"]),
        disabled_at=when(r["disabled_at_us"]), deleted_at=when(r["deleted_at_us"]),
        previous_secret_expires_at=when(r["previous_secret_expires_at_us"]))


def _check_types(event_types: Sequence[str] | None) -> list[str] | None:
    """A sorted list of known types, or None for every type (also spelled ["*"])."""
    if event_types is None:
        return None
    if isinstance(event_types, str) or not isinstance(event_types, Sequence):
        raise InvalidRequest("event_types must be a list of event types",
                             status=Status.value_invalid)
    if len(event_types) > limits.webhook_event_types_max:
        raise InvalidRequest(f"event_types lists at most {limits.webhook_event_types_max} types",
                             status=Status.value_invalid)
    if ALL_TYPES in event_types:
        return None
    unknown = sorted(str(t) for t in event_types if t not in EVENT_TYPES)
    if unknown:
        raise InvalidRequest(f"unknown event types: {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(EVENT_TYPES))}", status=Status.value_invalid)
    if not event_types:
        raise InvalidRequest("event_types names at least one type (omit it for every type)",
                             status=Status.value_invalid)
    return sorted(set(event_types))


def _types_json(types: list[str] | None) -> str | None:
    return json.dumps(types) if types is not None else None


def _check_description(description: object) -> str:
    if not isinstance(description, str) or len(description) > limits.webhook_description_chars_max:
        raise InvalidRequest(f"description must be text of at most "
                             f"{limits.webhook_description_chars_max} characters",
                             status=Status.value_invalid)
    return description
