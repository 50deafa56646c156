"""`jeton bench`: how fast the ledger is, measured on fresh databases in one run.

A benchmark, never a timed test: it prints figures and asserts nothing. Every figure comes
from a fresh database (a temporary SQLite file, or a new schema in the PostgreSQL database
given), so runs are comparable.

- `sqlite_spend_per_s`: one spend per transaction, in-process, synchronous=FULL (durable);
- `sqlite_batch_spend_per_s`: spends submitted in batches of 1,000;
- `postgres_spend_per_s`: 16 writers at once, every spend crediting the same revenue account;
- `*_p99_spend_ms`: the 99th percentile latency of one spend (one batch for the batch figure);
- with `preload_postings`, the SQLite spend figure is measured again on a journal that already
  holds that many postings, to show a spend does not slow down as the journal grows.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import jeton
from jeton.services.results import SpendRequest
from jeton.store.engine import Store, normalize_url

Progress = Callable[[str], None]
MEMBERS = 64


def _p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0] * 1000 if samples else 0.0
    return statistics.quantiles(samples, n=100)[98] * 1000


def _setup(store: Store, members: int = MEMBERS, credits: int = 10**12) -> jeton.Community:
    j = jeton.Jeton(store)
    c = j.create_community("Bench", community_id="bench")
    c.create_account("appstore")
    items = []
    for i in range(members):
        c.create_member(f"m{i}")
        items.append(i)
    for i in items:
        c.grant(f"m{i}", credits, idempotency_key=f"seed-{i}", paid=True, cost_minor=credits)
    return c


def _spend_loop(c: jeton.Community, n: int, prefix: str, member_of: Callable[[int], str],
                ) -> tuple[float, list[float]]:
    lat: list[float] = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        c.spend(member_of(i), 1, idempotency_key=f"{prefix}{i}", service="chat.message")
        lat.append(time.perf_counter() - t0)
    return time.perf_counter() - start, lat


def bench_sqlite(n: int = 5000, batches: int = 20, preload_postings: int = 0,
                 progress: Progress | None = None) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jeton-bench-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}", sqlite_synchronous="FULL")
        store.create_schema()
        c = _setup(store)
        if progress:
            progress(f"sqlite: {n} spends, one per transaction")
        _spend_loop(c, 200, "warm", lambda i: f"m{i % MEMBERS}")
        elapsed, lat = _spend_loop(c, n, "s", lambda i: f"m{i % MEMBERS}")
        figures["sqlite_spend_per_s"] = n / elapsed
        figures["sqlite_p99_spend_ms"] = _p99(lat)
        if progress:
            progress(f"sqlite: {batches} batches of 1,000 spends")
        batch_lat: list[float] = []
        start = time.perf_counter()
        for b in range(batches):
            items = [SpendRequest(member=f"m{i % MEMBERS}", amount=1,
                                  idempotency_key=f"b{b}-{i}", service="chat.message")
                     for i in range(1000)]
            t0 = time.perf_counter()
            results = c.spend_batch(items)
            batch_lat.append(time.perf_counter() - t0)
            bad = [r for r in results if r.status != "ok"]
            if bad:
                raise RuntimeError(f"bench batch had failures: {bad[:3]}")
        figures["sqlite_batch_spend_per_s"] = batches * 1000 / (time.perf_counter() - start)
        figures["sqlite_batch_p99_batch_ms"] = _p99(batch_lat)
        if preload_postings:
            if progress:
                progress(f"sqlite: growing the journal to {preload_postings:,} postings")
            _preload(c, preload_postings, progress)
            elapsed, lat = _spend_loop(c, n, "after", lambda i: f"m{i % MEMBERS}")
            figures["sqlite_spend_per_s_large_journal"] = n / elapsed
            figures["sqlite_p99_spend_ms_large_journal"] = _p99(lat)
            figures["journal_postings"] = float(_postings(store))
        store.dispose()
    return figures


def _preload(c: jeton.Community, postings: int, progress: Progress | None) -> None:
    per_batch = 1000
    done = 0
    b = 0
    while done < postings:
        items = [SpendRequest(member=f"m{i % MEMBERS}", amount=1, idempotency_key=f"pre{b}-{i}")
                 for i in range(per_batch)]
        c.spend_batch(items)
        done += per_batch * 2  # a spend writes two postings
        b += 1
        if progress and b % 50 == 0:
            progress(f"  {done:,} postings")


def _postings(store: Store) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM postings").scalar_one())


def bench_postgres(url: str, n: int = 8000, writers: int = 16,
                   progress: Progress | None = None) -> dict[str, float]:
    schema = f"jeton_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(normalize_url(url))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        store = Store(url, pg_schema=schema, pool_size=writers + 4)
        store.create_schema()
        c = _setup(store, members=writers * 4)
        if progress:
            progress(f"postgres: {n} spends from {writers} writers, one revenue account")
        per = n // writers
        lat: list[float] = []
        lock = threading.Lock()
        errors: list[BaseException] = []

        def writer(w: int) -> None:
            mine: list[float] = []
            try:
                # Each writer pays from its own members; every spend credits the one revenue
                # account, the row that must not become a serialization point.
                _, mine = _spend_loop(c, per, f"w{w}-", lambda i: f"m{w * 4 + i % 4}")
            except BaseException as exc:  # reported after the run
                errors.append(exc)
            with lock:
                lat.extend(mine)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise RuntimeError(f"a writer failed: {errors[0]!r}")
        store.dispose()
        return {"postgres_spend_per_s": per * writers / elapsed,
                "postgres_p99_spend_ms": _p99(lat)}
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


EXTRA: list[Callable[[dict[str, Any]], dict[str, float]]] = []
"""More figures from other areas (charging, HTTP): each gets the options and returns figures."""


def run(*, postgres_url: str | None = None, n: int = 5000, preload_postings: int = 0,
        progress: Progress | None = None) -> dict[str, float]:
    figures = {"cpu_count": float(os.cpu_count() or 0)}
    figures.update(bench_sqlite(n=n, preload_postings=preload_postings, progress=progress))
    if postgres_url:
        figures.update(bench_postgres(postgres_url, n=max(n, 4000), progress=progress))
    options = {"postgres_url": postgres_url, "n": n, "progress": progress}
    for extra in EXTRA:
        figures.update(extra(options))
    return figures
