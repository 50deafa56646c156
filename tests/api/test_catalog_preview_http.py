"""`POST /v1/catalog/preview` over a real server, on SQLite and PostgreSQL: the same answer as
in-process through `jeton.Client.preview_catalog`, an invalid catalog answered as loading one
is (422 `catalog_invalid`, every error with its line), and nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from jeton import InvalidRequest, Status
from jeton.core.clock import ManualClock

from .conftest import LiveServer, live_server_on

CATALOG = """
[services."chat.message"]
name = "Chat message"
credits = 2

[services."classifieds.ad"]
name = "Classified ad"
credits = 10
"""

NEW = """
[services."chat.message"]
name = "Chat message"
credits = 3
"""

BROKEN = """
[services."chat.message"]
name = "Chat message"
credits = 3
unit_size = 1024
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer,
                                                                             ManualClock]]:
    clock = ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    with live_server_on(request.param, tmp_path, clock=clock) as live:
        yield live, clock


def test_a_preview_over_http_is_the_in_process_one(
        server: tuple[LiveServer, ManualClock]) -> None:
    live, clock = server
    client = live.client()
    client.load_catalog(CATALOG)
    for member, credits in (("ann", 40), ("ben", 12)):
        client.create_member(member)
        client.grant(member, credits, idempotency_key=f"g-{member}")
    for day in range(10):
        clock.advance(timedelta(days=1))
        client.charge("ann", "chat.message", idempotency_key=f"ann-{day}")
        if day < 5:
            client.charge("ben", "chat.message", idempotency_key=f"ben-{day}")
    client.charge("ann", "classifieds.ad", idempotency_key="ad")
    with live.jeton.store.read() as conn:
        before = conn.exec_driver_sql("SELECT count(*) FROM transfers").scalar()

    over_http = client.preview_catalog(NEW, days=30)
    assert over_http == live.community.preview_catalog(NEW, days=30)
    assert [(s.service, s.charges, s.credits_then, s.credits_new, s.status)
            for s in over_http.services] == [("chat.message", 15, 30, 45, "changed"),
                                             ("classifieds.ad", 1, 10, 0, "removed")]
    # ben has 2 credits left and his last chat would cost 3.
    by_member = {m.member_id: m for m in over_http.members}
    assert (by_member["ben"].available, by_member["ben"].decline_reason) == (
        2, "insufficient_credits")
    assert by_member["ann"].decline_reason == "service_not_found"
    # the window starts 3 days back to the microsecond: the 8th, 9th, 10th and 11th
    assert client.preview_catalog(NEW, days=3).charges == 5

    raw = httpx.post(f"{live.base_url}/v1/catalog/preview",
                     json={"catalog": BROKEN, "format": "toml", "days": 30},
                     headers={"Authorization": f"Bearer {live.api_key}"})
    assert raw.status_code == 422
    problem = raw.json()
    assert problem["code"] == "catalog_invalid"
    assert [(e["line"], e["where"]) for e in problem["errors"]] == [
        (5, 'services."chat.message".unit_size')]
    with pytest.raises(InvalidRequest) as caught:
        client.preview_catalog(NEW, days=0)
    assert caught.value.status is Status.value_invalid
    with live.jeton.store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM transfers").scalar() == before
    assert client.catalog().version == 1
