"""Auto-recharge to a target and low-balance levels over HTTP, through `jeton.Client` and raw
requests, on SQLite and PostgreSQL: the host app sets both for a member, the member's charges
take them under, and the recharge and the alerts come out as the in-process API gives them."""

from __future__ import annotations

import httpx
import pytest

import jeton
from conftest import check_invariants
from jeton.payments.offline import DEMO_METHOD_OK

from .conftest import LiveServer


def _scenario(server: LiveServer) -> None:
    app = server.client()
    app.create_member("ann")
    app.create_pack("20 credits", pack_id="p20", credits=20, price_minor=600)
    app.set_payment_method("ann", provider="demo", customer_id="cus_demo_ann",
                           payment_method_id=DEMO_METHOD_OK)
    app.grant("ann", 100, idempotency_key="g")

    levels = app.set_low_balance_levels("ann", {"info": 80, "warning": 40, "critical": 10})
    assert [(lv.level, lv.armed) for lv in levels.levels] == [
        ("info", True), ("warning", True), ("critical", True)]
    settings = app.set_auto_recharge("ann", pack_id="p20", threshold=10, monthly_cap=2,
                                     target=100)
    assert settings.target == 100
    assert app.get_auto_recharge("ann") == settings

    app.spend("ann", 30, idempotency_key="s1")  # 70: info
    app.spend("ann", 65, idempotency_key="s2")  # 5: warning and critical; under the threshold
    sent = [(e.data["level"], e.data["available"])
            for e in reversed(app.list_events(type="balance.low").data)]
    assert sent == [("info", 70), ("warning", 5), ("critical", 5)]
    assert server.community.run_funding_jobs()["recharge.run"] == 1
    assert app.balance("ann").available == 5 + 100  # 95 needed: five packs of 20
    assert [lv.armed for lv in app.low_balance_levels("ann").levels] == [True, True, True]

    headers = {"Authorization": f"Bearer {server.api_key}"}
    bad = httpx.put(f"{server.base_url}/v1/members/ann/low_balance_levels",
                    json={"levels": {"info": 5, "warning": 50}}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "value_invalid"
    unknown = httpx.put(f"{server.base_url}/v1/members/ann/low_balance_levels",
                        json={"levels": {"urgent": 5}}, headers=headers)
    assert unknown.status_code == 422
    low_target = httpx.post(f"{server.base_url}/v1/members/ann/auto_recharge",
                            json={"pack_id": "p20", "threshold": 10, "monthly_cap": 2,
                                  "target": 5}, headers=headers)
    assert low_target.status_code == 422
    assert low_target.json()["code"] == "amount_invalid"
    with pytest.raises(jeton.NotFound):
        app.low_balance_levels("nobody")
    check_invariants(server.jeton.store)


def test_targets_and_levels_over_http_on_sqlite(live_server: LiveServer) -> None:
    _scenario(live_server)


def test_targets_and_levels_over_http_on_postgresql(pg_live_server: LiveServer) -> None:
    _scenario(pg_live_server)
