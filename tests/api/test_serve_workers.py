"""`jeton serve --workers 2`: two server processes share one port and one PostgreSQL database
(SQLite refuses several: tests/ledger/test_cli_first_hour.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import jeton
from conftest import fresh_database
from jeton.services.bench import http as http_bench
from jeton.services.bench.charging import BUYER, DOWNLOAD_BYTES, UPLOADER
from jeton.services.ledger.verify import verify


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.postgres
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="counts the worker processes in /proc")
def test_two_worker_processes_serve_charges_into_one_ledger() -> None:
    with fresh_database() as url:
        _serve_with_two_workers(url)


def _serve_with_two_workers(url: str) -> None:
    token = http_bench.prepare(url, 64)
    proc, base = http_bench.start_server(url, workers=2)
    try:
        assert len(_children(proc.pid)) >= 2  # uvicorn's supervisor and its two workers
        errors: list[BaseException] = []

        def client(w: int) -> None:
            try:
                with jeton.Client(base, token) as c:
                    for i in range(4):
                        c.charge(f"{BUYER}-{w}", "bench.download", DOWNLOAD_BYTES,
                                 context={"uploader": f"{UPLOADER}-{w}"},
                                 idempotency_key=f"workers-{w}-{i}")
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
    finally:
        http_bench.stop_server(proc)
    with jeton.open(url) as j:
        c = j.community("bench")
        assert [len(c.statement(f"{BUYER}-{w}").data) for w in range(4)] == [5, 5, 5, 5]
        assert verify(j.store) == []


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="sets the CPU affinity")
def test_serve_uses_the_cores_it_may_run_on_with_postgresql_and_one_process_with_sqlite(
        ) -> None:
    from jeton.config import default_server_processes

    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})  # as under `taskset -c 0`
        assert default_server_processes("postgresql") == 1
        assert default_server_processes("sqlite") == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert default_server_processes("postgresql") == min(len(allowed), 64)
    assert default_server_processes("sqlite") == 1
