"""A POST whose answer the ledger keeps under its idempotency key is one write: the HTTP layer
keeps no second copy (decision 0038), and a replay still answers as the first, flagged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .conftest import LiveServer

Post = tuple[str, dict[str, Any]]


def _kept_copies(server: LiveServer) -> int:
    with server.jeton.store.read() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM http_idempotency").scalar_one())


def _posts(server: LiveServer) -> list[tuple[str, Callable[[], Post]]]:
    chat = server.client()
    chat.create_member("alice")
    chat.create_member("bob")
    chat.grant("alice", 100, idempotency_key="seed")
    holds = [chat.hold("alice", 5, idempotency_key=f"h{i}").id for i in range(2)]
    paid = chat.spend("alice", 3, idempotency_key="to-reverse")
    return [
        ("spend", lambda: ("/v1/spends", {"member": "alice", "amount": 1})),
        ("grant", lambda: ("/v1/grants", {"member": "bob", "amount": 2})),
        ("hold", lambda: ("/v1/holds", {"member": "alice", "amount": 1})),
        ("capture", lambda: (f"/v1/holds/{holds[0]}/capture", {"amount": 2})),
        ("void", lambda: (f"/v1/holds/{holds[1]}/void", {})),
        ("transfer", lambda: ("/v1/transfers",
                              {"from_member": "alice", "to_member": "bob", "amount": 4})),
        ("reverse", lambda: (f"/v1/transfers/{paid.id}/reverse", {})),
    ]


def test_ledger_posts_keep_no_http_copy_and_replay_as_the_first(
        live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {live_server.api_key}"}
    posts = _posts(live_server)
    kept = _kept_copies(live_server)  # the members made above keep theirs
    for name, post in posts:
        path, body = post()
        sent = {**headers, "Idempotency-Key": f"once-{name}"}
        first = httpx.post(f"{live_server.base_url}{path}", headers=sent, json=body)
        assert 200 <= first.status_code < 300, (name, first.text)
        again = httpx.post(f"{live_server.base_url}{path}", headers=sent, json=body)
        assert again.status_code == first.status_code, name
        assert again.headers.get("Idempotent-Replayed") == "true", name
        assert again.json()["id"] == first.json()["id"], name
        assert (first.json()["replayed"], again.json()["replayed"]) == (False, True), name
        assert _kept_copies(live_server) == kept, name


def test_other_posts_still_keep_their_answer_for_replays(live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {live_server.api_key}", "Idempotency-Key": "m1"}
    kept = _kept_copies(live_server)
    first = httpx.post(f"{live_server.base_url}/v1/members", headers=headers,
                       json={"id": "carol"})
    assert first.status_code == 201, first.text
    assert _kept_copies(live_server) == kept + 1
    again = httpx.post(f"{live_server.base_url}/v1/members", headers=headers,
                       json={"id": "carol"})
    assert (again.status_code, again.json()) == (first.status_code, first.json())


@pytest.mark.parametrize("path", ["/v1/spends", "/v1/transfers"])
def test_a_ledger_post_replayed_with_another_body_is_a_conflict(
        live_server: LiveServer, path: str) -> None:
    chat = live_server.client()
    chat.create_member("alice")
    chat.create_member("bob")
    chat.grant("alice", 50, idempotency_key="seed")
    body: dict[str, Any] = ({"member": "alice", "amount": 1} if path == "/v1/spends"
                            else {"from_member": "alice", "to_member": "bob", "amount": 1})
    headers = {"Authorization": f"Bearer {live_server.api_key}", "Idempotency-Key": "same"}
    assert httpx.post(f"{live_server.base_url}{path}", headers=headers,
                      json=body).status_code == 201
    other = httpx.post(f"{live_server.base_url}{path}", headers=headers,
                       json={**body, "amount": 2})
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "idempotency_conflict"
    assert other.json()["detail"] == (
        f"Idempotency-Key 'same' was already used for a different request (POST {path} with "
        "another body); a new request needs a new key")
    elsewhere = httpx.post(f"{live_server.base_url}/v1/holds", headers=headers,
                           json={"member": "alice", "amount": 1})
    assert elsewhere.status_code == 422, elsewhere.text
    assert f"(POST {path});" in elsewhere.json()["detail"]
