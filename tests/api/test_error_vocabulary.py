"""One error vocabulary (issue 13): over HTTP an error's `code` is the status the in-process
API raises for the same input; bodies that cannot be read are 400; a NUL anywhere is a 422 and
never reaches the store; no error closes the client's connection; money-moving POSTs need an
Idempotency-Key; a replay says so in its body as in its header; OpenAPI bounds are exact."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import jeton
from api.conftest import LiveServer
from jeton.api.idempotency import KEY_REQUIRED
from jeton.core import limits
from jeton.core.statuses import Status

BAD_AMOUNTS = [-5, 0, limits.amount_max + 1, 2**63, "5", 5.0, True]


def _status_in_process(call: Any) -> Status:
    with pytest.raises(jeton.JetonError) as raised:
        call()
    return raised.value.status


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    live_server.community.create_member("alice")
    live_server.community.create_member("bob")
    live_server.community.grant("alice", 50, idempotency_key="seed")
    return live_server


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_bad_amount_has_the_same_code_over_http_as_in_process(
        server: LiveServer, amount: Any) -> None:
    c = server.community
    writes = {
        "/v1/grants": ({"member": "alice", "amount": amount},
                       lambda: c.grant("alice", amount, idempotency_key="g")),
        "/v1/spends": ({"member": "alice", "amount": amount},
                       lambda: c.spend("alice", amount, idempotency_key="s")),
        "/v1/transfers": ({"from_member": "alice", "to_member": "bob", "amount": amount},
                          lambda: c.transfer("alice", "bob", amount, idempotency_key="t")),
        "/v1/holds": ({"member": "alice", "amount": amount},
                      lambda: c.hold("alice", amount, idempotency_key="h")),
    }
    headers = {"Authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=server.base_url, headers=headers) as http:
        for i, (path, (body, call)) in enumerate(writes.items()):
            expected = _status_in_process(call)
            answer = http.post(path, json=body, headers={"Idempotency-Key": f"bad-{i}"})
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["code"] == expected.value, (path, answer.json())
    with server.client(max_retries=0) as remote:
        assert _status_in_process(lambda: remote.grant("alice", amount, idempotency_key="x")) \
            == _status_in_process(lambda: c.grant("alice", amount, idempotency_key="x"))


def test_a_body_that_is_not_json_is_a_400(server: LiveServer) -> None:
    answer = httpx.post(f"{server.base_url}/v1/grants", content=b'{"member": ',
                        headers={"Authorization": f"Bearer {server.api_key}",
                                 "Idempotency-Key": "k", "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "value_invalid"


@pytest.mark.parametrize("target", ["/v1/events?member_id=a%00b", "/v1/members/a%00b",
                                    "/v1/members?search=%00"])
def test_a_nul_anywhere_is_a_422_and_the_connection_stays_open(
        server: LiveServer, target: str) -> None:
    where = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    headers = {"Authorization": f"Bearer {server.api_key}"}
    try:
        conn.request("GET", target, headers=headers)
        answer = conn.getresponse()
        assert answer.status == 422
        assert json.loads(answer.read())["code"] == "value_invalid"
        conn.request("GET", "/v1/members/alice", headers=headers)  # the same connection
        again = conn.getresponse()
        assert again.status == 200
        again.read()
    finally:
        conn.close()


def test_an_unexpected_error_is_a_500_problem_on_a_connection_that_stays_open(
        server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from jeton.app import Community

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Community, "get_member", broken)
    where = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    headers = {"Authorization": f"Bearer {server.api_key}"}
    try:
        conn.request("GET", "/v1/members/alice", headers=headers)
        answer = conn.getresponse()
        assert answer.status == 500
        assert json.loads(answer.read())["code"] == "internal_error"
        monkeypatch.undo()
        conn.request("GET", "/v1/members/alice", headers=headers)
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_posts_that_move_credits_or_money_need_an_idempotency_key(server: LiveServer) -> None:
    paths = {path for path, item in server.app.openapi()["paths"].items() if "post" in item}
    assert paths >= KEY_REQUIRED  # each one names a route
    headers = {"Authorization": f"Bearer {server.api_key}"}
    answer = httpx.post(f"{server.base_url}/v1/grants", json={"member": "alice", "amount": 5},
                        headers=headers)
    assert answer.status_code == 400
    assert "Idempotency-Key" in answer.json()["detail"]
    assert server.community.balance("alice").available == 50  # nothing moved
    made = httpx.post(f"{server.base_url}/v1/members", json={"id": "carol"}, headers=headers)
    assert made.status_code == 201  # not money: a key is made for it


def test_a_replay_says_replayed_in_its_body_as_in_its_header(server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {server.api_key}", "Idempotency-Key": "once"}
    first = httpx.post(f"{server.base_url}/v1/grants", json={"member": "alice", "amount": 5},
                       headers=headers)
    again = httpx.post(f"{server.base_url}/v1/grants", json={"member": "alice", "amount": 5},
                       headers=headers)
    assert (first.headers.get("Idempotent-Replayed"), first.json()["replayed"]) == (None, False)
    assert (again.headers["Idempotent-Replayed"], again.json()["replayed"]) == ("true", True)
    assert {**again.json(), "replayed": False} == first.json()


def test_openapi_bounds_are_the_exact_integers_the_server_accepts(server: LiveServer) -> None:
    text = httpx.get(f"{server.base_url}/openapi.json").text
    doc = json.loads(text)
    amount = doc["components"]["schemas"]["Grant"]["properties"]["amount"]
    assert amount["maximum"] == limits.amount_max
    assert isinstance(amount["maximum"], int)

    def floats(node: Any) -> list[Any]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k in ("minimum", "maximum")
                    and isinstance(v, float)] + [f for v in node.values() for f in floats(v)]
        if isinstance(node, list):
            return [f for v in node for f in floats(v)]
        return []

    assert floats(doc) == []
