"""Wallet protection over HTTP, through `jeton.Client` and raw requests, on SQLite and
PostgreSQL: a moderator freezes a wallet (no spend, transfer or hold), the owner caps spending,
and the declines come back as 403 problems whose `code` is the in-process status and as the
same exceptions in the client."""

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
    owner.grant("alice", 100, idempotency_key="g")

    # The owner caps spending at 10 credits an hour.
    assert owner.set_velocity_limit(per_hour=10) == jeton.VelocityLimit(per_hour=10)
    owner.set_spending_settings(alert_after_trips=2)
    assert owner.spending_limits().alert_after_trips == 2
    owner.spend("alice", 8, idempotency_key="s1")
    with pytest.raises(jeton.VelocityLimitExceeded) as over:
        owner.spend("alice", 5, idempotency_key="s2")
    assert over.value.status is jeton.Status.velocity_limit_exceeded
    assert over.value.extra["limit"] == 10
    assert over.value.extra["retry_after"]
    raw = httpx.post(f"{server.base_url}/v1/spends", json={"member": "alice", "amount": 5},
                     headers={"Authorization": f"Bearer {server.api_key}",
                              "Idempotency-Key": "raw-1"})
    assert raw.status_code == 403
    assert raw.json()["code"] == "velocity_limit_exceeded"
    assert raw.json()["type"] == "/problems/velocity-limit-exceeded"
    too_big = httpx.post(f"{server.base_url}/v1/spends", json={"member": "alice", "amount": 11},
                         headers={"Authorization": f"Bearer {server.api_key}",
                                  "Idempotency-Key": "raw-too-big"})
    assert too_big.status_code == 403
    assert "retry_after" in too_big.json()  # said, as null: no time to retry at
    assert too_big.json()["retry_after"] is None
    assert [e.type for e in server.community.list_events(type="member.limit_tripped").data] \
        == ["member.limit_tripped"]
    owner.set_velocity_limit()  # lifted

    # A moderator freezes alice's wallet: her spends and transfers are refused.
    frozen = owner.freeze_wallet("alice", reason="stolen card reported", actor="mod-7")
    assert frozen.frozen
    assert owner.get_wallet_freeze("alice").frozen_by == "mod-7"
    with pytest.raises(jeton.WalletFrozen):
        owner.transfer("alice", "bob", 5, idempotency_key="t1")
    raw = httpx.post(f"{server.base_url}/v1/spends", json={"member": "alice", "amount": 1},
                     headers={"Authorization": f"Bearer {server.api_key}",
                              "Idempotency-Key": "raw-2"})
    assert raw.status_code == 403
    assert raw.json()["code"] == "wallet_frozen"
    held = httpx.post(f"{server.base_url}/v1/holds", json={"member": "alice", "amount": 1},
                      headers={"Authorization": f"Bearer {server.api_key}",
                               "Idempotency-Key": "raw-hold"})
    assert (held.status_code, held.json()["code"]) == (403, "wallet_frozen")
    assert owner.balance("alice").pending == 0
    assert not owner.unfreeze_wallet("alice", reason="card owner confirmed",
                                     actor="mod-7").frozen
    owner.spend("alice", 1, idempotency_key="s3")
    assert owner.balance("alice").posted == 100 - 8 - 1
    check_invariants(server.jeton.store)


def test_protection_over_http_on_sqlite(live_server: LiveServer) -> None:
    _scenario(live_server)


def test_protection_over_http_on_postgresql(pg_live_server: LiveServer) -> None:
    _scenario(pg_live_server)
