"""Receipts over HTTP on SQLite and PostgreSQL: the same receipt as in-process, the public keys
at the well-known address without an API key, rotation by an admin key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jeton import Status
from jeton.core.errors import NotFound
from receipt_doc import verify_receipt

from .conftest import LiveServer, live_server_on


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server_on(request.param, tmp_path) as live:
        yield live


def as_json(model: Any) -> dict[str, Any]:
    return json.loads(model.model_dump_json())  # type: ignore[no-any-return]


def test_a_host_app_fetches_a_receipt_and_verifies_it_with_the_public_keys(
        server: LiveServer) -> None:
    chat = server.client()
    chat.create_member("alice")
    chat.grant("alice", 50, idempotency_key="g")
    charge = chat.spend("alice", 7, idempotency_key="c", service="chat.message")
    receipt = chat.receipt(charge.id)
    assert receipt == server.community.receipt(charge.id)
    public = httpx.get(f"{server.base_url}/.well-known/jeton/{server.community_id}/keys")
    assert public.status_code == 200  # no API key needed
    facts = verify_receipt(as_json(receipt), public.json())
    assert (facts["receipt_for"], facts["amount"], facts["member_id"]) == ("charge", -7, "alice")
    assert facts["lots"][0]["amount"] == -7

    rotated = chat.rotate_receipt_key(idempotency_key="rotate-1")
    assert len(rotated.keys) == 2
    assert chat.rotate_receipt_key(idempotency_key="rotate-1") == rotated  # a retry: once
    assert chat.receipt_keys() == rotated
    again = httpx.get(f"{server.base_url}/.well-known/jeton/{server.community_id}/keys").json()
    assert verify_receipt(as_json(receipt), again) == facts  # the old key is still published
    assert chat.receipt(charge.id).key_id == rotated.keys[0].id


def test_unknown_communities_and_transfers_are_404(server: LiveServer) -> None:
    chat = server.client()
    assert httpx.get(f"{server.base_url}/.well-known/jeton/nowhere/keys").status_code == 404
    with pytest.raises(NotFound) as missing:
        chat.receipt("01a24310-0000-7000-8000-000000000000")
    assert missing.value.status is Status.transfer_not_found
