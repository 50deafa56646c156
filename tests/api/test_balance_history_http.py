"""`GET /v1/members/{id}/balance?as_of=` and `.../balance/history` over HTTP, on SQLite and
PostgreSQL: the same answers as in-process, and the same errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from jeton import Status
from jeton.core.clock import ManualClock
from jeton.core.errors import InvalidRequest, NotFound

from .conftest import LiveServer, live_server_on

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer,
                                                                               ManualClock]]:
    clock = ManualClock(START)
    with live_server_on(request.param, tmp_path, clock=clock) as live:
        yield live, clock


def test_a_host_app_reads_last_weeks_balance_and_a_daily_series(
        server: tuple[LiveServer, ManualClock]) -> None:
    live, clock = server
    chat = live.client()
    chat.create_member("alice")
    chat.grant("alice", 100, idempotency_key="g")
    clock.set(START + timedelta(days=1, hours=2))
    chat.spend("alice", 40, idempotency_key="s1", service="chat.message")
    clock.set(START + timedelta(days=3))
    chat.spend("alice", 10, idempotency_key="s2")

    at = chat.balance_at("alice", START + timedelta(days=2))
    assert at == live.community.balance_at("alice", START + timedelta(days=2))
    assert (at.posted, at.version) == (60, 2)
    assert chat.balance_at("alice", START - timedelta(seconds=1)).posted == 0

    raw = httpx.get(f"{live.base_url}/v1/members/alice/balance",
                    params={"as_of": "2026-03-02T12:00:00+01:00"},
                    headers={"Authorization": f"Bearer {live.api_key}"})
    assert raw.status_code == 200
    assert raw.json()["posted"] == 60
    assert raw.json()["as_of"].startswith("2026-03-02T11:00")
    assert chat.balance("alice").available == 50  # without as_of: the balance now

    history = chat.balance_history("alice", datetime(2026, 3, 1, tzinfo=UTC),
                                   datetime(2026, 3, 5, tzinfo=UTC))
    assert history == live.community.balance_history(
        "alice", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))
    assert [p.posted for p in history.points] == [100, 60, 60, 50]


def test_bad_questions_get_the_in_process_errors(server: tuple[LiveServer, ManualClock]) -> None:
    live, _ = server
    chat = live.client()
    chat.create_member("alice")
    day = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="until must be after since") as bad:
        chat.balance_history("alice", day, day - timedelta(days=1))
    assert bad.value.status is Status.value_invalid
    with pytest.raises(InvalidRequest, match="at most 1000"):
        chat.balance_history("alice", day, day + timedelta(days=90), interval="hour")
    with pytest.raises(InvalidRequest, match="timezone-aware"):
        chat.balance_at("alice", datetime(2026, 3, 1))
    with pytest.raises(NotFound) as missing:
        chat.balance_at("nobody", day)
    assert missing.value.status is Status.member_not_found
    # An instant before year 1 once converted to UTC (found by the OpenAPI fuzzer): 422, not 500.
    early = httpx.get(f"{live.base_url}/v1/members/alice/balance/history",
                      params={"from": "0001-01-01T01:01:00Z", "to": "0001-01-01T00:00:01+04:00"},
                      headers={"Authorization": f"Bearer {live.api_key}"})
    assert early.status_code == 422
    assert early.json()["code"] == "value_invalid"
    assert "years 1 to 9999" in early.json()["detail"]
