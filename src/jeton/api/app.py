"""The HTTP API: `create_app(jeton)` is a FastAPI app serving `/v1`, `/healthz`, `/metrics`,
`/openapi.json`, `/docs`, and with `include_web` the dashboard (`/admin`, `/static`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from jeton.api import dispatch, ops, problems, routes
from jeton.api.context import ApiContext
from jeton.api.docs_ui import mount_docs
from jeton.api.metrics import ApiMetrics, MetricsMiddleware
from jeton.api.middleware import BodyLimitMiddleware, InputGuardMiddleware
from jeton.api.openapi import complete
from jeton.api.writer import POSTGRES_WRITERS, WRITERS_MAX, Writer
from jeton.app import Jeton
from jeton.config import Settings
from jeton.core import limits
from jeton.core.ratelimit import RateLimiter
from jeton.services.access.api_keys import ApiKeys
from jeton.services.ledger.http_idempotency import HttpIdempotency

OPERATOR_TOKEN_ENV = "JETON_OPERATOR_TOKEN"  # noqa: S105 (the variable's name, not a secret)
# Anything shorter could be guessed; `openssl rand -hex 32` makes a good one.
OPERATOR_TOKEN_CHARS_MIN = 32
RATE_ENV = "JETON_API_RATE_PER_S"
WRITERS_ENV = "JETON_API_WRITERS"

_DESCRIPTION = """Credits and micropayments for online communities and SaaS products.

Authenticate with `Authorization: Bearer <API key>`. Send an `Idempotency-Key` with every POST.
Errors are `application/problem+json`. See docs/api/ in the repository for every resource."""


class JetonApi(FastAPI):
    """FastAPI with Jeton's completed OpenAPI document (openapi.py)."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = complete(super().openapi())
        return self.openapi_schema


def create_app(j: Jeton, *, include_web: bool = True, operator_token: str | None = None,
               rate_per_s: float | None = None, rate_burst: int | None = None,
               body_bytes_max: int = limits.api_body_bytes_max) -> FastAPI:
    """The API over `j`. `operator_token` (default: JETON_OPERATOR_TOKEN) turns on the
    operator's `POST /v1/communities`; without one, communities are made with the CLI."""
    from jeton import __version__

    token = j.settings.extra.get(OPERATOR_TOKEN_ENV, "") if operator_token is None \
        else operator_token
    _check_operator_token(token)
    if rate_per_s is None:  # the operator's JETON_API_RATE_PER_S, or the default limit
        rate_per_s = _rate_per_s(j.settings)
    if rate_burst is None:
        rate_burst = max(int(rate_per_s * 2), 1)
    app = JetonApi(title="Jeton", version=__version__, description=_DESCRIPTION,
                   docs_url=None, redoc_url=None)
    ctx = ApiContext(jeton=j, keys=ApiKeys(j.store, j.clock),
                     idempotency=HttpIdempotency(j.store),
                     limiter=RateLimiter(rate_per_s, rate_burst), metrics=ApiMetrics(),
                     writer=Writer(j.store, _api_writers(j.settings)),
                     operator_token=token, decline_hooks=list(routes.DECLINE_HOOKS))
    app.state.jeton_api = ctx
    problems.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=body_bytes_max)
    app.add_middleware(InputGuardMiddleware)  # NUL anywhere: 422; no exception escapes
    app.add_middleware(MetricsMiddleware, metrics=ctx.metrics)  # outermost: sees every answer
    app.include_router(ops.router)
    for router in routes.ROUTERS:
        app.include_router(router)
    mount_docs(app, title="Jeton API")
    if include_web:
        mount_web(app, j)  # which puts the route finder in front, last (decision 0103)
    else:
        dispatch.install(app)
    return app


def check_settings(settings: Settings) -> None:
    """Raise ValueError, with a one-line message, for a setting the API would refuse to start
    with (`jeton serve` says it before it starts any server process)."""
    _check_operator_token(settings.extra.get(OPERATOR_TOKEN_ENV, ""))
    _rate_per_s(settings)


def _check_operator_token(token: str) -> None:
    if token and len(token) < OPERATOR_TOKEN_CHARS_MIN:
        raise ValueError(f"{OPERATOR_TOKEN_ENV} must be at least {OPERATOR_TOKEN_CHARS_MIN} "
                         f"characters (it has {len(token)}); `openssl rand -hex 32` makes one")


def _api_writers(settings: Settings) -> int:
    given = settings.extra.get(WRITERS_ENV, "")
    if not given:
        return POSTGRES_WRITERS
    if not given.isdigit() or not 0 <= int(given) <= WRITERS_MAX:
        raise ValueError(f"{WRITERS_ENV} must be a whole number 0-{WRITERS_MAX}, not {given!r}")
    return int(given)


def _rate_per_s(settings: Settings) -> float:
    given = settings.extra.get(RATE_ENV, "")
    try:
        rate_per_s = float(given) if given else float(limits.api_rate_per_s)
    except ValueError:
        rate_per_s = 0.0
    if not rate_per_s > 0:
        raise ValueError(f"{RATE_ENV} must be a positive number, not {given!r}")
    return rate_per_s


def _to_dashboard(request: Request) -> RedirectResponse:
    """`GET /`, where a browser pointed at Jeton lands: the owner's dashboard (its sign-in)."""
    return RedirectResponse(f"{request.scope.get('root_path', '')}/admin", status_code=307)


def mount_web(app: FastAPI, j: Jeton) -> None:
    """The dashboard (`/admin`), the member pages (`/m`), the hosted checkout of the in-process
    payment providers (`/pay`) and their assets (`/static`)."""
    # Imported here so that an app without the pages does not load their templates.
    from jeton.web import create_admin_router, create_member_router, mount_static
    from jeton.web.checkout import create_checkout_router

    app.include_router(create_admin_router(j.store, j.clock, j.settings, jeton=j))
    app.include_router(create_member_router(j))
    app.include_router(create_checkout_router(j))  # the demo and offline providers' page
    mount_static(app)
    app.add_api_route("/", _to_dashboard, methods=["GET"], include_in_schema=False)
    dispatch.install(app)  # last: it knows the routes that are in (decision 0103)


def app_from_env() -> FastAPI:
    """The app of one process of `jeton serve --workers N`: uvicorn starts each worker process
    on its own and calls this there, so the process opens its own Jeton from the environment
    (JETON_DATABASE_URL and the rest, which `jeton serve` sets before starting them)."""
    import jeton
    from jeton.api.server import keep_startup_objects

    app = create_app(jeton.open(migrate=False))
    keep_startup_objects()
    return app
