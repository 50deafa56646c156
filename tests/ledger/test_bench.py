"""`jeton bench` on PostgreSQL with a tiny n: writers spread over processes report back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import jeton
from conftest import postgres_url
from jeton.services.bench import charging as charging_bench
from jeton.services.bench import service as bench
from jeton.store.engine import Store

pytestmark = pytest.mark.postgres


def test_bench_postgres_returns_its_figures_beside_the_plain_sql_reference() -> None:
    # 50 writes per writer and round: enough for /proc to count the CPU of each run
    figures = bench.bench_postgres(postgres_url(), n=400, writers=4, processes=2, rounds=2)
    cpu = {f"postgres_{op}_{side}_cpu_us"  # one write's CPU: the writers' and the server's here
           for op in ("spend", "python_spend", "transfer", "raw_transfer", "hot_wallet_spend",
                      "hot_wallet_python_spend", "batch_spend")
           for side in ("client", "server")}
    assert set(figures) - {"postgres_spend_cpu_ratio"} == {
        "postgres_spend_per_s", "postgres_python_spend_per_s", "postgres_transfer_per_s",
        "postgres_raw_transfer_per_s", "postgres_p99_spend_ms", "postgres_p99_python_spend_ms",
        "postgres_p99_transfer_ms", "postgres_spend_ratio", "postgres_transfer_ratio",
        "postgres_spend_ratio_spread", "postgres_transfer_ratio_spread",
        "postgres_hot_wallet_spend_per_s", "postgres_hot_wallet_python_spend_per_s",
        "postgres_p99_hot_wallet_spend_ms", "postgres_batch_spend_per_s",
        "postgres_p99_batch_ms", "postgres_batch_spend_ratio",
        "postgres_batch_spend_ratio_spread", *cpu}
    assert all(v > 0 for k, v in figures.items() if not k.endswith("_spread") and k not in cpu)
    # a short run may take less CPU in PostgreSQL than /proc's clock tick counts
    assert all(figures[k] >= 0 for k in cpu)
    assert all(figures[f"postgres_{op}_client_cpu_us"] > 0 for op in ("spend", "raw_transfer"))
    assert all(0 <= figures[f"postgres_{k}_ratio_spread"] < figures[f"postgres_{k}_ratio"] * 2
               for k in ("spend", "transfer", "batch_spend"))
    assert figures["postgres_spend_ratio"] == pytest.approx(
        figures["postgres_spend_per_s"] / figures["postgres_raw_transfer_per_s"], rel=0.5)
    # the CPU ratio is the reference's CPU over the spend's
    assert figures["postgres_spend_cpu_ratio"] == pytest.approx(
        (figures["postgres_raw_transfer_client_cpu_us"]
         + figures["postgres_raw_transfer_server_cpu_us"])
        / (figures["postgres_spend_client_cpu_us"] + figures["postgres_spend_server_cpu_us"]))
    assert figures["postgres_spend_server_cpu_us"] > 0


def test_a_server_reading_counts_what_each_process_spent_since_the_last() -> None:
    # one process ended in between (not counted), one started (all of it), one went on
    assert bench.cpu_s_between({"1": 5.0, "2": 1.0}, {"1": 5.5, "3": 0.25}) == 0.75


def test_bench_sqlite_measures_each_figure_beside_its_raw_reference() -> None:
    figures = bench.bench_sqlite(n=40, rounds=2)
    for name in ("sqlite_spend", "sqlite_normal_spend"):
        assert figures[f"{name}_per_s"] > 0
        assert figures[f"{name}_ratio"] > 0
        assert figures[f"{name}_ratio_spread"] >= 0
    assert figures["sqlite_batch_ratio_spread"] >= 0
    assert figures["sqlite_raw_commit_per_s"] > 0
    assert figures["sqlite_normal_raw_commit_per_s"] > 0
    assert figures["sqlite_raw_batch_per_s"] > figures["sqlite_batch_spend_per_s"] > 0
    # Each counts every page its writes changed: a spend's rows touch a dozen B-trees (tables
    # and their indexes), the raw rows six tables and their keys' indexes.
    assert 10 <= figures["sqlite_wal_pages_per_spend"] < 40
    assert 6 <= figures["sqlite_raw_wal_pages_per_op"] < 20


def test_charge_bench_on_postgres_uses_the_same_writers() -> None:
    found = charging_bench.bench_charge_postgres(postgres_url(), n=32, writers=4, processes=2)
    cpu = {f"{kind}_{side}_cpu_us" for kind in ("spend", "charge")  # one write's, beside
           for side in ("client", "server")}  # the rates: the writers' and PostgreSQL's here
    assert set(found) == {"spend_per_s", "charge_per_s", "charge_to_spend_ratio",
                          "p99_spend_ms", "p99_charge_ms", "hot_charge_per_s",
                          "hot_to_charge_ratio", "p99_hot_charge_ms", *cpu}
    assert all(v > 0 for k, v in found.items() if k not in cpu)
    # /proc counts in clock ticks: a run this short may count none on PostgreSQL's side.
    assert all(found[k] >= 0 for k in cpu)
    assert found["charge_client_cpu_us"] > 0
    assert found["hot_to_charge_ratio"] == pytest.approx(
        found["hot_charge_per_s"] / found["charge_per_s"])


def test_the_charge_bench_gives_the_cpu_of_a_charge_and_of_the_spend_beside_it(
        tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bench.db'}", sqlite_synchronous="NORMAL")
    store.create_schema()
    found = charging_bench.bench_charge(jeton.Jeton(store), "bench", n=30)
    store.dispose()
    assert found["spend_cpu_us"] > 0
    # A charge prices the download and pays three legs (the buyer, the uploader, the app
    # store) where the spend beside it pays two.
    assert found["charge_cpu_us"] > found["spend_cpu_us"]


def test_an_http_ratio_bound_is_the_pings_cpu_over_that_and_a_charges() -> None:
    figures = {"http_server_cpu_ms_per_ping": 1.0, "sqlite_charge_cpu_us": 1000.0,
               "postgres_http_server_cpu_ms_per_ping": 0.5,
               "postgres_charge_client_cpu_us": 1000.0, "postgres_charge_server_cpu_us": 1500.0}
    assert bench.http_bounds(figures) == {"http_charge_ratio_bound": 0.5,
                                          "postgres_http_charge_ratio_bound": pytest.approx(
                                              0.5 / 3.0)}
    # Without a figure of either side (no wrk, no PostgreSQL, a run too short for /proc's
    # clock ticks) there is no bound to give.
    assert bench.http_bounds({"http_server_cpu_ms_per_ping": 1.0}) == {}
    assert bench.http_bounds({**figures, "postgres_charge_server_cpu_us": 0.0}) == {
        "http_charge_ratio_bound": 0.5}


@pytest.fixture
def bench_community() -> Iterator[jeton.Community]:
    """The bench's community on a fresh PostgreSQL schema: eight members with 100 each."""
    url = postgres_url()
    with bench.fresh_pg_schema(url, "jeton_test_bench") as schema:
        store = Store(url, pg_schema=schema)
        store.create_schema()
        yield bench._setup(store, members=8, credits=100)
        store.dispose()


def test_the_hot_wallet_spends_of_every_writer_come_from_one_wallet_by_each_path(
        bench_community: jeton.Community) -> None:
    c = bench_community
    for w in range(2):
        bench.hot_spend_op(c, w, 0)
    assert c.jeton.ledger.spend_in_sql is None  # the default path: the SQL function
    for w in range(2):
        bench.hot_python_spend_op(c, w, 0)
    assert c.jeton.ledger.spend_in_sql is False
    assert c.balance("m0").posted == 96
    assert {c.balance(f"m{i}").posted for i in range(1, 8)} == {100}


def test_a_batch_of_the_bench_spends_from_the_writers_own_members(
        bench_community: jeton.Community) -> None:
    c = bench_community
    bench.batch_spend_op(c, 1, 0)
    per_member = bench.PG_BATCH // 4
    assert [c.balance(f"m{i}").posted for i in range(8)] == [100] * 4 + [100 - per_member] * 4
    for i in range(1, 100 // per_member):  # m4..m7 spend down to nothing
        bench.batch_spend_op(c, 1, i)
    with pytest.raises(RuntimeError, match="refused"):
        bench.batch_spend_op(c, 1, 100)


def test_the_hot_uploader_charges_pay_one_uploader_from_every_writer() -> None:
    url = postgres_url()
    with bench.fresh_pg_schema(url, "jeton_test_bench") as schema:
        store = Store(url, pg_schema=schema)
        store.create_schema()
        c = charging_bench._community(jeton.Jeton(store), "bench")
        charging_bench.writer_members(c, 3, 1_000)
        for w in range(3):
            charging_bench._hot_charge_op(c, w, 0)
        royalty = c.balance(f"{charging_bench.UPLOADER}-0").posted
        assert royalty > 0
        assert royalty % 3 == 0  # three charges, one uploader, equal shares
        assert {c.balance(f"{charging_bench.UPLOADER}-{w}").posted for w in (1, 2)} == {0}
        store.dispose()


def test_the_server_cpu_is_read_only_for_a_server_on_this_machine() -> None:
    assert bench.server_cpu(postgres_url())  # the tests' server runs here
    assert bench.server_cpu("postgresql://jeton@db.example.com:5432/jeton") is None


def test_a_failing_writer_fails_the_run() -> None:
    # an empty schema: every writer fails at its first write, and the parent raises
    url = postgres_url()
    with bench.fresh_pg_schema(url, "jeton_test_bench") as schema, \
            pytest.raises(RuntimeError, match="a writer failed"):
        bench.run_writers(url, schema, "nowhere", bench.spend_op, per_writer=2, writers=2,
                          processes=2)


def test_a_ratio_is_the_mean_of_the_rounds_and_its_spread_their_range() -> None:
    # Round by round: 100/200, 300/400, 50/100 -> 0.5, 0.75, 0.5.
    found = bench.ratio_figures("x_ratio", [100, 300, 50], [200, 400, 100])
    assert found == {"x_ratio": pytest.approx(0.5833333), "x_ratio_spread": pytest.approx(0.25)}
    assert bench.ratio_figures("one", [3], [4]) == {"one": 0.75, "one_spread": 0.0}
