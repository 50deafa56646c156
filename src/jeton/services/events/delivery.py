"""Fan-out of the events outbox into deliveries, and their delivery with retries.

The `webhooks.fan_out` job reads new events per community and makes one delivery per enabled
endpoint that subscribes to the type (idempotent: one delivery per event and endpoint, whatever
is repeated). The `webhooks.deliver` job claims due deliveries, POSTs them and records every
attempt; a failure is retried on `limits.webhook_retry_schedule_s` (with jitter), after which
the delivery is `failed`. The owner can redeliver any delivery.

Messages follow Standard Webhooks: headers `webhook-id` (the event id, the same on every retry
and for every endpoint: receivers deduplicate on it), `webhook-timestamp` (Unix seconds when
sent) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` by the endpoint's secret; during a
rotation's grace period a second signature by the old secret follows, space-separated); body
`{"type": ..., "timestamp": <when the event happened, ISO 8601>, "data": {...}}`.

Times. Schedules (next attempt, leases, attempt records) follow the Jeton's Clock, so tests
move them with a ManualClock. The signed `webhook-timestamp` is the real time of sending
instead: it is a transport freshness check between two machines' clocks (receivers refuse a
message more than five minutes off), not a business time.

Delivery statuses: `pending` (waiting for its next attempt, or being sent), `succeeded` (a 2xx
answer), `failed` (every attempt of the schedule failed), `abandoned` (its endpoint was
disabled or deleted first). Sending is at least once: a worker that dies after the receiver
answered but before recording it leaves the delivery to be sent again after its lease.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.config import Settings
from jeton.core import limits
from jeton.core.clock import Clock, from_us, to_us
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.events.cursors import start_cursor, sweep_horizon
from jeton.services.events.outbox import Events
from jeton.services.events.results import AttemptInfo, DeliveryInfo
from jeton.services.events.signing import message_body, sign_headers
from jeton.services.events.urls import Resolver, resolve_host, target_for
from jeton.services.ledger import metrics as process_metrics
from jeton.services.ledger.results import Page
from jeton.store.dialect import for_update
from jeton.store.engine import Store
from jeton.store.sql import insert_ignore
from jeton.store.tables.ledger import events
from jeton.store.tables.webhooks import (
    DELIVERY_STATUSES,
    webhook_attempts,
    webhook_cursors,
    webhook_deliveries,
    webhook_endpoints,
)

USER_AGENT = "Jeton-Webhooks/1"


# ---- counters for metrics ----
# This process's own tallies (for tests and `jeton worker` logs), and the Prometheus counter
# that /metrics serves (services/ledger/metrics.py).

_counter_lock = threading.Lock()
_counters = {"attempts": 0, "failures": 0}


def _count(failed: bool) -> None:
    with _counter_lock:
        _counters["attempts"] += 1
        if failed:
            _counters["failures"] += 1
    if failed:
        process_metrics.webhook_delivery_failures_total.inc()


def delivery_attempts_total() -> int:
    """Webhook attempts made by this process since it started."""
    return _counters["attempts"]


def delivery_failures_total() -> int:
    """Webhook attempts of this process that failed (no 2xx answer): a Prometheus counter."""
    return _counters["failures"]


# ---- signing ----


# ---- the cursors and endpoints' deliveries ----


# ---- the service ----

@dataclass(frozen=True, slots=True)
class _Claim:
    delivery_id: str
    endpoint_id: str
    event_id: str
    attempts: int  # before this attempt: the version its outcome is recorded against
    url: str
    secrets: tuple[str, ...]
    body: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int
    excerpt: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deliveries:
    """Fan-out and delivery for one store. Thread-safe; owned by `webhooks.Webhooks`."""

    def __init__(self, store: Store, clock: Clock, settings: Settings, events: Events, *,
                 retry_schedule_s: Sequence[float] = limits.webhook_retry_schedule_s,
                 jitter_ratio: float = limits.webhook_retry_jitter_ratio,
                 resolver: Resolver = resolve_host,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not retry_schedule_s or any(d <= 0 for d in retry_schedule_s):
            raise ValueError("retry_schedule_s is a non-empty list of positive waits")
        if not 0 <= jitter_ratio < 1:
            raise ValueError("jitter_ratio must be in [0, 1)")
        self.store = store
        self.clock = clock
        self.settings = settings
        self.events = events
        self.retry_schedule_s = tuple(retry_schedule_s)
        self.jitter_ratio = jitter_ratio
        self.resolver = resolver
        self.transport = transport
        self._ssl = httpx.create_ssl_context()
        self._random = random.Random()

    def now_us(self) -> int:
        return to_us(self.clock.now())

    # ---- fan-out ----

    def fan_out(self, community_id: str) -> int:
        """Make the deliveries of new events. Returns how many were made."""
        if not self.events.cached_subscriptions(community_id).types:
            return 0  # no enabled endpoint (as of the cache): no write transaction at all
        total = 0
        for _ in range(limits.webhook_fanout_batches_per_pass_max):
            made, more = self.store.run_write(lambda conn: self._fan_out_batch(conn, community_id))
            total += made
            if not more:
                break
        return total

    def _fan_out_batch(self, conn: Connection, community_id: str) -> tuple[int, bool]:
        c, e, v = webhook_cursors.c, webhook_endpoints.c, events.c
        cursor: Any = conn.execute(for_update(sa.select(c.head_event_id, c.swept_event_id).where(
            c.community_id == community_id), self.store.dialect)).first()
        if cursor is None:
            start_cursor(conn, self.store.dialect, community_id, self.now_us(), force=True)
            cursor = conn.execute(sa.select(c.head_event_id, c.swept_event_id).where(
                c.community_id == community_id)).one()
        head: str | None = cursor[0]
        swept: str | None = cursor[1]
        endpoints = [(r[0], None if r[1] is None else set(json.loads(r[1])), r[2])
                     for r in conn.execute(sa.select(e.endpoint_id, e.event_types_json,
                                                     e.enabled_at_us).where(
                         e.community_id == community_id, e.enabled.is_(True)))]
        if not endpoints:
            return 0, False
        cols = (v.event_id, v.type, v.created_at_us)
        batch = limits.webhook_fanout_batch_size
        # The fast path: events newer than any fanned out so far.
        stmt = sa.select(*cols).where(v.community_id == community_id)
        if head is not None:
            stmt = stmt.where(v.event_id > head)
        fresh = conn.execute(stmt.order_by(v.event_id).limit(batch)).all()
        # The sweep: events at or below `head` that committed after the fast path passed them.
        # Below the horizon every transaction that could write one has ended.
        late: list[Any] = []
        sweep_to = min(sweep_horizon(), head) if head is not None else None
        if sweep_to is not None and (swept is None or swept < sweep_to):
            stmt = sa.select(*cols).where(v.community_id == community_id,
                                          v.event_id <= sweep_to)
            if swept is not None:
                stmt = stmt.where(v.event_id > swept)
            late = list(conn.execute(stmt.order_by(v.event_id).limit(batch)).all())
        now = self.now_us()
        rows = []
        for event_id, type_, created_at_us in [*fresh, *late]:
            for endpoint_id, types, since_us in endpoints:
                if (types is None or type_ in types) and created_at_us >= since_us:
                    rows.append({"community_id": community_id, "delivery_id": new_id(),
                                 "endpoint_id": endpoint_id, "event_id": event_id,
                                 "status": "pending", "attempts": 0,
                                 "next_attempt_at_us": now, "created_at_us": now})
        made = 0
        if rows:
            d = webhook_deliveries.c
            stmt_ins = insert_ignore(self.store.dialect, webhook_deliveries,
                                     ["community_id", "event_id", "endpoint_id"])
            made = len(conn.execute(stmt_ins.returning(d.delivery_id), rows).all())
        new_head = fresh[-1][0] if fresh else head
        new_swept = swept
        if sweep_to is not None:
            new_swept = late[-1][0] if len(late) == batch else sweep_to
        if (new_head, new_swept) != (head, swept):
            conn.execute(webhook_cursors.update().where(c.community_id == community_id).values(
                head_event_id=new_head, swept_event_id=new_swept, updated_at_us=now))
        return made, len(fresh) == batch or len(late) == batch

    # ---- retention ----

    def prune_events(self, community_id: str) -> int:
        """Delete events older than `limits.event_retention_days`, with their deliveries and
        attempts, a batch per transaction. An event fan-out has not swept past yet, or with a
        delivery still pending, stays. Returns how many events went."""
        horizon_us = self.now_us() - limits.event_retention_days * 86_400_000_000
        total = 0
        while True:
            done, more = self.store.run_write(
                lambda conn: self._prune_batch(conn, community_id, horizon_us))
            total += done
            if not more:
                return total

    def _prune_batch(self, conn: Connection, community_id: str,
                     horizon_us: int) -> tuple[int, bool]:
        c, v, d, a = webhook_cursors.c, events.c, webhook_deliveries.c, webhook_attempts.c
        stmt = sa.select(v.event_id, v.created_at_us).where(
            v.community_id == community_id,
            ~sa.select(d.delivery_id).where(
                d.community_id == community_id, d.event_id == v.event_id,
                d.status == "pending").exists())
        cursor = conn.execute(sa.select(c.swept_event_id).where(
            c.community_id == community_id)).first()
        if cursor is not None:  # fan-out runs here: only what it has swept past
            if cursor[0] is None:
                return 0, False
            stmt = stmt.where(v.event_id <= cursor[0])
        # Oldest first by id (the primary key; ids are time-ordered), up to the first event
        # that is still young enough to keep: everything after it is younger.
        oldest = conn.execute(stmt.order_by(v.event_id).limit(limits.job_batch_size)).all()
        ids = list(itertools.takewhile(lambda r: r[1] < horizon_us, oldest))
        if ids:
            event_ids = [r[0] for r in ids]
            deliveries = sa.select(d.delivery_id).where(d.community_id == community_id,
                                                        d.event_id.in_(event_ids))
            conn.execute(webhook_attempts.delete().where(a.community_id == community_id,
                                                         a.delivery_id.in_(deliveries)))
            conn.execute(webhook_deliveries.delete().where(d.community_id == community_id,
                                                           d.event_id.in_(event_ids)))
            conn.execute(events.delete().where(v.community_id == community_id,
                                               v.event_id.in_(event_ids)))
        return len(ids), len(ids) == limits.job_batch_size

    # ---- delivery ----

    def deliver_due(self, community_id: str) -> int:
        """Send the deliveries that are due, a few at a time, until none is due or this pass
        has done its share. Returns the attempts made."""
        d = webhook_deliveries.c
        now = self.now_us()
        with self.store.read() as conn:  # the common case, nothing due, takes no write lock
            if conn.execute(sa.select(d.delivery_id).where(
                    d.community_id == community_id, d.status == "pending",
                    d.next_attempt_at_us <= now).limit(1)).first() is None:
                return 0
        deadline = time.monotonic() + limits.webhook_pass_s_max
        done = 0
        clients: dict[str, httpx.Client] = {}
        pool: ThreadPoolExecutor | None = None
        try:
            while done < limits.webhook_deliveries_per_pass_max and time.monotonic() < deadline:
                claims = self._claim(community_id, min(
                    limits.webhook_concurrency_max,
                    limits.webhook_deliveries_per_pass_max - done))
                if not claims:
                    break
                for claim in claims:  # one client per endpoint: never a connection shared
                    if claim.endpoint_id not in clients:  # between two endpoints' hosts
                        clients[claim.endpoint_id] = self._client()
                # Threads only talk HTTP; the outcomes are recorded here, in one transaction
                # per round (a database connection is never held by a sending thread).
                if len(claims) == 1:
                    outcomes = [self._attempt(claims[0], clients[claims[0].endpoint_id])]
                else:
                    if pool is None:
                        pool = ThreadPoolExecutor(max_workers=limits.webhook_concurrency_max,
                                                  thread_name_prefix="jeton-webhooks")
                    outcomes = list(pool.map(
                        lambda c: self._attempt(c, clients[c.endpoint_id]), claims))
                self._record(community_id, outcomes)
                done += len(claims)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
            for client in clients.values():
                client.close()
        return done

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=limits.webhook_timeout_s, follow_redirects=False,
                            trust_env=False, verify=self._ssl, transport=self.transport,
                            headers={"user-agent": USER_AGENT})

    def _claim(self, community_id: str, count: int) -> list[_Claim]:
        """Take due deliveries for one attempt each: their next attempt moves a lease ahead,
        so no other worker takes them meanwhile (and takes them again if this one dies)."""
        now = self.now_us()
        d, e, v = webhook_deliveries.c, webhook_endpoints.c, events.c

        def tx(conn: Connection) -> list[_Claim]:
            stmt = sa.select(d.delivery_id, d.endpoint_id, d.event_id, d.attempts).where(
                d.community_id == community_id, d.status == "pending",
                d.next_attempt_at_us <= now).order_by(d.next_attempt_at_us).limit(count)
            if self.store.dialect == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            due = conn.execute(stmt).all()
            if not due:
                return []
            eps = {r["endpoint_id"]: r for r in conn.execute(sa.select(
                e.endpoint_id, e.url, e.secret, e.previous_secret,
                e.previous_secret_expires_at_us, e.enabled).where(
                e.community_id == community_id,
                e.endpoint_id.in_({r[1] for r in due}))).mappings()}
            evs = {r[0]: r for r in conn.execute(sa.select(
                v.event_id, v.type, v.created_at_us, v.payload_json).where(
                v.community_id == community_id, v.event_id.in_({r[2] for r in due})))}
            claims: list[_Claim] = []
            dropped: list[str] = []
            for delivery_id, endpoint_id, event_id, attempts in due:
                ep = eps[endpoint_id]
                if not ep["enabled"]:  # disabled while this delivery was being made
                    dropped.append(delivery_id)
                    continue
                keys = [ep["secret"]]
                if ep["previous_secret"] and (ep["previous_secret_expires_at_us"] or 0) > now:
                    keys.append(ep["previous_secret"])
                ev = evs[event_id]
                claims.append(_Claim(delivery_id, endpoint_id, event_id, attempts, ep["url"],
                                     tuple(keys), message_body(ev[1], ev[2], ev[3])))
            if claims:
                conn.execute(webhook_deliveries.update().where(
                    d.community_id == community_id,
                    d.delivery_id.in_([c.delivery_id for c in claims])).values(
                    next_attempt_at_us=now + limits.webhook_claim_lease_s * 1_000_000))
            if dropped:
                conn.execute(webhook_deliveries.update().where(
                    d.community_id == community_id, d.delivery_id.in_(dropped)).values(
                    status="abandoned", next_attempt_at_us=None, last_error="endpoint disabled"))
            return claims

        return self.store.run_write(tx)

    def _attempt(self, claim: _Claim, client: httpx.Client) -> tuple[_Claim, _Outcome, int]:
        attempted_at = self.now_us()
        outcome = self._send(claim, client)
        _count(failed=not outcome.ok)
        return claim, outcome, attempted_at

    def _send(self, claim: _Claim, client: httpx.Client) -> _Outcome:
        started = time.perf_counter()

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:  # again at every attempt: the name may point elsewhere since it was registered
            target = target_for(claim.url, allow_private=self.settings.webhooks_allow_private,
                                resolver=self.resolver)
        except (ValueError, InvalidRequest) as exc:
            detail = exc.detail if isinstance(exc, InvalidRequest) else str(exc)
            return _Outcome(None, _clip(f"refused: {detail}"), took(), None)
        headers = {"content-type": "application/json", **target.headers,
                   **sign_headers(claim.event_id, claim.body, claim.secrets, datetime.now(UTC))}
        try:
            with client.stream("POST", target.url, content=claim.body.encode(), headers=headers,
                               extensions=target.extensions) as response:
                excerpt = b""
                for chunk in response.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= limits.webhook_response_excerpt_bytes_max:
                        break
                text = excerpt[:limits.webhook_response_excerpt_bytes_max].decode(
                    "utf-8", "replace")
                code = response.status_code
        except httpx.TimeoutException:
            return _Outcome(None, f"timed out after {limits.webhook_timeout_s:g} s", took(),
                            None)
        except httpx.HTTPError as exc:
            return _Outcome(None, _clip(f"{type(exc).__name__}: {exc}"), took(), None)
        except Exception as exc:  # whatever else went wrong fails this attempt, not the pass
            return _Outcome(None, _clip(f"{type(exc).__name__}: {exc}"), took(), None)
        error = None if 200 <= code < 300 else f"HTTP {code}"
        return _Outcome(code, error, took(), text or None)

    def _record(self, community_id: str,
                outcomes: list[tuple[_Claim, _Outcome, int]]) -> None:
        now = self.now_us()
        updates: list[tuple[_Claim, _Outcome, int, dict[str, Any]]] = []
        for claim, outcome, attempted_at in outcomes:
            attempt = claim.attempts + 1
            values: dict[str, Any] = {"attempts": attempt,
                                      "last_status_code": outcome.status_code,
                                      "last_error": outcome.error}
            if outcome.ok:
                values.update(status="succeeded", next_attempt_at_us=None, delivered_at_us=now)
            elif attempt > len(self.retry_schedule_s):
                values.update(status="failed", next_attempt_at_us=None)
            else:
                values.update(next_attempt_at_us=now + self._backoff_us(attempt))
            updates.append((claim, outcome, attempted_at, values))
        d = webhook_deliveries.c

        def tx(conn: Connection) -> None:
            rows = []
            for claim, outcome, attempted_at, values in updates:
                # Recorded against the attempt count it was claimed with: if the lease ran out
                # and another worker recorded first, this late outcome changes nothing.
                changed = conn.execute(webhook_deliveries.update().where(
                    d.community_id == community_id, d.delivery_id == claim.delivery_id,
                    d.status == "pending", d.attempts == claim.attempts).values(**values))
                if changed.rowcount == 1:
                    rows.append({
                        "community_id": community_id, "delivery_id": claim.delivery_id,
                        "attempt": values["attempts"], "attempted_at_us": attempted_at,
                        "status_code": outcome.status_code, "duration_ms": outcome.duration_ms,
                        "error": outcome.error, "response_excerpt": outcome.excerpt})
            if rows:
                conn.execute(webhook_attempts.insert(), rows)

        self.store.run_write(tx)

    def _backoff_us(self, failed_attempts: int) -> int:
        base = self.retry_schedule_s[failed_attempts - 1]
        spread = self._random.uniform(-self.jitter_ratio, self.jitter_ratio)
        return int(base * (1 + spread) * 1_000_000)

    def redeliver(self, community_id: str, delivery_id: str) -> DeliveryInfo:
        """Send a delivery again at once, whatever its status. A failed one gets one more
        attempt; a pending one is sent now instead of waiting for its next retry."""
        now = self.now_us()
        d = webhook_deliveries.c

        def tx(conn: Connection) -> None:
            row: Any = conn.execute(for_update(sa.select(d.endpoint_id).where(
                d.community_id == community_id, d.delivery_id == delivery_id),
                self.store.dialect)).first()
            if row is None:
                raise NotFound(f"no webhook delivery {delivery_id!r}", status=Status.not_found)
            enabled = conn.execute(sa.select(webhook_endpoints.c.enabled).where(
                webhook_endpoints.c.community_id == community_id,
                webhook_endpoints.c.endpoint_id == row[0])).scalar_one()
            if not enabled:
                raise Conflict("its webhook endpoint is disabled; enable it first",
                               status=Status.conflict)
            conn.execute(webhook_deliveries.update().where(
                d.community_id == community_id, d.delivery_id == delivery_id).values(
                status="pending", next_attempt_at_us=now))

        self.store.run_write(tx)
        return self.get_delivery(community_id, delivery_id)

    # ---- reading deliveries ----

    def list_deliveries(self, community_id: str, *, endpoint_id: str | None = None,
                        event_id: str | None = None, status: str | None = None,
                        limit: int = limits.page_size_default,
                        starting_after: str | None = None) -> Page[DeliveryInfo]:
        """Deliveries, newest first (without their attempts: see get_delivery)."""
        if type(limit) is not int or not 1 <= limit <= limits.page_size_max:
            raise InvalidRequest(f"limit must be 1-{limits.page_size_max}",
                                 status=Status.value_invalid)
        if status is not None and status not in DELIVERY_STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(DELIVERY_STATUSES)}",
                                 status=Status.value_invalid)
        d = webhook_deliveries.c
        stmt = _DELIVERIES.where(d.community_id == community_id)
        if endpoint_id is not None:
            stmt = stmt.where(d.endpoint_id == endpoint_id)
        if event_id is not None:
            stmt = stmt.where(d.event_id == event_id)
        if status is not None:
            stmt = stmt.where(d.status == status)
        if starting_after:
            stmt = stmt.where(d.delivery_id < starting_after)
        with self.store.read() as conn:
            rows = conn.execute(stmt.order_by(d.delivery_id.desc()).limit(limit + 1)).all()
        data = [_delivery_info(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)

    def get_delivery(self, community_id: str, delivery_id: str) -> DeliveryInfo:
        """A delivery with every attempt made, oldest first.

        One statement (the delivery's row beside each of its attempts), so one snapshot: read
        apart, an attempt recorded in between showed in the log and not in the count."""
        d, a = webhook_deliveries.c, webhook_attempts.c
        stmt = (_DELIVERIES.add_columns(a.attempt, a.attempted_at_us, a.status_code,
                                        a.duration_ms, a.error, a.response_excerpt)
                .outerjoin(webhook_attempts, sa.and_(a.community_id == d.community_id,
                                                     a.delivery_id == d.delivery_id))
                .where(d.community_id == community_id, d.delivery_id == delivery_id)
                .order_by(a.attempt))
        with self.store.read() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            raise NotFound(f"no webhook delivery {delivery_id!r}", status=Status.not_found)
        width = len(_DELIVERIES.selected_columns)  # the delivery's own columns come first
        log = [AttemptInfo(attempt=t[0], attempted_at=from_us(t[1]), status_code=t[2],
                           duration_ms=t[3], error=t[4], response_excerpt=t[5])
               for t in (r[width:] for r in rows) if t[0] is not None]
        return _delivery_info(rows[0]).model_copy(update={"attempt_log": log})


# ---- helpers ----

_D = webhook_deliveries.c
_DELIVERIES = sa.select(
    _D.delivery_id, _D.endpoint_id, _D.event_id, events.c.type, _D.status, _D.attempts,
    _D.next_attempt_at_us, _D.last_status_code, _D.last_error, _D.created_at_us,
    _D.delivered_at_us,
).select_from(webhook_deliveries.join(events, sa.and_(
    events.c.community_id == _D.community_id, events.c.event_id == _D.event_id)))


def _delivery_info(r: Any) -> DeliveryInfo:
    return DeliveryInfo(
        id=r[0], endpoint_id=r[1], event_id=r[2], event_type=r[3], status=r[4], attempts=r[5],
        next_attempt_at=from_us(r[6]) if r[6] is not None else None, last_status_code=r[7],
        last_error=r[8], created_at=from_us(r[9]),
        delivered_at=from_us(r[10]) if r[10] is not None else None)


def _clip(text: str) -> str:
    return text[:limits.webhook_error_chars_max]
