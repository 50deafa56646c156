"""What every API request can reach: the Jeton instance and the HTTP layer's own services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from jeton.api.metrics import ApiMetrics
from jeton.api.writer import Writer
from jeton.app import Community, Jeton
from jeton.core.errors import InvariantViolation, JetonError
from jeton.core.ratelimit import RateLimiter
from jeton.services.access.api_keys import ApiKeys
from jeton.services.ledger.http_idempotency import HttpIdempotency

# Adds fields to the problem of a declined request: (community, the error) -> extra fields.
# The funding service registers one that answers `suggested_packs` (see routes/__init__.py).
DeclineHook = Callable[[Community, JetonError], dict[str, Any]]


@dataclass(slots=True)
class ApiContext:
    jeton: Jeton
    keys: ApiKeys
    idempotency: HttpIdempotency
    limiter: RateLimiter
    metrics: ApiMetrics
    writer: Writer  # runs the handlers of the ledger's one-write routes (api/writer.py)
    # The operator's bearer token (JETON_OPERATOR_TOKEN); empty: the operator API is off.
    operator_token: str = ""
    decline_hooks: list[DeclineHook] = field(default_factory=list)


def api_context(request: Request) -> ApiContext:
    ctx = getattr(request.app.state, "jeton_api", None)
    if not isinstance(ctx, ApiContext):
        raise InvariantViolation("an API route was reached outside an app made by create_app")
    return ctx
