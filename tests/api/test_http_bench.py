"""The HTTP figure of `jeton bench`: a real `jeton serve` charged by 16 clients, each with its
own buyer and uploader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

import jeton
from api.conftest import LiveServer
from conftest import fresh_database
from jeton.services.bench import http as http_bench
from jeton.services.bench.charging import BUYER, UPLOADER


def test_each_connection_charges_its_own_buyer_over_http(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    per_connection = 2
    found = http_bench.bench_http(url, per_connection * http_bench.CONNECTIONS)
    assert found["charge_per_s"] > 0
    assert found["p99_charge_ms"] > 0
    j = jeton.open(url)
    try:
        c = j.community("bench")
        spent = {w: c.statement(f"{BUYER}-{w}").data for w in range(http_bench.CONNECTIONS)}
        assert {len(lines) for lines in spent.values()} == {per_connection + 1}  # and a grant
        royalties = {c.balance(f"{UPLOADER}-{w}").posted
                     for w in range(http_bench.CONNECTIONS)}
        assert len(royalties) == 1
        assert royalties.pop() > 0  # every charge paid its uploader's share
    finally:
        j.close()


@pytest.mark.skipif(http_bench.WRK is None, reason="needs Debian's wrk (CI installs it)")
def test_wrk_drives_the_ping_floor_the_charges_and_the_spends_and_every_answer_succeeds(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    found = http_bench.bench_http_wrk(url, seconds=1, rounds=1)
    assert found["bare_per_s"] > 0
    assert found["charge_per_s"] > 0
    assert found["ratio"] == pytest.approx(found["charge_per_s"] / found["bare_per_s"])
    assert found["ratio_spread"] == 0.0  # one round: nothing to spread
    assert found["server_cpu_ms_per_ping"] > 0  # the floor's CPU, beside the charge's
    assert found["server_cpu_ms_per_charge"] > found["server_cpu_ms_per_ping"]
    assert "database_cpu_ms_per_charge" not in found  # SQLite runs in the server's process
    assert found["spend_per_s"] > 0
    assert found["spend_ratio"] == pytest.approx(found["spend_per_s"] / found["bare_per_s"])
    assert found["server_cpu_ms_per_spend"] > 0
    j = jeton.open(url)
    try:
        c = j.community("bench")
        with j.store.read() as conn:  # every charge, not a statement's first page of each
            charged, spent = conn.exec_driver_sql(
                "SELECT count(*) FILTER (WHERE service = 'bench.download'), "
                "count(*) FILTER (WHERE service IS NULL) FROM transfers "
                "WHERE community_id = 'bench' AND kind = 'spend'").one()
        assert charged >= found["charge_per_s"] * 0.5  # wrk's count, within its rounding
        assert spent >= found["spend_per_s"] * 0.5
        assert sum(1 for w in range(http_bench.CONNECTIONS)
                   if c.balance(f"{UPLOADER}-{w}").posted > 0) == http_bench.CONNECTIONS
    finally:
        j.close()


@pytest.mark.postgres
@pytest.mark.skipif(http_bench.WRK is None, reason="needs Debian's wrk (CI installs it)")
def test_wrk_on_postgresql_counts_the_cpu_of_postgresql_per_charge_too() -> None:
    with fresh_database() as url:
        found = http_bench.bench_http_wrk(url, seconds=1, rounds=1)
    assert found["charge_per_s"] > 0
    assert found["server_cpu_ms_per_charge"] > 0
    assert found["database_cpu_ms_per_charge"] > 0  # the server runs on this machine


def test_ping_answers_the_key_and_changes_nothing(live_server: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {live_server.api_key}"}
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        answer = http.post("/v1/ping", json={"message": "hello"}, headers=auth)
        assert answer.status_code == 200
        body = answer.json()
        assert body["community_id"] == live_server.community_id
        assert body["message"] == "hello"
        assert http.post("/v1/ping", json={}).status_code == 401
        too_long = http.post("/v1/ping", json={"message": "x" * 201}, headers=auth)
        assert too_long.status_code == 422


_WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8000
  2 threads and 16 connections
  4512 requests in 5.00s, 2.10MB read
{failed}Requests/sec:    902.40
Transfer/sec:    430.12KB
"""


@pytest.mark.parametrize(("failed", "said"), [
    ("  Non-2xx or 3xx responses: 3\n", "Non-2xx or 3xx responses: 3"),
    ("  Socket errors: connect 0, read 0, write 0, timeout 2\n",
     "Socket errors: connect 0, read 0, write 0, timeout 2"),
])
def test_a_wrk_run_with_failed_requests_says_which_on_its_first_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failed: str, said: str) -> None:
    """`jeton bench` shows an error's first line: it names what wrk counted as failed."""
    def fake_run(*_args: object, **_kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], 0, _WRK_OUTPUT.format(failed=failed), "")

    monkeypatch.setattr(http_bench.subprocess, "run", fake_run)
    with pytest.raises(RuntimeError) as failed_run:
        http_bench._wrk("http://127.0.0.1:1", "token", "charge", tmp_path / "s.lua", "r", 5)
    assert str(failed_run.value).splitlines()[0] == f"wrk saw failed requests (charge): {said}"
    monkeypatch.setattr(http_bench.subprocess, "run", lambda *_a, **_k: subprocess.CompletedProcess(
        [], 0, _WRK_OUTPUT.format(failed=""), ""))
    assert http_bench._wrk("http://127.0.0.1:1", "token", "charge", tmp_path / "s.lua", "r",
                           5) == pytest.approx(902.40)
