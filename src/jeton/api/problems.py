"""Errors as RFC 9457 problem details, `application/problem+json`.

Every error has a stable `type`: a relative URI made of its `jeton.core.statuses.Status`, with
dashes (`/problems/insufficient-credits` for `Status.insufficient_credits`), and the status
itself as `code`, which `jeton.Client` turns back into the same `jeton.core.errors` exception.
`HTTP_STATUS` below is the one table from a Status to its HTTP status and title.

    {"type": "/problems/insufficient-credits", "title": "Not enough credits", "status": 402,
     "detail": "member 'alice' has 2 CREDIT available, 5 required", "code":
     "insufficient_credits", "instance": "/v1/spends", "balance": 2, "required": 5}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from jeton.api.context import api_context
from jeton.app import Community
from jeton.core.errors import Declined, InvariantViolation, JetonError
from jeton.core.statuses import Status

log = logging.getLogger("jeton.api")

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "/problems/"

# Every Status but `ok`: its HTTP status and the problem's title.
HTTP_STATUS: dict[Status, tuple[int, str]] = {
    Status.amount_invalid: (422, "The amount is not valid"),
    Status.amount_too_large: (422, "The amount is too large"),
    Status.id_invalid: (422, "The id is not valid"),
    Status.metadata_too_large: (422, "The metadata is too large"),
    Status.expiry_invalid: (422, "The expiry is not valid"),
    Status.split_invalid: (422, "The split is not valid"),
    Status.catalog_invalid: (422, "The catalog is not valid"),
    Status.batch_too_large: (422, "The batch is too large"),
    Status.value_invalid: (422, "The request is not valid"),
    Status.community_not_found: (404, "No such community"),
    Status.asset_not_found: (404, "No such asset"),
    Status.service_not_found: (404, "No such service"),
    Status.member_not_found: (404, "No such member"),
    Status.account_not_found: (404, "No such account"),
    Status.hold_not_found: (404, "No such hold"),
    Status.transfer_not_found: (404, "No such transfer"),
    Status.not_found: (404, "Not found"),
    Status.idempotency_conflict: (422, "The idempotency key was used for another request"),
    Status.already_exists: (409, "It already exists"),
    Status.asset_mismatch: (422, "The assets do not match"),
    Status.same_account: (422, "The accounts are the same"),
    Status.hold_not_active: (409, "The hold is no longer active"),
    Status.hold_expired: (409, "The hold has expired"),
    Status.capture_exceeds_hold: (422, "The capture exceeds what is left on the hold"),
    Status.already_reversed: (409, "The transfer was already reversed"),
    Status.not_reversible: (409, "The transfer cannot be reversed"),
    Status.test_mode_required: (409, "The community is live: its clock is the real time"),
    Status.clock_backwards: (409, "A test clock only moves forward"),
    Status.clock_advancing: (409, "The test clock is advancing"),
    Status.conflict: (409, "The request conflicts with the stored state"),
    Status.insufficient_credits: (402, "Not enough credits"),
    Status.limit_exceeded: (403, "A limit was reached"),
    Status.velocity_limit_exceeded: (403, "The member's spending limit for now was reached"),
    Status.wallet_frozen: (403, "The wallet is frozen"),
    Status.credit_line_suspended: (402, "The credit line is suspended until a bill is paid"),
    Status.key_budget_exceeded: (403, "The API key's spending budget for now was reached"),
    Status.reversal_insufficient: (409, "The credits to reverse have been spent"),
    Status.forbidden: (403, "Not allowed"),
    Status.declined: (402, "Declined"),
    Status.unauthenticated: (401, "An API key is required"),
    Status.scope_missing: (403, "The API key lacks the scope this needs"),
    Status.rate_limited: (429, "Too many requests"),
    Status.request_too_large: (413, "The request is too large"),
    Status.request_in_flight: (409, "A request with this idempotency key is in progress"),
    Status.method_not_allowed: (405, "Method not allowed"),
    Status.unavailable: (503, "The service is unavailable"),
    Status.internal_error: (500, "Internal error"),
}

# Starlette's own errors (no route, wrong method, a body it could not read) by HTTP status.
_STATUS_OF_HTTP = {400: Status.value_invalid, 401: Status.unauthenticated,
                   403: Status.scope_missing, 404: Status.not_found,
                   405: Status.method_not_allowed, 409: Status.conflict,
                   413: Status.request_too_large, 422: Status.value_invalid,
                   429: Status.rate_limited, 503: Status.unavailable}
_STANDARD_FIELDS = frozenset({"type", "title", "status", "detail", "code", "instance"})


class Problem(BaseModel):
    """An error, as RFC 9457 problem details with Jeton's fields."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    # A decline: the member's available balance and what the request needed.
    balance: int | None = None
    required: int | None = None
    # A decline: packs that would cover it (filled by the funding service's decline hook).
    suggested_packs: list[dict[str, Any]] | None = None
    # A request that failed validation: each field's error.
    errors: list[dict[str, Any]] | None = None


class HttpProblem(JetonError):
    """An error of the HTTP layer, with headers for its response (`Retry-After`, `Allow`)."""

    def __init__(self, status: Status, detail: str, *, headers: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail, status=status, **extra)
        self.headers = dict(headers or {})


def problem_type(status: Status) -> str:
    return TYPE_PREFIX + status.value.replace("_", "-")


def http_status_of(status: Status) -> int:
    return HTTP_STATUS.get(status, (500, ""))[0]


def problem_body(status: Status, detail: str, *, instance: str | None = None,
                 http_status: int | None = None, **extra: Any) -> dict[str, Any]:
    code, title = HTTP_STATUS.get(status, HTTP_STATUS[Status.internal_error])
    body: dict[str, Any] = {"type": problem_type(status), "title": title,
                            "status": http_status or code, "detail": detail,
                            "code": status.value}
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in jsonable_encoder(extra).items() if k not in _STANDARD_FIELDS})
    return body


def problem_response(status: Status, detail: str, *, instance: str | None = None,
                     http_status: int | None = None, headers: Mapping[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body = problem_body(status, detail, instance=instance, http_status=http_status, **extra)
    return JSONResponse(body, status_code=body["status"], headers=dict(headers or {}),
                        media_type=MEDIA_TYPE)


def install(app: FastAPI) -> None:
    """Answer every error of `app` as a problem."""
    app.add_exception_handler(JetonError, _jeton_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _jeton_error(request: Request, exc: JetonError) -> JSONResponse:
    if isinstance(exc, InvariantViolation):
        log.error("invariant violated on %s %s: %s", request.method, request.url.path,
                  exc.detail)
        return problem_response(Status.internal_error, exc.detail, instance=request.url.path)
    extra = dict(exc.extra)
    if isinstance(exc, Declined):
        extra.update(await _after_decline(request, exc))
    headers = exc.headers if isinstance(exc, HttpProblem) else None
    return problem_response(exc.status, exc.detail, instance=request.url.path, headers=headers,
                            **extra)


async def _after_decline(request: Request, exc: Declined) -> dict[str, Any]:
    """Count the decline and ask the decline hooks what might fix it."""
    ctx = api_context(request)
    ctx.metrics.declines.labels(exc.status.value).inc()
    principal = getattr(request.state, "principal", None)
    community_id = getattr(principal, "community_id", None)
    if not ctx.decline_hooks or not community_id:
        return {}
    community = Community(ctx.jeton, community_id)
    extra: dict[str, Any] = {}
    for hook in ctx.decline_hooks:
        try:
            extra.update(await run_in_threadpool(hook, community, exc))
        except Exception:  # a hint must never turn a clear decline into a 500
            log.exception("decline hook %r failed", hook)
    return extra


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")),
               "type": str(e.get("type", ""))} for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5]) or "invalid"
    if _body_not_sent_as_json(request, errors):
        sent = request.headers.get("content-type", "none")
        detail = (f"{detail} (the body is read as JSON only when sent with Content-Type: "
                  f"application/json; this request's is {sent!r})")
    if any(e["type"] == "json_invalid" for e in errors):  # a body that cannot be read at all
        return problem_response(Status.value_invalid, detail, instance=request.url.path,
                                http_status=400, errors=errors)
    return problem_response(validation_status(errors), detail, instance=request.url.path,
                            errors=errors)


def _body_not_sent_as_json(request: Request, errors: list[dict[str, Any]]) -> bool:
    """The body as a whole was refused and its content type is not JSON's: a client (curl's
    `-d` without `-H`, a form) sent JSON text that FastAPI did not read as JSON."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return (kind != "application/json" and not kind.endswith("+json")
            and any(e["loc"] == ["body"] for e in errors))


def validation_status(errors: list[dict[str, Any]]) -> Status:
    """The status of a body that failed validation: the first error whose type is a Status
    (a check written as the in-process API's, such as the amount's), else `value_invalid`."""
    for error in errors:
        status = _STATUS_VALUES.get(error["type"])
        if status is not None:
            return status
    return Status.value_invalid


_STATUS_VALUES = {s.value: s for s in Status if s is not Status.ok}
# Starlette's own details when no route serves a path or a method (a route's own 404 says
# more, and keeps its words), and where a caller who mistyped a path finds the right one.
_STARLETTE_404, _STARLETTE_405 = "Not Found", "Method Not Allowed"
_ROUTES_HINT = ("the API's routes are under /v1 and listed at /docs (the OpenAPI document: "
                "/openapi.json)")


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = _STATUS_OF_HTTP.get(exc.status_code,
                                 Status.internal_error if exc.status_code >= 500
                                 else Status.value_invalid)
    headers = dict(exc.headers or {})
    detail = str(exc.detail)
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 405:
        allowed = sorted(_allowed_methods(request))
        headers["Allow"] = ", ".join(allowed)
        if detail == _STARLETTE_405:
            detail = f"{where}: this path answers {', '.join(allowed)} only"
    elif exc.status_code == 404 and detail == _STARLETTE_404:  # no route: say where they are
        detail = f"no route for {where}; {_ROUTES_HINT}"
    return problem_response(status, detail, instance=request.url.path,
                            http_status=exc.status_code, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(Status.internal_error, "internal error; see the server's log",
                            instance=request.url.path)


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    path = request.scope["path"]
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods.update(route.methods)
    return methods
