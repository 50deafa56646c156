"""Capped rollover over HTTP, on SQLite and PostgreSQL: the owner puts rollover terms in the
catalog file (a bad one comes back with its line), the plan objects show them, and when the
cycle ends the events say what rolled and what was forfeited."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

import jeton
from conftest import check_invariants, drop_pg_store, make_pg_store, make_sqlite_store
from jeton.core.clock import ManualClock
from jeton.payments.offline import DEMO_METHOD_OK
from jeton.store.engine import Store

from .conftest import run_live_server

CATALOG = """
[services."chat.message"]
name = "Chat message"
credits = 1

[plans.pro.rollover]
share_percent = 25
cycles = 1
"""


def _scenario(store: Store) -> None:
    clock = ManualClock(datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    with run_live_server(store, clock=clock) as server:
        owner = server.client()
        owner.create_member("ann")
        owner.create_plan("Pro", plan_id="pro", cycle="monthly", credits=100, price_minor=900)
        bad = httpx.put(f"{server.base_url}/v1/catalog", json={
            "catalog": CATALOG.replace("cycles = 1", "cycles = 0"), "format": "toml"},
            headers={"Authorization": f"Bearer {server.api_key}"})
        assert bad.status_code == 422
        assert bad.json()["code"] == "catalog_invalid"
        assert any(e["line"] == 8 and e["where"] == "plans.pro.rollover.cycles"
                   for e in bad.json()["errors"])
        assert [p.rollover for p in owner.list_plans()] == [None]
        owner.load_catalog(CATALOG)
        [plan] = owner.list_plans()
        assert plan.rollover == jeton.RolloverInfo(share_percent=25, cap=None, cycles=1)
        raw = httpx.get(f"{server.base_url}/v1/plans",
                        headers={"Authorization": f"Bearer {server.api_key}"}).json()
        assert raw["data"][0]["rollover"] == {"share_percent": 25, "cap": None, "cycles": 1}

        owner.set_payment_method("ann", provider="demo", customer_id="cus_ann",
                                 payment_method_id=DEMO_METHOD_OK)
        owner.subscribe("ann", "pro", idempotency_key="ann-pro")
        owner.spend("ann", 60, idempotency_key="s1")
        clock.set(datetime(2026, 2, 1, 9, 0, tzinfo=UTC))
        server.community.run_funding_jobs()
        server.community.run_expiry()
        [rolled] = owner.list_events(type="credits.rolled_over").data
        assert (rolled.data["amount"], rolled.data["unused"]) == (10, 40)
        [forfeited] = owner.list_events(type="credits.rollover_forfeited").data
        assert forfeited.data["amount"] == 30
        assert owner.balance("ann").available == 100 + 10
        check_invariants(server.jeton.store)


def test_rollover_over_http_on_sqlite(tmp_path: Path) -> None:
    store = make_sqlite_store(tmp_path / "jeton.db")
    try:
        _scenario(store)
    finally:
        store.dispose()


def test_rollover_over_http_on_postgresql() -> None:
    store = make_pg_store()
    try:
        _scenario(store)
    finally:
        drop_pg_store(store)


