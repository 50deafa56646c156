"""How fast a member's balance at an instant is read on a wallet of many postings (figures for
`jeton bench`).

`bench_history(store, postings)` gives one member a wallet of `postings` postings made by the
ledger's own batch spends, the community's clock moving a minute between batches so that the
postings spread over weeks, then times `balance_at` at random instants across that span and
a 30-point daily `balance_history`. Each read bisects the wallet's postings by version
(services/ledger/history.py), so it should stay near constant as the wallet grows: compare
`*_balance_at_ms` for different `--history-postings`.

`figures(options)` runs it on a fresh SQLite file and, with `postgres_url`, on a fresh
PostgreSQL schema; it has the shape of `services.bench.EXTRA` entries.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jeton
from jeton.core.clock import ManualClock
from jeton.services.bench import service as bench
from jeton.services.ledger.results import SpendRequest
from jeton.store.engine import Store

POSTINGS_DEFAULT = 200_000
READS = 200
_START = datetime(2026, 1, 1, tzinfo=UTC)
_BATCH = 1_000


def bench_history(store: Store, postings: int, progress: bench.Progress | None = None,
                  ) -> dict[str, float]:
    clock = ManualClock(_START)
    j = jeton.Jeton(store, clock=clock)
    c = j.create_community("History bench", community_id="history")
    c.create_member("busy")
    c.grant("busy", postings * 2, idempotency_key="seed")
    made, batch = 1, 0
    while made < postings:
        size = min(_BATCH, postings - made)
        clock.advance(minutes=1)
        c.spend_batch([SpendRequest(member="busy", amount=1, idempotency_key=f"h{batch}-{i}")
                       for i in range(size)])
        made += size
        batch += 1
        if progress and batch % 50 == 0:
            progress(f"{store.dialect}: a wallet of {made:,} postings")
    end = clock.now()
    rng = random.Random(63)
    span_s = int((end - _START).total_seconds())
    lat: list[float] = []
    for _ in range(READS):
        at = _START + timedelta(seconds=rng.randint(0, span_s))
        t0 = time.perf_counter()
        c.balance_at("busy", at)
        lat.append(time.perf_counter() - t0)
    series: list[float] = []
    for _ in range(10):
        since = _START + timedelta(seconds=rng.randint(0, span_s))
        t0 = time.perf_counter()
        c.balance_history("busy", since, since + timedelta(days=30))
        series.append(time.perf_counter() - t0)
    return {"balance_at_ms": statistics.fmean(lat) * 1000,
            "balance_at_p99_ms": statistics.quantiles(lat, n=100)[98] * 1000,
            "balance_history_30d_ms": statistics.fmean(series) * 1000,
            "history_wallet_postings": float(made)}


def figures(options: dict[str, Any]) -> dict[str, float]:
    """`bench_history` on a fresh SQLite file, and on PostgreSQL when a URL is given."""
    postings = int(options.get("history_postings") or POSTINGS_DEFAULT)
    progress = options.get("progress")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jeton-history-bench-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}", sqlite_synchronous="NORMAL")
        store.create_schema()
        found = bench_history(store, postings, progress)
        store.dispose()
    out.update({f"sqlite_{k}": v for k, v in found.items()})
    url = options.get("postgres_url")
    if url:
        with bench.fresh_pg_schema(url, "jeton_bench_history") as schema:
            store = Store(url, pg_schema=schema)
            try:
                store.create_schema()
                found = bench_history(store, postings, progress)
            finally:
                store.dispose()
        out.update({f"postgres_{k}": v for k, v in found.items()})
    return out
