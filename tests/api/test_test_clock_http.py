"""Test clocks over real HTTP, as a host app in another language would drive them: make a
community in test mode with the operator's token, hold credits, move the clock past the hold's
timeout with `POST /v1/test_clock/advance`, and see it released. Errors come back as problems
whose `code` is the in-process status, and `jeton.Client` raises the same exceptions."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

import jeton
from conftest import check_invariants
from jeton.client import create_community

from .conftest import OPERATOR_TOKEN, LiveServer


def _scenario(server: LiveServer) -> None:
    lab, token = create_community(server.base_url, OPERATOR_TOKEN, "lab", "Lab", test_mode=True)
    assert lab.info().test_mode
    assert token.startswith("jtk_test_")  # a test community's key says so, and works
    made = lab.create_api_key("ci", ["members:read"], idempotency_key="ci-key")
    assert made.token is not None
    assert (made.token[:9], made.token_hint[:9]) == ("jtk_test_", "jtk_test_")
    headers = {"Authorization": f"Bearer {token}"}
    start = lab.test_clock().now
    assert lab.test_clock().status == "ready"
    assert httpx.get(f"{server.base_url}/v1/test_clock", headers=headers).json() == {
        "now": start.isoformat().replace("+00:00", "Z"), "status": "ready",
        "advancing_to": None, "created_at": start.isoformat().replace("+00:00", "Z")}

    lab.create_member("ann")
    lab.grant("ann", 100, idempotency_key="welcome")
    hold = lab.hold("ann", 30, idempotency_key="video", timeout_s=900)
    assert hold.expires_at == start + timedelta(seconds=900)
    assert lab.balance("ann").available == 70

    # Raw HTTP: an hour on, under an idempotency key; the same request again is a replay.
    advance = {**headers, "Idempotency-Key": "an-hour"}
    moved = httpx.post(f"{server.base_url}/v1/test_clock/advance", json={"seconds": 3600},
                       headers=advance)
    assert moved.status_code == 200, moved.text
    assert moved.json()["jobs"]["holds.expire"] == 1
    assert moved.json()["steps"] == 2  # the hold's timeout, then the target
    again = httpx.post(f"{server.base_url}/v1/test_clock/advance", json={"seconds": 3600},
                       headers=advance)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["now"] == moved.json()["now"]
    assert lab.test_clock().now == start + timedelta(hours=1)
    assert lab.get_hold(hold.id).status == "expired"
    assert lab.balance("ann").available == 100
    # What the server does in-process agrees: the community's time is its test clock.
    assert server.jeton.community("lab").test_clock().now == start + timedelta(hours=1)

    # Never backwards: 409 clock_backwards, and the same exception from the Client.
    back = httpx.post(f"{server.base_url}/v1/test_clock/advance",
                      json={"to": start.isoformat()}, headers={**headers,
                                                               "Idempotency-Key": "back"})
    assert back.status_code == 409
    assert back.json()["code"] == "clock_backwards"
    with pytest.raises(jeton.Conflict) as backwards:
        lab.advance_test_clock(to=start, idempotency_key="back-2")
    assert backwards.value.status is jeton.Status.clock_backwards
    # It moves credits: a key is required.
    keyless = httpx.post(f"{server.base_url}/v1/test_clock/advance", json={"seconds": 60},
                         headers=headers)
    assert keyless.status_code == 400
    bad = httpx.post(f"{server.base_url}/v1/test_clock/advance", json={"seconds": 0},
                     headers={**headers, "Idempotency-Key": "zero"})
    assert (bad.status_code, bad.json()["code"]) == (422, "value_invalid")

    # The server's first community is live: it refuses, with the same status as in-process.
    live = server.client()
    assert not live.info().test_mode
    for answer in (
            httpx.get(f"{server.base_url}/v1/test_clock",
                      headers={"Authorization": f"Bearer {server.api_key}"}),
            httpx.post(f"{server.base_url}/v1/test_clock/advance", json={"seconds": 60},
                       headers={"Authorization": f"Bearer {server.api_key}",
                                "Idempotency-Key": "live"})):
        assert answer.status_code == 409
        assert answer.json()["code"] == "test_mode_required"
        assert answer.json()["type"] == "/problems/test-mode-required"
    with pytest.raises(jeton.Conflict) as refused:
        live.advance_test_clock(seconds=60, idempotency_key="live-2")
    assert refused.value.status is jeton.Status.test_mode_required
    with pytest.raises(jeton.Conflict) as in_process:
        server.community.advance_test_clock(seconds=60, idempotency_key="live-3")
    assert in_process.value.status is refused.value.status
    lab.close()
    check_invariants(server.jeton.store)


def test_test_clock_over_http_on_sqlite(live_server: LiveServer) -> None:
    _scenario(live_server)


def test_test_clock_over_http_on_postgresql(pg_live_server: LiveServer) -> None:
    _scenario(pg_live_server)
