"""The HTTP figure of `jeton bench`: a real `jeton serve` charged by 16 clients, each with its
own buyer and uploader."""

from __future__ import annotations

from pathlib import Path

import jeton
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
