"""A key the host app first used in process (the same store), sent again over HTTP with another
request: the HTTP layer has no answer kept for it, so the service's own refusal answers, a 422
`idempotency_conflict` whose detail names the first use as the in-process exception does. On
SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from funding.conftest import owing
from jeton.client import create_community
from jeton.payments.offline import DEMO_METHOD_OK
from jeton.store.tables.clocks import test_clocks

from .conftest import OPERATOR_TOKEN, LiveServer, live_server_on


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server_on(request.param, tmp_path) as live:
        yield live


def _refused(response: httpx.Response, key: str, first_use: str) -> None:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "idempotency_conflict"
    assert problem["detail"] == (
        f"idempotency key {key!r} was already used for a different request ({first_use} with "
        "other values); a new request needs a new key")


def test_a_key_first_used_in_process_is_refused_over_http_naming_its_first_use(
        server: LiveServer) -> None:
    club = server.community
    for member in ("ann", "bob", "cy"):
        club.create_member(member)
        club.set_payment_method(member, provider="demo", customer_id=f"cus_{member}",
                                payment_method_id=DEMO_METHOD_OK)
    club.create_pack("20 credits", pack_id="p20", credits=20, price_minor=600)
    club.create_pack("50 credits", pack_id="p50", credits=50, price_minor=1500)
    club.create_plan("Monthly", plan_id="monthly", cycle="monthly", credits=50, price_minor=900)
    owing(club, ("ann", "bob"))

    club.buy_pack("ann", "p20", idempotency_key="buy")
    club.subscribe("cy", "monthly", idempotency_key="sub")
    club.issue_bill("ann", idempotency_key="bill")
    club.create_lease("chess.lib1.", "cy", share_bp=2000, price_min=1, price_max=30,
                      idempotency_key="lease")

    def post(path: str, key: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{server.base_url}{path}", json=body, headers={
            "Authorization": f"Bearer {server.api_key}", "Idempotency-Key": key})

    _refused(post("/v1/purchases", "buy", {"member": "ann", "pack_id": "p50"}),
             "buy", "a purchase")
    _refused(post("/v1/subscriptions", "sub", {"member": "bob", "plan_id": "monthly"}),
             "sub", "a subscription")
    _refused(post("/v1/members/bob/bills", "bill", {}), "bill", "a bill")
    _refused(post("/v1/leases", "lease", {"area": "chess.lib2.", "operator": "cy",
                                          "share_bp": 2000, "price_min": 1,
                                          "price_max": 30}), "lease", "a lease")
    assert [p.pack_id for p in club.list_purchases("ann").data if p.kind == "pack"] == ["p20"]
    assert club.list_subscriptions("bob") == []
    assert club.list_bills("bob").data == []
    assert [lease.area for lease in club.list_leases()] == ["chess.lib1."]

    # A test clock whose advance under the key "tick" another process is running.
    lab, token = create_community(server.base_url, OPERATOR_TOKEN, "lab", "Lab",
                                  test_mode=True)
    lab.close()
    with server.jeton.store.write() as conn:
        conn.execute(test_clocks.update().where(test_clocks.c.community_id == "lab").values(
            status="advancing", advance_key="tick", advance_hash="x" * 64,
            advance_from_us=test_clocks.c.frozen_time_us,
            advance_to_us=test_clocks.c.frozen_time_us + 86_400_000_000,
            lease_until_us=int((time.time() + 60) * 1_000_000)))
    advanced = httpx.post(f"{server.base_url}/v1/test_clock/advance", json={"seconds": 60},
                          headers={"Authorization": f"Bearer {token}",
                                   "Idempotency-Key": "tick"})
    _refused(advanced, "tick", "a test clock's advance")


def test_a_purchase_under_a_key_a_spend_took_is_refused_over_http(server: LiveServer) -> None:
    """A spend's key is kept by the ledger, not among the HTTP layer's answers, so only the
    purchase's own claim among the ledger's keys finds it taken."""
    club = server.community
    club.create_member("ann")
    club.grant("ann", 10, idempotency_key="gift")
    club.create_pack("20 credits", pack_id="p20", credits=20, price_minor=600)
    club.spend("ann", 3, idempotency_key="once")
    bought = httpx.post(f"{server.base_url}/v1/purchases",
                        json={"member": "ann", "pack_id": "p20"},
                        headers={"Authorization": f"Bearer {server.api_key}",
                                 "Idempotency-Key": "once"})
    assert bought.status_code == 422, bought.text
    assert bought.json()["code"] == "idempotency_conflict"
    assert bought.json()["detail"] == (
        "idempotency key 'once' was already used for a different request (a spend); a new "
        "request needs a new key")
    assert club.list_purchases("ann").data == []
    assert club.balance("ann").posted == 7
