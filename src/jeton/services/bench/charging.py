"""How fast a catalog charge is next to a plain spend (figures for `jeton bench`).

`bench_charge(j, community_id, n)` sets up (once, idempotently) a community with a download
service priced per KiB with a class price for sellers and a split (30 % to the uploader, a
fixed fee to the app store), then times, one per transaction and in turns so both see the same
database, `n` plain spends and `n` full catalog charges of the same member. The charge adds the
member's classes and keys and the catalog version (one statement), the uploader's wallet and
the app-store posting; the issue's target is `charge_to_spend_ratio` ≥ 0.7.

`figures(options)` runs it on a fresh SQLite file and, with `postgres_url`, runs
`bench_charge_postgres` on a fresh PostgreSQL schema: there the same 16 writers as the ledger's
spend figure (`bench.run_writers`, threads over several processes) time plain spends and
catalog charges in alternate rounds, each writer with its own buyer and uploader, so the ratio
compares the two under the same concurrency; then the same charges with every royalty paid to
one uploader (`postgres_hot_uploader_charge_per_s`, and `postgres_hot_uploader_ratio` to the
charges with an uploader each): a popular creator's wallet is locked by each charge that pays
it, from the write's first round trip to its commit (decision 0096). It has the shape of
`services.bench.EXTRA` entries, so `jeton bench` can add it with
`bench.EXTRA.append(charging_bench.figures)`.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import jeton
from jeton.core.errors import NotFound
from jeton.services.bench import service as bench
from jeton.store.engine import Store

CATALOG = """
[services."bench.download"]
name = "Download"
kind = "per_unit"
credits = 2
unit_size = 1024
unit = "byte"
class_credits = { seller = 1 }
splits = [{ to = "party:uploader", share_bp = 3000 }, { to = "account:appstore", fee = 1 }]

# Gamification rules beside the price: a charge must cost the same with them (decision 0066).
[points."downloads"]
on = "charge"
service = "bench.download"
points = 1

[badges."bench-100"]
name = "A hundred downloads"
rule = { uses = 100, service = "bench.download" }
"""
BUYER, UPLOADER = "bench-buyer", "bench-uploader"
# A 10 KiB download: 10 credits at the sellers' price, 3 of them to the uploader and 1 to the
# app store, so every charge pays all three legs. A plain spend of the same credits beside it.
DOWNLOAD_BYTES = 10 * 1024
DOWNLOAD_CREDITS = 10


def _community(j: jeton.Jeton, community_id: str) -> jeton.Community:
    try:
        c = j.community(community_id)
    except NotFound:
        c = j.create_community("Charge bench", community_id)
    c.create_account("appstore")
    for member in (BUYER, UPLOADER):
        c.create_member(member)
    c.grant_class(BUYER, "seller")
    c.load_catalog(CATALOG, "toml", actor="bench")
    return c


def _p99_ms(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0] * 1000 if samples else 0.0
    return statistics.quantiles(samples, n=100)[98] * 1000


def bench_charge(j: jeton.Jeton, community_id: str, n: int = 2000) -> dict[str, float]:
    """Time `n` plain spends and `n` catalog charges (see the module docstring)."""
    c = _community(j, community_id)
    run = uuid.uuid4().hex[:8]
    c.grant(BUYER, 2 * DOWNLOAD_CREDITS * (n + 100), idempotency_key=f"bench-{run}-credits")
    context = {"uploader": UPLOADER}
    spends: list[float] = []
    charges: list[float] = []
    cpu = {"spend": 0.0, "charge": 0.0}  # this process's CPU seconds (no disk wait in them)
    for i in range(min(50, n)):  # warm the caches (catalog, system accounts, statements)
        c.charge(BUYER, "bench.download", DOWNLOAD_BYTES, context=context,
                 idempotency_key=f"bench-{run}-warm-{i}")
        c.spend(BUYER, DOWNLOAD_CREDITS, idempotency_key=f"bench-{run}-warm-spend-{i}",
                service="bench.download")
    for i in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        c.spend(BUYER, DOWNLOAD_CREDITS, idempotency_key=f"bench-{run}-spend-{i}",
                service="bench.download")
        t1, c1 = time.perf_counter(), time.process_time()
        c.charge(BUYER, "bench.download", DOWNLOAD_BYTES, context=context,
                 idempotency_key=f"bench-{run}-charge-{i}")
        t2, c2 = time.perf_counter(), time.process_time()
        spends.append(t1 - t0)
        charges.append(t2 - t1)
        cpu["spend"] += c1 - c0
        cpu["charge"] += c2 - c1
    spend_per_s = n / sum(spends)
    charge_per_s = n / sum(charges)
    return {"spend_per_s": spend_per_s, "charge_per_s": charge_per_s,
            "charge_to_spend_ratio": charge_per_s / spend_per_s,
            "p99_spend_ms": _p99_ms(spends), "p99_charge_ms": _p99_ms(charges),
            "spend_cpu_us": cpu["spend"] * 1e6 / n, "charge_cpu_us": cpu["charge"] * 1e6 / n}


# The plain spends timed here beside the charges are named apart from the ledger's own spend
# figures (timed on a set-up of their own) so neither overwrites the other.
_KEYS = {"spend_per_s": "paired_spend_per_s", "charge_per_s": "charge_per_s",
         "charge_to_spend_ratio": "charge_to_spend_ratio", "p99_spend_ms": "paired_p99_spend_ms",
         "p99_charge_ms": "p99_charge_ms", "hot_charge_per_s": "hot_uploader_charge_per_s",
         "hot_to_charge_ratio": "hot_uploader_ratio",
         "p99_hot_charge_ms": "p99_hot_uploader_charge_ms",
         "spend_cpu_us": "paired_spend_cpu_us", "charge_cpu_us": "charge_cpu_us",
         "spend_client_cpu_us": "paired_spend_client_cpu_us",
         "spend_server_cpu_us": "paired_spend_server_cpu_us",
         "charge_client_cpu_us": "charge_client_cpu_us",
         "charge_server_cpu_us": "charge_server_cpu_us"}


def _spend_op(c: jeton.Community, w: int, i: int) -> None:
    c.spend(f"{BUYER}-{w}", DOWNLOAD_CREDITS, idempotency_key=f"spend-{w}-{i}",
            service="bench.download")


def _charge_op(c: jeton.Community, w: int, i: int) -> None:
    c.charge(f"{BUYER}-{w}", "bench.download", DOWNLOAD_BYTES,
             context={"uploader": f"{UPLOADER}-{w}"}, idempotency_key=f"charge-{w}-{i}")


def _hot_charge_op(c: jeton.Community, w: int, i: int) -> None:
    # Every writer's buyer pays the first writer's uploader: one wallet credited by all.
    c.charge(f"{BUYER}-{w}", "bench.download", DOWNLOAD_BYTES,
             context={"uploader": f"{UPLOADER}-0"}, idempotency_key=f"hot-{w}-{i}")


def writer_members(c: jeton.Community, writers: int, credits: int) -> None:
    """A buyer (a seller, with `credits`) and an uploader for each writer `w`: `{BUYER}-{w}`,
    `{UPLOADER}-{w}`. Writers then contend only where charges really meet (the revenue and
    app-store accounts), not on one buyer's wallet."""
    for w in range(writers):
        buyer, uploader = f"{BUYER}-{w}", f"{UPLOADER}-{w}"
        c.create_member(buyer)
        c.create_member(uploader)
        c.grant_class(buyer, "seller")
        c.grant(buyer, credits, idempotency_key=f"bench-credits-{w}")


def bench_charge_postgres(url: str, n: int = 2000, writers: int = bench.PG_WRITERS,
                          processes: int | None = None, rounds: int = 2) -> dict[str, float]:
    """`n` plain spends and `n` catalog charges from `writers` concurrent writers on a fresh
    schema, in `rounds` alternate rounds of each (see the module docstring); and `n` charges
    whose royalty all goes to one uploader (`hot_charge_per_s`), the popular creator every
    writer's buyer pays at once."""
    per_writer = max(1, n // (writers * rounds))
    ops = {"spend": _spend_op, "charge": _charge_op, "hot_charge": _hot_charge_op}
    with bench.fresh_pg_schema(url, "jeton_charge_bench") as schema:
        store = Store(url, pg_schema=schema)
        store.create_schema()
        c = _community(jeton.Jeton(store), "bench")
        writer_members(c, writers, 2 * len(ops) * DOWNLOAD_CREDITS * (n + 100))
        store.dispose()
        elapsed = dict.fromkeys(ops, 0.0)
        latencies: dict[str, list[float]] = {kind: [] for kind in ops}
        # One write's CPU beside the rates, as the ledger's writes have it (decision 0096).
        cpu_us: dict[str, dict[str, list[float]]] = {
            kind: {"client": [], "server": []} for kind in ("spend", "charge")}
        for r in range(rounds):
            for kind, op in ops.items():
                run = bench.run_writers(
                    url, schema, "bench", op, per_writer=per_writer, writers=writers,
                    processes=processes, first=r * (bench.WARMUP + per_writer))
                elapsed[kind] += run.elapsed
                latencies[kind].extend(run.latencies)
                if kind in cpu_us:
                    bench.note_cpu(cpu_us[kind], run, per_writer * writers)
    done = per_writer * writers * rounds
    per_s = {kind: done / took for kind, took in elapsed.items()}
    return {"spend_per_s": per_s["spend"], "charge_per_s": per_s["charge"],
            "charge_to_spend_ratio": per_s["charge"] / per_s["spend"],
            "p99_spend_ms": _p99_ms(latencies["spend"]),
            "p99_charge_ms": _p99_ms(latencies["charge"]),
            "hot_charge_per_s": per_s["hot_charge"],
            "hot_to_charge_ratio": per_s["hot_charge"] / per_s["charge"],
            "p99_hot_charge_ms": _p99_ms(latencies["hot_charge"]),
            **bench.cpu_figures(cpu_us)}


def figures(options: dict[str, Any]) -> dict[str, float]:
    """`bench_charge` on a fresh SQLite file, and `bench_charge_postgres` when a URL is given."""
    n = int(options.get("n") or 2000)
    progress = options.get("progress")
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jeton-charge-bench-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}", sqlite_synchronous="FULL")
        store.create_schema()
        if progress:
            progress(f"sqlite: {n} catalog charges beside {n} plain spends")
        found = bench_charge(jeton.Jeton(store), "bench", n)
        store.dispose()
    out.update({f"sqlite_{_KEYS[k]}": v for k, v in found.items()})
    url = options.get("postgres_url")
    if url:
        if progress:
            progress(f"postgres: {n} catalog charges and {n} plain spends, "
                     f"{bench.PG_WRITERS} writers")
        found = bench_charge_postgres(url, n)
        out.update({f"postgres_{_KEYS[k]}": v for k, v in found.items()})
    return out
