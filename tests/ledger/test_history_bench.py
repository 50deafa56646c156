"""`jeton bench`'s balance-at figure: a wallet of many postings, read at random instants."""

from __future__ import annotations

from pathlib import Path

from conftest import make_sqlite_store
from jeton.services.bench.history import bench_history


def test_history_bench_reads_a_wallet_of_the_postings_asked(tmp_path: Path) -> None:
    store = make_sqlite_store(tmp_path / "bench.db")
    try:
        found = bench_history(store, 3_000)
    finally:
        store.dispose()
    assert found["history_wallet_postings"] == 3_000
    assert found["balance_at_ms"] > 0
    assert found["balance_at_p99_ms"] >= found["balance_at_ms"] * 0.5
    assert found["balance_history_30d_ms"] > 0
