"""Schemathesis against `/openapi.json`: every operation, with generated valid and invalid
requests, under every default check (no server error, documented status codes, content types,
headers and response schemas, invalid data rejected, valid data accepted, 405 with `Allow` for
undocumented methods, 401 without a key).

The app runs in-process on SQLite with a seeded community. One expectation is widened, for
`positive_data_acceptance`: a request the schema allows may still be declined by the ledger
(402, not enough credits), or refused for a rule JSON Schema cannot state (422: an expiry in the
past, metadata over its byte limit, an idempotency key already used for another request).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

import jeton
from conftest import make_sqlite_store
from jeton.api import create_app
from jeton.services.access.api_keys import ApiKeys, Scope
from jeton.services.events import endpoints as webhooks
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


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
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
    app = create_app(j, include_web=False, operator_token=OPERATOR_TOKEN,
                     rate_per_s=TEST_RATE_PER_S,
                     rate_burst=int(TEST_RATE_PER_S))
    yield Api(app, created.api_key.token)
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
    # The document was read once, at import; each test runs on its own app and database.
    case.operation.app = case.operation.schema.app = api.app
    tokens = {"Bearer operator": f"Bearer {OPERATOR_TOKEN}",
              "Bearer admin": f"Bearer {api.admin_token}"}
    if case.headers and case.headers.get("Authorization") in tokens:
        case.headers["Authorization"] = tokens[case.headers["Authorization"]]
    case.call_and_validate()
