"""`ApiRoute`: every `/v1` route checks its caller, its rate and its idempotency key first.

Make routers with `api_router()`; see docs.md for a whole endpoint.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from jeton.api.auth import Requirement, Requires, authenticate, authorize
from jeton.api.context import api_context
from jeton.api.idempotency import LEDGER_KEYED, run_idempotent
from jeton.api.problems import HttpProblem
from jeton.api.writer import on_writer
from jeton.core.ratelimit import retry_after_s
from jeton.core.statuses import Status
from jeton.services.ledger.base import kept_answer


def requirement_of(dependant: Dependant) -> Requirement | None:
    """The scope (or OPERATOR) a route declared with `requires(...)`, or None."""
    found: list[Requirement] = []
    for sub in _walk(dependant):
        if isinstance(sub.call, Requires):
            found.append(sub.call.requirement)
    if len(set(found)) > 1:
        raise TypeError(f"a route declares several requirements: {found}")
    return found[0] if found else None


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


class ApiRoute(APIRoute):
    """A route of the HTTP API. In order, before the handler runs: the bearer token, the scope
    the route declared, no unknown query parameter, the key's rate limit, and (for POST) the
    idempotency key. The handler of a route that is one ledger write (`LEDGER_KEYED`) runs on
    the app's writer (api/writer.py)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if path in LEDGER_KEYED and "POST" in (kwargs.get("methods") or ()):
            if inspect.iscoroutinefunction(endpoint):
                raise TypeError(f"POST {path}: a ledger write's handler is sync; it runs on "
                                "the app's writer")
            endpoint = on_writer(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()
        requirement = requirement_of(self.dependant)
        if requirement is None:
            raise TypeError(f"{sorted(self.methods or ())} {self.path}: an API route must "
                            "declare what it needs with "
                            "`caller: Annotated[Caller, requires(Scope...)]`")

        known_query = {p.alias for d in (self.dependant, *_walk(self.dependant))
                       for p in d.query_params}

        async def handler(request: Request) -> Response:
            ctx = api_context(request)
            principal = await authenticate(ctx, request.headers.get("authorization"))
            authorize(principal, requirement, bool(ctx.operator_token))
            request.state.principal = principal
            unknown = sorted(set(request.query_params) - known_query)
            if unknown:  # a typo (`limt=5`) is told, not ignored
                raise HttpProblem(Status.value_invalid,
                                  f"unknown query parameters: {', '.join(unknown)}")
            wait = ctx.limiter.take(principal.rate_key)
            if wait:
                raise HttpProblem(Status.rate_limited, "this API key is over its rate limit",
                                  headers={"Retry-After": str(retry_after_s(wait))},
                                  retry_after_s=retry_after_s(wait))
            if request.method == "POST":
                return await run_idempotent(ctx, request, principal, inner)
            return await inner(request)

        return handler


def api_router(*, tags: list[str]) -> APIRouter:
    """A router for one resource of the API. Its routes are `ApiRoute`s under `/v1`."""
    return APIRouter(prefix="/v1", tags=list(tags), route_class=ApiRoute)


def problem_responses(*http_statuses: int) -> dict[int | str, dict[str, Any]]:
    """The errors a route answers besides those every route may (401, 403, 404, 422, 429...),
    for its OpenAPI entry: `responses=problem_responses(402, 409)`. The problem schema and the
    media type are filled in by openapi.py."""
    return {code: {"description": _DESCRIPTIONS.get(code, "A problem")} for code in http_statuses}


_DESCRIPTIONS = {
    402: "Declined: not enough credits (`balance`, `required`).",
    409: "Conflicts with the stored state, or the idempotency key is in use.",
}


def ledger_answer(result: BaseModel, status_code: int) -> Response:
    """A ledger write's answer as the response, serialized once: the JSON the ledger kept
    under the idempotency key when it made `result`, else (a replay) `result` serialized now.
    The route names its model with `response_model=` for the OpenAPI document; FastAPI sends
    a returned `Response` as it is, without validating and serializing the model again."""
    body = kept_answer(result)
    return Response(body if body is not None else result.model_dump_json(),
                    status_code=status_code, media_type="application/json")
