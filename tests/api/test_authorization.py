"""Who may call what: every endpoint × every scope × own or another community.

The table is made from the app's routes and the scope each declares with `requires(...)`, so a
new endpoint is checked as soon as it exists; one that declares no scope cannot even be built
(`ApiRoute` refuses it), and `test_every_route_declares_what_it_needs` says which.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

import jeton
from jeton.api.auth import OPERATOR, Requirement
from jeton.api.routing import ApiRoute, requirement_of
from jeton.services.access.api_keys import Scope
from jeton.services.events import endpoints as webhooks

from .conftest import LiveServer


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the template: /v1/members/{member_id}
    requirement: Requirement


def endpoints(app: FastAPI) -> list[Endpoint]:
    found = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not isinstance(original, ApiRoute):
            continue
        requirement = requirement_of(original.dependant)
        assert requirement is not None, f"{original.path} declares no scope"
        for method in sorted(original.methods or ()):
            found.append(Endpoint(method, original.path_format, requirement))
    return found


@dataclass
class World:
    """Objects of the server's community that the probes name in their paths."""

    values: dict[str, str]
    tokens: dict[Scope, str]  # a key with only that scope, in the server's community
    other_admin: str  # an admin key of another community

    def url(self, base: str, path: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in self.values, f"add a sample value for the path parameter {{{name}}}"
            return self.values[name]

        return base + re.sub(r"\{(\w+)\}", value, path)


# Bodies that pass validation, for POSTs that act on an object named in their path: sent with
# another community's key, they must find nothing (404).
OBJECT_BODIES = {
    "/v1/members/{member_id}/credit_line": {"floor": 0},
    "/v1/members/{member_id}/freeze": {"reason": "abuse", "actor": "mod"},
    "/v1/members/{member_id}/unfreeze": {"reason": "cleared", "actor": "mod"},
    "/v1/transfers/{transfer_id}/reverse": {},
    "/v1/holds/{hold_id}/capture": {"amount": 1},
    "/v1/holds/{hold_id}/void": {},
    "/v1/api_keys/{key_id}/revoke": {},
    "/v1/api_keys/{key_id}/budget": {"period": "day", "per_key": 10},
    # funding
    "/v1/packs/{pack_id}/activate": {},
    "/v1/packs/{pack_id}/retire": {},
    "/v1/plans/{plan_id}/activate": {},
    "/v1/plans/{plan_id}/retire": {},
    "/v1/purchases/{purchase_id}/offline_payment": {"reference": "check 1042"},
    "/v1/purchases/{purchase_id}/refund": {},
    "/v1/purchases/{purchase_id}/refund_as_credits": {},
    "/v1/transfers/{transfer_id}/refund": {},
    "/v1/subscriptions/{subscription_id}/cancel": {},
    "/v1/members/{member_id}/auto_recharge": {"pack_id": "pack-20", "threshold": 1,
                                               "monthly_cap": 1},
    "/v1/members/{member_id}/payment_method": {"provider": "demo", "customer_id": "cus_1",
                                               "payment_method_id": "pm_demo_ok"},
    "/v1/members/{member_id}/classes": {"name": "vip"},
    "/v1/members/{member_id}/keys": {"name": "insider"},
    "/v1/members/{member_id}/affiliate_codes": {"count": 1},
    "/v1/coupons/{code}/redeem": {"member": "alice"},
    # charging, webhooks, member links
    "/v1/metered/{hold_id}/finish": {"actual_quantity": 1},
    "/v1/webhook_endpoints/{endpoint_id}": {},
    "/v1/webhook_endpoints/{endpoint_id}/rotate_secret": {},
    "/v1/webhook_deliveries/{delivery_id}/redeliver": {},
    "/v1/members/{member_id}/portal_links": {},
    "/v1/members/{member_id}/low_balance_threshold": {"threshold": 5},
    "/v1/bills/{bill_id}/pay": {},
    "/v1/members/{member_id}/bills": {},
    "/v1/leases/{lease_id}/end": {"reason": "closing"},
    "/v1/leases/{lease_id}/staff": {"email": "nobody@example.org"},
    "/v1/leases/{lease_id}/services/{service}": {"credits": 1},
    "/v1/members/{member_id}/low_balance_levels": {"levels": {"warning": 5}},
}
# Query strings that pass validation, for GETs that require one and name an object in their
# path: sent with another community's key, they must find nothing (404), not fail validation.
OBJECT_QUERIES = {
    "/v1/members/{member_id}/balance/history": {"from": "2026-01-01T00:00:00Z",
                                                "to": "2026-01-02T00:00:00Z"},
}
# GETs a live community is refused by design, with the refusal's code: the other community is
# live, so its key gets that refusal, which names nothing of this community's.
LIVE_REFUSED = {"/v1/test_clock": "test_mode_required"}  # decision 0056: no clock to show
# Path parameters that name what every community has (a report's table, a leaderboard's
# metric), not an object of one: another community's key finds its own there.
SHARED_PARAMS = {"key", "metric"}


@pytest.fixture
def world(live_server: LiveServer) -> World:
    chat = live_server.client()
    chat.create_member("alice")
    chat.create_account("appstore")
    grant = chat.grant("alice", 50, idempotency_key="grant-alice")
    hold = chat.hold("alice", 5, idempotency_key="hold-alice")
    tokens = {}
    for scope in Scope:
        made = chat.create_api_key(f"only {scope.value}", [scope.value])
        assert made.token is not None
        tokens[scope] = made.token
    spare = chat.create_api_key("to revoke", ["members:read"])
    _, other_admin = live_server.new_community("other")
    values = {"member_id": "alice", "transfer_id": grant.id, "hold_id": hold.id,
              "key_id": spare.id, "name": "appstore"}
    values.update(funding_objects(chat))
    values.update(webhook_objects(live_server, chat))
    return World(values=values, tokens=tokens, other_admin=other_admin)


def funding_objects(chat: jeton.Client) -> dict[str, str]:
    """A pack, a purchase of it, a plan subscription and a coupon, named in funding paths."""
    ok, no = "https://host.example/ok", "https://host.example/no"
    pack = chat.create_pack("20 credits", pack_id="pack-20", credits=20, price_minor=600)
    bought = chat.buy_pack("alice", pack.id, idempotency_key="buy-alice", success_url=ok,
                           cancel_url=no)
    plan = chat.create_plan("Monthly", plan_id="plan-monthly", cycle="monthly", credits=10,
                            price_minor=300)
    sub = chat.subscribe("alice", plan.id, idempotency_key="sub-alice", success_url=ok,
                         cancel_url=no)
    coupon = chat.create_coupon("WELCOME-2024", credits=3)
    chat.create_member("bea")
    chat.set_credit_line("bea", -20)
    chat.spend("bea", 5, idempotency_key="spend-bea")
    chat.set_billing_settings(credit_price_minor=10)
    bill = chat.issue_bill("bea", idempotency_key="bill-bea")
    lease = chat.create_lease("files.lib42.", "bea", share_bp=1000, price_min=0, price_max=9,
                              idempotency_key="lease-bea")
    return {"pack_id": pack.id, "purchase_id": bought.purchase_id, "subscription_id": sub.id,
            "plan_id": plan.id, "code": coupon.code, "bill_id": bill.id, "lease_id": lease.id,
            "service": "files.lib42.audio"}


def webhook_objects(server: LiveServer, chat: jeton.Client) -> dict[str, str]:
    """An endpoint, an event and its delivery (made, not sent), a report table's key and a
    leaderboard's metric."""
    # A public address written as one: nothing resolves it, and no job sends to it here.
    endpoint = chat.create_webhook_endpoint("https://93.184.215.14/jeton")
    server.jeton.events.record(server.community_id, "member.created", "alice",
                               {"member_id": "alice"})
    webhooks.service(server.jeton).fan_out(server.community_id)
    event = chat.list_events(limit=1).data[0]
    delivery = chat.list_webhook_deliveries(limit=1).data[0]
    return {"endpoint_id": endpoint.id, "event_id": event.id, "delivery_id": delivery.id,
            "key": "per_day", "metric": "points"}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """One connection pool for the hundreds of probes."""
    with httpx.Client() as client:
        yield client


def call(http: httpx.Client, server: LiveServer, world: World, endpoint: Endpoint,
         token: str | None, body: object = None,
         query: dict[str, str] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = world.url(server.base_url, endpoint.path)
    if endpoint.method in ("POST", "PUT"):
        # A new key each call, as a client sends (money-moving POSTs refuse a call without).
        headers["Idempotency-Key"] = f"auth-{uuid.uuid4()}"
        return http.request(endpoint.method, url, headers=headers,
                            json={} if body is None else body)
    return http.request(endpoint.method, url, headers=headers, params=query)


def test_every_route_declares_what_it_needs(live_server: LiveServer) -> None:
    table = endpoints(live_server.app)
    assert len(table) >= 26
    assert {e.requirement for e in table} >= {OPERATOR, *Scope} - {Scope.webhooks_write}


def test_every_endpoint_admits_exactly_its_scope_and_admin(
        live_server: LiveServer, world: World, http: httpx.Client) -> None:
    wrong: list[str] = []
    for endpoint in endpoints(live_server.app):
        label = f"{endpoint.method} {endpoint.path}"
        answer = call(http, live_server, world, endpoint, None)
        if answer.status_code != 401:
            wrong.append(f"{label} without a key: {answer.status_code}")
        answer = call(http, live_server, world, endpoint, live_server.operator_token)
        operator_ok = answer.status_code not in (401, 403)
        if operator_ok != (endpoint.requirement == OPERATOR):
            wrong.append(f"{label} with the operator token: {answer.status_code}")
        for scope, token in world.tokens.items():
            answer = call(http, live_server, world, endpoint, token)
            admitted = endpoint.requirement != OPERATOR and scope in (endpoint.requirement,
                                                                      Scope.admin)
            if admitted and answer.status_code in (401, 403):
                wrong.append(f"{label} refused {scope.value}: {answer.text}")
            if not admitted and (answer.status_code != 403
                                 or answer.json()["code"] != "scope_missing"):
                wrong.append(f"{label} let {scope.value} through: {answer.status_code}")
    assert not wrong, "\n".join(wrong)


def test_another_communitys_key_finds_nothing(live_server: LiveServer, world: World,
                                              http: httpx.Client) -> None:
    wrong: list[str] = []
    for endpoint in endpoints(live_server.app):
        label = f"{endpoint.method} {endpoint.path}"
        if endpoint.requirement == OPERATOR:
            continue
        shared = {world.values[name] for name in SHARED_PARAMS}
        if set(re.findall(r"\{(\w+)\}", endpoint.path)) - SHARED_PARAMS:
            if endpoint.method in ("POST", "PUT"):
                assert endpoint.path in OBJECT_BODIES, f"add a body for {label}"
                answer = call(http, live_server, world, endpoint, world.other_admin,
                              OBJECT_BODIES[endpoint.path])
            else:
                answer = call(http, live_server, world, endpoint, world.other_admin,
                              query=OBJECT_QUERIES.get(endpoint.path))
            if answer.status_code != 404:
                wrong.append(f"{label}: {answer.status_code} {answer.text[:200]}")
        elif endpoint.method == "GET" and endpoint.path in LIVE_REFUSED:
            answer = call(http, live_server, world, endpoint, world.other_admin)
            if answer.status_code != 409 or answer.json()["code"] != LIVE_REFUSED[endpoint.path]:
                wrong.append(f"{label}: {answer.status_code} {answer.text[:200]}")
        elif endpoint.method == "GET":
            answer = call(http, live_server, world, endpoint, world.other_admin)
            if answer.status_code != 200 or any(
                    value in answer.text for value in world.values.values()
                    if value != "revenue" and value not in shared):
                wrong.append(f"{label} shows another community's objects: {answer.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_bodies_cannot_set_what_they_must_not(live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {live_server.api_key}"}
    for path, body in [
        ("/v1/members", {"id": "mallory", "community_id": "other"}),
        ("/v1/grants", {"member": "alice", "amount": 5, "balance_after": 1000}),
        ("/v1/api_keys", {"scopes": ["admin"], "community_id": "other"}),
        ("/v1/spends", {"member": "alice", "amount": 1, "owner": "bob"}),
    ]:
        answer = httpx.post(live_server.base_url + path, json=body,
                            headers={**headers, "Idempotency-Key": f"must-not-{path}"})
        assert answer.status_code == 422, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "value_invalid"
