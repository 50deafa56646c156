"""HTTP figures for `jeton bench`: catalog charges through the API, beside the API's floor.

With Debian's `wrk` installed, `wrk` drives the server (its own process, in C, so the load
generator does not take the server's CPU): 16 connections on two threads, for a few seconds
each after an untimed warm-up of each, alternating `POST /v1/ping` (authenticated, a JSON
body, nothing else: the floor of an API call, `http_bare_per_s`), `POST /v1/charges`
(`http_charge_per_s`) and `POST /v1/spends` of one credit (`http_spend_per_s`); the ratio of a
charge's or a spend's rate to the ping's is the figure to compare across runs, with the
server's CPU per request read from /proc. Without `wrk` the Python client drives the charges
as before, and `http_driver_wrk` says 0.

A real `jeton serve` runs in its own process on 127.0.0.1 (so the server does not share the
benchmark's interpreter lock) over a fresh database: a temporary SQLite file, and with a
PostgreSQL URL a temporary database made and dropped for the run. Sixteen threads, each with
its own `jeton.Client` (one keep-alive connection each) and its own buyer and uploader (as in
the PostgreSQL charge figure: connections meet on the revenue and app-store accounts, not on
one buyer's wallet), send the charges.
"""

from __future__ import annotations

import os
import shutil
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
from jeton.config import default_server_processes
from jeton.services.access.api_keys import ApiKeys
from jeton.services.bench.charging import (
    BUYER,
    DOWNLOAD_BYTES,
    DOWNLOAD_CREDITS,
    UPLOADER,
    _community,
    writer_members,
)
from jeton.services.bench.service import cpu_s_between, cpu_s_of, ratio_figures, server_cpu
from jeton.store.engine import Store, normalize_url

CONNECTIONS = 16
WRK = shutil.which("wrk")
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


def start_server(url: str, workers: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`jeton serve` on `url` in a process of its own, on a free port of 127.0.0.1; returns the
    process and the base URL once `/healthz` answers. `workers` None: `serve`'s default (one
    process per core on PostgreSQL, one on SQLite)."""
    port = _free_port()
    # The per-key rate limit is lifted: the figure is the server's throughput, not the limit's.
    env = {**os.environ, "JETON_DATABASE_URL": url, "JETON_SQLITE_SYNCHRONOUS": "FULL",
           "JETON_API_RATE_PER_S": "1000000"}
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and CLI, fixed arguments)
        [sys.executable, "-m", "jeton.cli", "serve", "--port", str(port), "--no-jobs",
         *(["--workers", str(workers)] if workers is not None else [])],
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


WRK_SECONDS = 5
# A request unanswered this long fails the run (`wrk`'s own default is 2 s). On a busy shared
# machine a rare answer took over 2 s (decision 0102); a hung server still fails the bench.
WRK_TIMEOUT_S = 10
WRK_WARM_UP_S = 2  # untimed, of each kind, before the first round
WRK_ROUNDS = 2
# What each round times, in this order: the floor, then the two writes members make in numbers.
KINDS = ("ping", "charge", "spend")
# A request per call of `request()`: each thread numbers its own and takes its buyers in turn
# (8 per thread, so two threads use 16, each with its own uploader); keys never repeat.
_WRK_SCRIPT = """
local n = 0
local seq = 0
function setup(thread) thread:set("tid", seq); seq = seq + 1 end
function init(args) run = args[1]; kind = args[2]; token = args[3] end
request = function()
  n = n + 1
  local hdrs = {["Authorization"] = "Bearer " .. token,
                ["Content-Type"] = "application/json"}
  if kind == "ping" then
    return wrk.format("POST", "/v1/ping", hdrs, '{"message":"bench"}')
  end
  local who = tid * 8 + n % 8
  hdrs["Idempotency-Key"] = run .. "-" .. tid .. "-" .. n
  if kind == "spend" then
    return wrk.format("POST", "/v1/spends", hdrs,
                      string.format('{"member":"%s-%d","amount":1}', "BUYER", who))
  end
  local body = string.format('{"member":"%s-%d","service":"bench.download",' ..
    '"quantity":%d,"context":{"uploader":"%s-%d"}}', "BUYER", who, BYTES, "UPLOADER", who)
  return wrk.format("POST", "/v1/charges", hdrs, body)
end
"""


def _wrk_script() -> str:
    return (_WRK_SCRIPT.replace('"BUYER"', f'"{BUYER}"').replace('"UPLOADER"', f'"{UPLOADER}"')
            .replace("BYTES", str(DOWNLOAD_BYTES)))


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds so far (Linux /proc) of a server: its process and, with
    several workers, the processes it started; 0 where unreadable."""
    server = str(pid)
    return cpu_s_of(lambda found, _name, fields: found == server or fields[1] == server)


def failures(wrk_output: str) -> str:
    """What `wrk` says failed, on one line ('' when nothing did): answers other than 2xx and
    socket errors (refused connections, reads, writes, requests past the timeout)."""
    return "; ".join(line.strip() for line in wrk_output.splitlines()
                     if line.strip().startswith(("Non-2xx", "Socket errors")))


def _wrk(base: str, token: str, kind: str, script: Path, run: str, seconds: int,
         *, warm_up: bool = False) -> float:
    """Requests per second of one `wrk` run; raises if any answer was not a success, or (but
    to `warm_up`) if no request was answered within the run."""
    done = subprocess.run(  # noqa: S603 (fixed arguments, our own script)
        [WRK or "wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", f"--timeout={WRK_TIMEOUT_S}s",
         "-s", str(script), base,
         "--", run, kind, token], capture_output=True, text=True, check=True,
        timeout=seconds + 60)
    out = done.stdout
    failed = failures(out)
    if failed:  # the first line says what failed: an error message often shows only that
        raise RuntimeError(f"wrk saw failed requests ({kind}): {failed}\n{out}")
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            rate = float(line.split()[1])
            if rate <= 0 and not warm_up:
                raise RuntimeError(f"the server answered no {kind} request in {seconds} s:\n{out}")
            return rate
    raise RuntimeError(f"wrk printed no rate:\n{out}")


def bench_http_wrk(url: str, seconds: int = WRK_SECONDS,
                   rounds: int = WRK_ROUNDS) -> dict[str, float]:
    """`http_bare_per_s`, `http_charge_per_s` and `http_spend_per_s` in alternating `wrk`
    runs on one server."""
    token = prepare(url, 200_000)
    proc, base = start_server(url)
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpu_ms: dict[str, list[float]] = {kind: [] for kind in KINDS}  # the server's, a request
    database_cpu_ms: list[float] = []  # PostgreSQL's a charge, when it runs on this machine
    try:
        with tempfile.TemporaryDirectory(prefix="jeton-wrk-") as tmp:
            script = Path(tmp) / "bench.lua"
            script.write_text(_wrk_script())
            for kind in KINDS:  # untimed: the workers' first requests (their
                # connections, prepared statements, first imports) are no part of the figures
                _wrk(base, token, kind, script, f"warm{uuid.uuid4().hex[:8]}", WRK_WARM_UP_S,
                     warm_up=True)
            for r in range(rounds):
                for kind in KINDS:
                    before, database_before = _cpu_s(proc.pid), server_cpu(url)
                    rate = _wrk(base, token, kind, script, f"w{uuid.uuid4().hex[:8]}{r}",
                                seconds)
                    rates[kind].append(rate)
                    if rate:
                        cpu_ms[kind].append((_cpu_s(proc.pid) - before) * 1000
                                            / (rate * seconds))
                    if kind == "charge" and rate:
                        database_after = server_cpu(url)
                        if database_before is not None and database_after is not None:
                            database_cpu_ms.append(
                                cpu_s_between(database_before, database_after) * 1000
                                / (rate * seconds))
    finally:
        stop_server(proc)
    return {"bare_per_s": statistics.fmean(rates["ping"]),
            "charge_per_s": statistics.fmean(rates["charge"]),
            "spend_per_s": statistics.fmean(rates["spend"]),
            **ratio_figures("ratio", rates["charge"], rates["ping"]),
            **ratio_figures("spend_ratio", rates["spend"], rates["ping"]),
            **{f"server_cpu_ms_per_{kind}": statistics.fmean(spent) if spent else 0.0
               for kind, spent in cpu_ms.items()},
            **({"database_cpu_ms_per_charge": statistics.fmean(database_cpu_ms)}
               if database_cpu_ms else {})}


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


def _measure(url: str, n: int, prefix: str, progress: Any,
             rounds: int = WRK_ROUNDS) -> dict[str, float]:
    if WRK:
        if progress:
            progress(f"http on {prefix or 'sqlite'}: wrk, {CONNECTIONS} connections, "
                     f"{rounds} rounds of pings, charges and spends")
        found = bench_http_wrk(url, rounds=rounds)
        return {f"{prefix}http_server_processes": float(default_server_processes(
                    "postgresql" if prefix else "sqlite")),
                f"{prefix}http_bare_per_s": found["bare_per_s"],
                f"{prefix}http_charge_per_s": found["charge_per_s"],
                f"{prefix}http_charge_ratio": found["ratio"],
                f"{prefix}http_charge_ratio_spread": found["ratio_spread"],
                f"{prefix}http_server_cpu_ms_per_charge": found["server_cpu_ms_per_charge"],
                f"{prefix}http_server_cpu_ms_per_ping": found["server_cpu_ms_per_ping"],
                f"{prefix}http_spend_per_s": found["spend_per_s"],
                f"{prefix}http_spend_ratio": found["spend_ratio"],
                f"{prefix}http_spend_ratio_spread": found["spend_ratio_spread"],
                f"{prefix}http_server_cpu_ms_per_spend": found["server_cpu_ms_per_spend"],
                **({f"{prefix}http_database_cpu_ms_per_charge":
                    found["database_cpu_ms_per_charge"]}
                   if "database_cpu_ms_per_charge" in found else {})}
    if progress:
        progress(f"http on {prefix or 'sqlite'}: wrk is not installed (Debian's package "
                 f"`wrk`): {n} charges from {CONNECTIONS} Python clients instead")
    found = bench_http(url, n)
    return {f"{prefix}http_charge_per_s": found["charge_per_s"],
            f"{prefix}http_p99_charge_ms": found["p99_charge_ms"]}


def figures(options: dict[str, Any]) -> dict[str, float]:
    n = int(options.get("n") or 2000)
    progress = options.get("progress")
    rounds = int(options.get("rounds") or WRK_ROUNDS)
    out: dict[str, float] = {"http_driver_wrk": 1.0 if WRK else 0.0}
    with tempfile.TemporaryDirectory(prefix="jeton-http-bench-") as tmp:
        out.update(_measure(f"sqlite:///{Path(tmp) / 'bench.db'}", n, "", progress, rounds))
    url = options.get("postgres_url")
    if url:
        name = f"jeton_http_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            bench_url = sa.make_url(normalize_url(url)).set(database=name).render_as_string(
                hide_password=False)
            out.update(_measure(bench_url.replace("+psycopg", ""), n, "postgres_", progress,
                                rounds))
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.dispose()
    return out
