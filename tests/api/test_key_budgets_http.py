"""API key budgets over HTTP, on SQLite and PostgreSQL: the owner (admin key) makes a key for
a partner app, gives it a budget, and the partner's charges past it come back as 403 problems
whose `code` is the in-process status, and as `KeyBudgetExceeded` in `jeton.Client`."""

from __future__ import annotations

import httpx
import pytest

import jeton
from conftest import check_invariants

from .conftest import LiveServer


def _scenario(server: LiveServer) -> None:
    owner = server.client()
    owner.create_member("alice")
    owner.create_member("bob")
    owner.grant("alice", 100, idempotency_key="g-a")
    owner.grant("bob", 100, idempotency_key="g-b")
    partner = owner.create_api_key("partner app", ["charges:write"], idempotency_key="k1")
    assert partner.token is not None

    budget = owner.set_key_budget(partner.id, period="day", per_key=15, per_member=10)
    assert (budget.per_key, budget.per_member, budget.used) == (15, 10, 0)
    app = server.client(partner.token)
    app.spend("alice", 10, idempotency_key="p1")
    with pytest.raises(jeton.KeyBudgetExceeded) as over:
        app.spend("alice", 1, idempotency_key="p2")
    assert over.value.extra["budget"] == "per_member"
    assert over.value.extra["limit"] == 10
    app.spend("bob", 5, idempotency_key="p3")
    raw = httpx.post(f"{server.base_url}/v1/spends", json={"member": "bob", "amount": 1},
                     headers={"Authorization": f"Bearer {partner.token}",
                              "Idempotency-Key": "raw-1"})
    assert raw.status_code == 403
    problem = raw.json()
    assert problem["code"] == "key_budget_exceeded"
    assert problem["type"] == "/problems/key-budget-exceeded"
    assert (problem["limit"], problem["used"], problem["budget"]) == (15, 15, "per_key")
    assert problem["retry_after"]

    # The partner sees its own budget (it may not read other keys).
    own = app.own_key_budget(member_id="bob")
    assert (own.key_id, own.used, own.member_used) == (partner.id, 15, 5)
    other = httpx.get(f"{server.base_url}/v1/api_keys/{partner.id}/budget",
                      headers={"Authorization": f"Bearer {partner.token}"})
    assert other.status_code == 403

    # The owner's admin key is not the partner's: its spends are neither counted nor refused.
    owner.spend("bob", 50, idempotency_key="o1")
    seen = owner.key_budget(partner.id, member_id="alice")
    assert (seen.used, seen.member_used) == (15, 10)
    # The partner's key cannot raise its own budget (it needs the admin scope).
    refused = httpx.post(f"{server.base_url}/v1/api_keys/{partner.id}/budget",
                         json={"per_key": 1000}, headers={
                             "Authorization": f"Bearer {partner.token}"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "scope_missing"
    bad = httpx.post(f"{server.base_url}/v1/api_keys/{partner.id}/budget",
                     json={"period": "week", "per_key": 5},
                     headers={"Authorization": f"Bearer {server.api_key}"})
    assert bad.status_code == 422
    with pytest.raises(jeton.NotFound):
        owner.key_budget("0190aaaa-0000-7000-8000-000000000000")
    assert owner.balance("alice").posted == 90
    assert owner.balance("bob").posted == 45
    check_invariants(server.jeton.store)


def test_key_budgets_over_http_on_sqlite(live_server: LiveServer) -> None:
    _scenario(live_server)


def test_key_budgets_over_http_on_postgresql(pg_live_server: LiveServer) -> None:
    _scenario(pg_live_server)
