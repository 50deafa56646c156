"""`GET /v1/members/{id}/catalog` over a real server: the same view as in-process, through
`jeton.Client.member_catalog`."""

from __future__ import annotations

import httpx
import pytest

from jeton import NotFound, Status

from .conftest import LiveServer

CATALOG = """
[services."chat.message"]
name = "Chat message"
credits = 1
allowance = { uses = 5, per = "session" }

[services."chat.private_room"]
name = "Private room"
credits = 20
access = { level = "hidden", any_of = ["class:vip"] }

[services."files.archive"]
name = "Archive download"
credits = 5
access = { level = "locked", any_of = ["key:archive"] }
"""


def test_a_members_catalog_over_http_is_the_in_process_one(live_server: LiveServer) -> None:
    client = live_server.client()
    client.load_catalog(CATALOG, "toml")
    client.create_member("ann")
    client.charge("ann", "chat.message", idempotency_key="m1", session_id="s1")

    over_http = client.member_catalog("ann", session_id="s1")
    assert over_http == live_server.community.member_catalog("ann", session_id="s1")
    assert [s.code for s in over_http.services] == ["chat.message", "files.archive"]
    assert over_http.services[0].allowance_left == 4
    assert [(f.kind, f.name) for f in over_http.services[1].fixes] == [("get_key", "archive")]

    raw = httpx.get(f"{live_server.base_url}/v1/members/ann/catalog",
                    headers={"Authorization": f"Bearer {live_server.api_key}"})
    assert raw.status_code == 200
    with pytest.raises(NotFound) as caught:
        client.member_catalog("nobody")
    assert caught.value.status is Status.member_not_found
