"""Schemathesis against `/openapi.json`: every operation, with generated valid and invalid
requests, under every default check (no server error, documented status codes, content types,
headers and response schemas, invalid data rejected, valid data accepted, 405 with `Allow` for
undocumented methods, 401 without a key).

The app runs in-process on SQLite with a seeded community, each operation on a database and a
Jeton of its own. The routes are made once per module: making them is most of what `create_app`
costs (0.3-0.5 s, which was most of an operation's setup), and they keep nothing between
requests; each operation gives the module's app the state `create_app` would give a new one
(`serve`). One expectation is widened, for
`positive_data_acceptance`: a request the schema allows may still be declined by the ledger
(402, not enough credits), or refused for a rule JSON Schema cannot state (422: an expiry in the
past, metadata over its byte limit, an idempotency key already used for another request).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

import jeton
from conftest import make_sqlite_store
from jeton.api import create_app
from jeton.api.context import ApiContext
from jeton.api.metrics import ApiMetrics, MetricsMiddleware
from jeton.api.writer import Writer
from jeton.core.ratelimit import RateLimiter
from jeton.services.access.api_keys import ApiKeys, Scope
from jeton.services.events import endpoints as webhooks
from jeton.services.ledger.http_idempotency import HttpIdempotency
from jeton.services.ops.operator import bootstrap_community
from jeton.store.engine import Store

from .conftest import OPERATOR_TOKEN, TEST_RATE_PER_S

CONFIG = SchemathesisConfig.from_dict({
    "checks": {"positive_data_acceptance": {"expected-statuses": [
        "2xx", "401", "402", "403", "404", "409", "422", "429"]}},
    # A provider's webhook: a body the schema allows still needs the provider's signature.
    "operations": [{"include-path": "/v1/providers/{name}/webhook",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [
                        "2xx", "400", "404"]}}}],
})


def _document() -> dict[str, object]:
    """The OpenAPI document, from an app over an empty store (making it touches no table)."""
    j = jeton.Jeton(Store("sqlite://"))
    try:
        return create_app(j, include_web=False).openapi()
    finally:
        j.close()


@dataclass
class Api:
    app: FastAPI
    admin_token: str


@pytest.fixture(scope="module")
def shared_app() -> Iterator[FastAPI]:
    """The app with every route, made once for the module over a Jeton no request reaches:
    each operation's `api` gives it state of its own first."""
    j = jeton.Jeton(Store("sqlite://"))
    app = create_app(j, include_web=False, operator_token=OPERATOR_TOKEN,
                     rate_per_s=TEST_RATE_PER_S, rate_burst=int(TEST_RATE_PER_S))
    yield app
    j.close()


# What create_app gives an app beside its routes: the context of every request, whose metrics
# the metrics middleware counts into too. A field added to ApiContext fails here until `serve`
# says whether a new app gets a new one.
SERVED = ("jeton", "keys", "idempotency", "limiter", "metrics", "writer", "operator_token",
          "decline_hooks")


def serve(app: FastAPI, j: jeton.Jeton) -> None:
    """Point `app` at `j` with the state a new `create_app(j, ...)` would have: j's keys and
    idempotency records, j's writer, a new rate limiter and new metrics (the operator's token
    and the decline hooks as they were made)."""
    made = app.state.jeton_api
    assert isinstance(made, ApiContext)
    assert tuple(f.name for f in dataclasses.fields(ApiContext)) == SERVED
    app.state.jeton_api = ctx = dataclasses.replace(
        made, jeton=j, keys=ApiKeys(j.store, j.clock), idempotency=HttpIdempotency(j.store),
        limiter=RateLimiter(TEST_RATE_PER_S, int(TEST_RATE_PER_S)), metrics=ApiMetrics(),
        writer=Writer(j.store), decline_hooks=list(made.decline_hooks))
    [metrics] = [m for m in app.user_middleware if m.cls is MetricsMiddleware]
    metrics.kwargs["metrics"] = ctx.metrics
    app.middleware_stack = None  # built again, over those metrics, at the next request


@pytest.fixture
def api(tmp_path: Path, shared_app: FastAPI) -> Iterator[Api]:
    store = make_sqlite_store(tmp_path / "jeton.db")
    j = jeton.Jeton(store)
    # Webhook URLs are checked without DNS: a host name resolves to nothing (422), an address
    # written out is judged as it is. Nothing is ever sent (no jobs run here).
    webhooks.install(j, resolver=lambda host, port: [])
    keys = ApiKeys(store, j.clock)
    created = bootstrap_community(j, keys, community_id="test", name="Test")
    assert created.api_key.token is not None
    seed(j.community("test"))
    keys.create("test", name="reader", scopes=[Scope.members_read], created_by="test")
    serve(shared_app, j)
    yield Api(shared_app, created.api_key.token)
    j.close()


def seed(chat: jeton.Community) -> None:
    """Members with credits, holds and transfers, so that lists and reads have data."""
    chat.create_account("appstore")
    for name in ("alice", "bob", "carol"):
        chat.create_member(name, name=name.title())
        chat.grant(name, 1_000, idempotency_key=f"seed-{name}")
    chat.spend("alice", 10, idempotency_key="seed-spend", service="files.download")
    chat.transfer("alice", "bob", 5, idempotency_key="seed-transfer")
    chat.hold("carol", 20, idempotency_key="seed-hold")


schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)


@schema.auth(refresh_interval=None)
class BearerToken:
    """Which credential a case carries: the operator's token for `/v1/communities`, the admin
    key elsewhere. Given through Schemathesis, so that cases testing a missing key are sent
    without one; the test puts the real token of its app in place of the name."""

    def get(self, case: schemathesis.Case, context: object) -> str:
        return "operator" if case.path == "/v1/communities" else "admin"

    def set(self, case: schemathesis.Case, data: str, context: object) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


# About 90 operations: 20 drawn cases each (besides Schemathesis's fixed coverage cases) keep
# the whole run near two minutes.
@schema.parametrize()
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_every_operation_conforms_to_the_openapi_document(case: schemathesis.Case,
                                                          api: Api) -> None:
    # The document was read once, at import; each test runs on its own database and Jeton.
    case.operation.app = case.operation.schema.app = api.app
    tokens = {"Bearer operator": f"Bearer {OPERATOR_TOKEN}",
              "Bearer admin": f"Bearer {api.admin_token}"}
    if case.headers and case.headers.get("Authorization") in tokens:
        case.headers["Authorization"] = tokens[case.headers["Authorization"]]
    case.call_and_validate()


def test_each_operation_meets_the_state_of_a_new_app(shared_app: FastAPI, tmp_path: Path) -> None:
    """What `serve` swaps in is what requests reach: the Jeton, its keys, and metrics that count
    this operation's requests alone."""
    first, second = (jeton.Jeton(make_sqlite_store(tmp_path / f"{n}.db")) for n in (1, 2))
    try:
        served = []
        for j in (first, second):
            serve(shared_app, j)
            assert asyncio.run(_ping(shared_app)) == 401
            served.append(shared_app.state.jeton_api)
        assert [ctx.jeton for ctx in served] == [first, second]
        assert served[1].keys is not served[0].keys
        assert served[1].limiter is not served[0].limiter
        for ctx in served:  # one request each
            assert ctx.metrics.registry.get_sample_value("jeton_http_requests_total", {
                "method": "POST", "route": "/v1/ping", "status": "401"}) == 1
    finally:
        first.close()
        second.close()


async def _ping(app: FastAPI) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as http:
        return (await http.post("/v1/ping", json={})).status_code
