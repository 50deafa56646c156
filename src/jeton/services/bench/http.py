"""HTTP figures for `jeton bench`: catalog charges through the API with the Python client.

A real `jeton serve` runs in its own process on 127.0.0.1 (so the server does not share the
benchmark's interpreter lock) over a fresh database: a temporary SQLite file, and with a
PostgreSQL URL a temporary database made and dropped for the run. Sixteen threads, each with
its own `jeton.Client` (one keep-alive connection each) and its own buyer and uploader (as in
the PostgreSQL charge figure: connections meet on the revenue and app-store accounts, not on
one buyer's wallet), send the charges.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

import jeton
from jeton.services.access.api_keys import ApiKeys
from jeton.services.bench.charging import (
    BUYER,
    DOWNLOAD_BYTES,
    DOWNLOAD_CREDITS,
    UPLOADER,
    _community,
    writer_members,
)
from jeton.store.engine import Store, normalize_url

CONNECTIONS = 16
SERVER_START_S_MAX = 60
SERVER_STOP_S_MAX = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str, n: int) -> str:
    """The community, its catalog, a buyer and an uploader for each connection with credits for
    about `n` charges in all, and an API key; returns the key's token."""
    store = Store(url)
    store.create_schema()
    j = jeton.Jeton(store)
    c = _community(j, "bench")
    writer_members(c, CONNECTIONS, DOWNLOAD_CREDITS * (n // CONNECTIONS + 100))
    token = ApiKeys(store, j.clock).create("bench", name="bench", scopes=["admin"],
                                           created_by="bench").token
    j.close()
    assert token is not None
    return token


def start_server(url: str, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """`jeton serve` on `url` in a process of its own, on a free port of 127.0.0.1; returns the
    process and the base URL once `/healthz` answers."""
    port = _free_port()
    # The per-key rate limit is lifted: the figure is the server's throughput, not the limit's.
    env = {**os.environ, "JETON_DATABASE_URL": url, "JETON_SQLITE_SYNCHRONOUS": "FULL",
           "JETON_API_RATE_PER_S": "1000000"}
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and CLI, fixed arguments)
        [sys.executable, "-m", "jeton.cli", "serve", "--port", str(port), "--no-jobs",
         "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S_MAX
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the benchmark server did not start")


def bench_http(url: str, n: int) -> dict[str, float]:
    token = prepare(url, n)
    proc, base = start_server(url)
    try:
        per = max(1, n // CONNECTIONS)
        latencies: list[float] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        run = uuid.uuid4().hex[:8]

        def worker(w: int) -> None:
            mine: list[float] = []
            try:
                with jeton.Client(base, token) as client:
                    for i in range(per):
                        t0 = time.perf_counter()
                        client.charge(f"{BUYER}-{w}", "bench.download", DOWNLOAD_BYTES,
                                      context={"uploader": f"{UPLOADER}-{w}"},
                                      idempotency_key=f"h{run}-{w}-{i}")
                        mine.append(time.perf_counter() - t0)
            except BaseException as exc:  # reported after the run
                errors.append(exc)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(CONNECTIONS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise RuntimeError(f"an HTTP client failed: {errors[0]!r}")
        p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 1 else 0.0
        return {"charge_per_s": per * CONNECTIONS / elapsed, "p99_charge_ms": p99}
    finally:
        stop_server(proc)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server from `start_server`: SIGTERM, which uvicorn's supervisor passes on to its
    workers; SIGKILL only if it has not ended after `SERVER_STOP_S_MAX`."""
    proc.terminate()
    try:
        proc.wait(timeout=SERVER_STOP_S_MAX)
    except subprocess.TimeoutExpired:
        proc.kill()


def figures(options: dict[str, Any]) -> dict[str, float]:
    n = int(options.get("n") or 2000)
    progress = options.get("progress")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jeton-http-bench-") as tmp:
        if progress:
            progress(f"http on sqlite: {n} charges from {CONNECTIONS} clients")
        found = bench_http(f"sqlite:///{Path(tmp) / 'bench.db'}", n)
    out["http_charge_per_s"] = found["charge_per_s"]
    out["http_p99_charge_ms"] = found["p99_charge_ms"]
    url = options.get("postgres_url")
    if url:
        name = f"jeton_http_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            bench_url = sa.make_url(normalize_url(url)).set(database=name).render_as_string(
                hide_password=False)
            if progress:
                progress(f"http on postgres: {n} charges from {CONNECTIONS} clients")
            found = bench_http(bench_url.replace("+psycopg", ""), n)
            out["postgres_http_charge_per_s"] = found["charge_per_s"]
            out["postgres_http_p99_charge_ms"] = found["p99_charge_ms"]
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.dispose()
    return out
