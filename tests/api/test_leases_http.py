"""Sub-leased areas over HTTP, through `jeton.Client` and raw requests, on SQLite and
PostgreSQL: the owner leases `files.lib42.` to Olga, prices it on her behalf within the bounds
(422 outside them), a charge in the area pays her share in its own transfer, the area's report
counts it, and ending the lease stops the share."""

from __future__ import annotations

import httpx
import pytest

import jeton
from conftest import check_invariants
from jeton.services.ledger.state import wallet_id

from .conftest import LiveServer


def _scenario(server: LiveServer) -> None:
    owner = server.client()
    for member in ("olga", "ann"):
        owner.create_member(member)
    owner.grant("ann", 100, idempotency_key="g-ann")
    lease = owner.create_lease("files.lib42.", "olga", share_bp=2500, price_min=1,
                               price_max=20, kinds=["fixed"], idempotency_key="lease-1")
    assert owner.get_lease(lease.id) == lease
    assert owner.list_leases(active_only=True) == [lease]
    service = owner.set_area_service(lease.id, "files.lib42.download",
                                     {"name": "Download", "credits": 8}, actor="olga")
    assert service.credits == 8
    raw = httpx.post(f"{server.base_url}/v1/leases/{lease.id}/services/files.lib42.download",
                     json={"credits": 50},
                     headers={"Authorization": f"Bearer {server.api_key}"})
    assert raw.status_code == 422
    assert "1-20" in raw.json()["detail"]

    receipt = owner.charge("ann", "files.lib42.download", idempotency_key="c1")
    assert [(s.member, s.amount) for s in receipt.splits if s.member] == [("olga", 2)]
    legs = {p.account_id: p.amount
            for p in owner.get_transfer(receipt.transfer_id or "").postings}
    assert legs[wallet_id("olga", "CREDIT")] == 2
    report = owner.area_report(lease.id)
    assert (report.uses, report.credits_charged, report.credits_earned) == (1, 8, 2)
    check_invariants(server.jeton.store)

    ended = owner.end_lease(lease.id, reason="closing the library", actor="owner-ann")
    assert not ended.active
    owner.charge("ann", "files.lib42.download", idempotency_key="c2")
    assert owner.balance("olga").posted == 2
    with pytest.raises(jeton.Declined):
        owner.set_area_service(lease.id, "files.lib42.download", {"credits": 5})
    check_invariants(server.jeton.store)


def test_leases_over_http_on_sqlite(live_server: LiveServer) -> None:
    _scenario(live_server)


def test_leases_over_http_on_postgresql(pg_live_server: LiveServer) -> None:
    _scenario(pg_live_server)
