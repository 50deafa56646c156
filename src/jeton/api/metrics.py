"""Prometheus metrics, served as text at `/metrics`.

Two registries:
- each app has its own (`ApiMetrics.registry`): requests by route template and status, their
  latency, charges and declines answered through the API. An app's own registry means two apps
  in one process (tests, a dashboard beside the API) never clash;
- the process has one (services/ledger/metrics.py) for what services count wherever they run:
  `recharges_total` (funding) and `webhook_delivery_failures_total` (webhooks).

Counts are per process: Prometheus adds up the processes it scrapes.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jeton.services.ledger.metrics import (  # served here; re-exported for callers
    PROCESS_REGISTRY,
    recharges_total,
    webhook_delivery_failures_total,
)

__all__ = ["PROCESS_REGISTRY", "ApiMetrics", "MetricsMiddleware", "recharges_total",
           "webhook_delivery_failures_total"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds: an API call is a few milliseconds on SQLite, tens on a busy PostgreSQL.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Requests that matched no route are counted under one label, not under their (any) path.
UNMATCHED = "unmatched"


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "jeton_http_requests_total", "HTTP requests answered, by route template and status.",
            ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "jeton_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["method", "route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.charges = Counter(
            "jeton_charges_total", "Credits taken from members through the API, by kind "
            "(spend, capture); replays are not counted.", ["kind"], registry=self.registry)
        self.declines = Counter(
            "jeton_declines_total", "Requests the ledger declined, by code "
            "(insufficient_credits, limit_exceeded, ...).", ["code"], registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(PROCESS_REGISTRY)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (`/v1/members/{member_id}`),
    never its raw path, so that the number of series stays bounded."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path_format", None) or UNMATCHED
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
