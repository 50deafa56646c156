"""`jeton bench`: how fast the ledger is, measured on fresh databases in one run.

A benchmark, never a timed test: it prints figures and asserts nothing. Every figure comes
from a fresh database (a temporary SQLite file, or a new schema in the PostgreSQL database
given), so runs are comparable.

- `sqlite_spend_per_s`: one spend per transaction, in-process, synchronous=FULL (durable);
- `sqlite_spend_vs_raw_rows_ratio` (and `_normal_`): the spend beside raw `sqlite3` writing a
  spend's rows one per transaction (`references.py`), and `sqlite_raw_rows_vs_commit_ratio`
  those raw rows beside the one-row commit: how near that floor a ledger could come at all;
- `sqlite_batch_spend_per_s`: the same `n` spends again, in batches of up to 1,000;
- `sqlite_wal_pages_per_spend`: the pages one spend writes into SQLite's WAL (NORMAL), beside
  `sqlite_raw_wal_pages_per_op`, the raw rows' (`references.wal_pages_per_op`): a count, not
  a time, so it compares runs of any machine;
- `postgres_spend_per_s`: 16 writers at once, every spend crediting the same revenue account,
  each spend the store's default (one call of the SQL function `jeton_spend`);
  `postgres_python_spend_per_s` the same spends by the Python write (decisions 0078 and 0095
  compare the two paths); `postgres_hot_wallet_spend_per_s` and
  `postgres_hot_wallet_python_spend_per_s` the two paths with every writer spending from one
  member's wallet (decision 0096); `postgres_batch_spend_per_s` the writers' spends in
  batches of `PG_BATCH` (one `spend_batch` each, two round trips: decision 0118), beside the
  same reference (`postgres_batch_spend_ratio`);
- `*_p99_spend_ms`: the 99th percentile latency of one spend (one batch for the batch figure);
- with `preload_postings`, the SQLite spend figure is measured again on a journal that already
  holds that many postings, to show a spend does not slow down as the journal grows.

The PostgreSQL writers (`run_writers`, also used by the charging figures) are threads spread
over several new Python processes, by default one per CPU and at least two (16 writers on a
2-CPU machine: 2 processes of 8 threads). One interpreter runs Python on one core at a time, so
16 threads in one process measured the GIL rather than the database. The parent makes the
schema and the members once; each process opens its own Store, each writer warms up with a few
writes of its own, and the clock starts when every writer is ready and all are let go at once.
Each writer sends back its latencies, and the figure is the writes over the time from that
start to the last writer's end.

Beside each rate, the CPU one write costs: `*_client_cpu_us` in the writers' processes (their
own count from the start to their end) and, when the server runs on this machine (a loopback
or socket URL), `*_server_cpu_us` in all of PostgreSQL's processes over the same span (read
from /proc, so another load on the machine counts too). Where fsync is fast the writes are
CPU-bound on a 2-core machine, and the ratio of rates follows the ratio of CPU;
`postgres_spend_cpu_ratio` is that bound for the spend (the reference's CPU over the
spend's). Where fsync is slow the reference waits on commits and the ratio of rates rises
above it (decision 0096).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import os
import queue
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import sqlalchemy as sa

import jeton
from jeton.services.bench import references
from jeton.services.ledger.results import SpendRequest
from jeton.store.engine import Store, normalize_url

Progress = Callable[[str], None]
MEMBERS = 64


def ratio_figures(name: str, ours: Sequence[float], refs: Sequence[float]) -> dict[str, float]:
    """`name` (the mean of the rounds' ratios, each round's figure over the reference measured
    beside it) and `name_spread` (the largest round's ratio less the smallest: how far this
    machine moved the ratio during the run)."""
    per_round = [o / r for o, r in zip(ours, refs, strict=True)]
    return {name: statistics.fmean(per_round),
            f"{name}_spread": max(per_round) - min(per_round)}


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


def _wal_spend(c: jeton.Community, i: int) -> None:
    c.spend(f"m{i % MEMBERS}", 1, idempotency_key=f"wal{i}", service="chat.message")


def _spend_loop(c: jeton.Community, n: int, prefix: str, member_of: Callable[[int], str],
                ) -> tuple[float, list[float]]:
    lat: list[float] = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        c.spend(member_of(i), 1, idempotency_key=f"{prefix}{i}", service="chat.message")
        lat.append(time.perf_counter() - t0)
    return time.perf_counter() - start, lat


ROUNDS = 2  # alternations of each figure with its reference, by default (`--rounds`)
BATCH_SIZE = 1000  # spends per batch in the batch figure (the batch limit of `spend_batch`)


def bench_sqlite(n: int = 5000, preload_postings: int = 0,
                 progress: Progress | None = None, rounds: int = ROUNDS) -> dict[str, float]:
    """SQLite figures, each beside its raw reference (`references.py`) in alternating rounds
    on the same disk: `n` spends one per transaction with synchronous FULL and NORMAL, and the
    same `n` again in batches of up to 1,000."""
    figures: dict[str, float] = {}
    per_round = max(1, n // rounds)
    batch_size = max(1, min(BATCH_SIZE, per_round))
    batches_per_round = max(1, per_round // batch_size)
    with tempfile.TemporaryDirectory(prefix="jeton-bench-") as tmp:
        for sync, suffix in (("FULL", ""), ("NORMAL", "_normal")):
            store = Store(f"sqlite:///{Path(tmp) / f'bench-{sync}.db'}",
                          sqlite_synchronous=sync)
            store.create_schema()
            c = _setup(store)
            _spend_loop(c, 200, "warm", lambda i: f"m{i % MEMBERS}")
            ours: list[float] = []
            raw: list[float] = []
            raw_rows: list[float] = []
            lat: list[float] = []
            for r in range(rounds):
                if progress:
                    progress(f"sqlite {sync}: round {r + 1}/{rounds}: {per_round} spends, "
                             "one per transaction, raw commits and raw spend rows")
                raw.append(references.sqlite_raw_commit(Path(tmp) / f"raw-{sync}.db", sync,
                                                        per_round))
                elapsed, lat_r = _spend_loop(c, per_round, f"s{r}",
                                             lambda i: f"m{i % MEMBERS}")
                ours.append(per_round / elapsed)
                lat += lat_r
                raw_rows.append(references.sqlite_raw_spend_commit(
                    Path(tmp) / f"raw-rows-{sync}.db", sync, per_round))
            figures[f"sqlite{suffix}_spend_per_s"] = statistics.fmean(ours)
            figures[f"sqlite{suffix}_raw_commit_per_s"] = statistics.fmean(raw)
            figures.update(ratio_figures(f"sqlite{suffix}_spend_ratio", ours, raw))
            figures[f"sqlite{suffix}_raw_spend_rows_per_s"] = statistics.fmean(raw_rows)
            figures.update(ratio_figures(f"sqlite{suffix}_spend_vs_raw_rows_ratio", ours,
                                         raw_rows))
            figures.update(ratio_figures(f"sqlite{suffix}_raw_rows_vs_commit_ratio", raw_rows,
                                         raw))
            figures[f"sqlite{suffix}_p99_spend_ms"] = _p99(lat)
            if sync == "NORMAL":
                figures["sqlite_wal_pages_per_spend"] = references.wal_pages_per_op(
                    Path(tmp) / f"bench-{sync}.db", partial(_wal_spend, c))
                figures["sqlite_raw_wal_pages_per_op"] = references.sqlite_raw_wal_pages(
                    Path(tmp) / "raw-wal.db")
            if sync == "FULL":
                figures.update(_sqlite_batches(c, Path(tmp), batches_per_round, batch_size,
                                               rounds, progress))
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


def _sqlite_batches(c: jeton.Community, tmp: Path, batches: int, batch_size: int, rounds: int,
                    progress: Progress | None) -> dict[str, float]:
    ours: list[float] = []
    raw: list[float] = []
    batch_lat: list[float] = []
    for r in range(rounds):
        if progress:
            progress(f"sqlite: round {r + 1}/{rounds}: {batches} batch(es) of {batch_size:,} "
                     "spends and raw batches")
        raw.append(references.sqlite_raw_batch(tmp / f"raw-batch-{r}.db", "FULL", batches,
                                               batch_size))
        start = time.perf_counter()
        for b in range(batches):
            items = [SpendRequest(member=f"m{i % MEMBERS}", amount=1,
                                  idempotency_key=f"b{r}-{b}-{i}", service="chat.message")
                     for i in range(batch_size)]
            t0 = time.perf_counter()
            results = c.spend_batch(items)
            batch_lat.append(time.perf_counter() - t0)
            bad = [x for x in results if x.status != "ok"]
            if bad:
                raise RuntimeError(f"bench batch had failures: {bad[:3]}")
        ours.append(batches * batch_size / (time.perf_counter() - start))
    return {"sqlite_batch_spend_per_s": statistics.fmean(ours),
            "sqlite_raw_batch_per_s": statistics.fmean(raw),
            **ratio_figures("sqlite_batch_ratio", ours, raw),
            "sqlite_batch_p99_batch_ms": _p99(batch_lat)}


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


WriteOp = Callable[[jeton.Community, int, int], object]
"""One write: `op(community, w, i)` is writer `w`'s `i`-th. A module-level function (or a
`functools.partial` of one), since it is sent to other processes; it makes its idempotency key
from `w` and `i`."""

PG_WRITERS = 16
WARMUP = 20  # untimed writes per writer before the start
WRITER_TIMEOUT_S = 600
# What a writer process tells the parent: ("ready" | "done" | what failed, latencies, the
# CPU seconds it spent from the start to its writers' end)
Inbox: TypeAlias = "multiprocessing.queues.Queue[tuple[str, list[float], float]]"
LOCAL_HOSTS = frozenset({"", "127.0.0.1", "localhost", "::1"})


class WritersRun(NamedTuple):
    """What `run_writers` measured: the seconds from the common start to the last writer's
    end, every timed write's latency, the writers' CPU seconds, and PostgreSQL's (None when
    the server is not on this machine)."""
    elapsed: float
    latencies: list[float]
    client_cpu_s: float
    server_cpu_s: float | None


def cpu_by_pid(keep: Callable[[str, str, list[str]], bool]) -> dict[str, float]:
    """User and system CPU seconds so far (Linux /proc) of each process that `keep(pid, name,
    fields)` picks (`fields`: those of /proc/<pid>/stat after the name, its state first);
    empty where /proc cannot be read."""
    found: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        name = text[text.find("(") + 1:text.rfind(")")]
        fields = text[text.rfind(")") + 2:].split()
        if keep(stat.parent.name, name, fields):
            found[stat.parent.name] = (int(fields[11]) + int(fields[12])) / tick
    return found


def cpu_s_of(keep: Callable[[str, str, list[str]], bool]) -> float:
    """The CPU seconds so far of the processes `keep` picks, together (see `cpu_by_pid`)."""
    return sum(cpu_by_pid(keep).values())


def server_cpu(url: str) -> dict[str, float] | None:
    """The CPU seconds so far of each PostgreSQL process, when the server at `url` runs on
    this machine (its processes are named `postgres` in /proc); None otherwise."""
    parsed = sa.make_url(normalize_url(url))
    if (parsed.get_backend_name() != "postgresql" or (parsed.host or "") not in LOCAL_HOSTS
            or not Path("/proc/self/stat").exists()):
        return None
    return cpu_by_pid(lambda _pid, name, _fields: name == "postgres")


def cpu_s_between(before: dict[str, float], after: dict[str, float]) -> float:
    """The CPU seconds processes spent between two readings: of each process alive at the
    second (a process that ended in between is not counted, so this errs low, never below 0)."""
    return sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())


def writer_processes(writers: int = PG_WRITERS) -> int:
    """The default number of processes for `writers`: one per CPU, at least two.

    One interpreter runs Python on one core at a time, and a PostgreSQL spend costs the client
    more CPU than the server, so fewer processes than cores would measure the GIL.
    """
    return max(1, min(writers, max(2, os.cpu_count() or 2)))


@contextmanager
def fresh_pg_schema(url: str, prefix: str) -> Iterator[str]:
    """A new, empty schema in the database at `url`, dropped with everything in it afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(normalize_url(url))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        yield schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def run_writers(url: str, schema: str, community_id: str, op: WriteOp, *, per_writer: int,
                writers: int = PG_WRITERS, processes: int | None = None, warmup: int = WARMUP,
                first: int = 0) -> WritersRun:
    """Run `op` `per_writer` times in each of `writers` threads spread over `processes` new
    Python processes (default `writer_processes`), each process with its own Store on
    `schema`; return what was measured (`WritersRun`).

    Each writer first runs `warmup` untimed writes to open its connection and fill the caches,
    says it is ready, and waits for the start. Writer `w` runs `op(c, w, i)` for `i` from
    `first` to `first + warmup + per_writer - 1`: a caller running the same writers again
    starts after that, so idempotency keys never repeat.
    """
    processes = max(1, min(processes or writer_processes(writers), writers))
    ctx = multiprocessing.get_context("spawn")  # never fork a process that runs threads
    go = ctx.Event()
    release = ctx.Event()  # the writers keep their connections open until the last count
    inbox: Inbox = ctx.Queue()
    children = []
    taken = 0
    for p in range(processes):
        threads = writers // processes + (1 if p < writers % processes else 0)
        children.append(ctx.Process(
            target=_writer_process, daemon=True,
            args=(url, schema, community_id, op, range(taken, taken + threads),
                  range(first, first + warmup), range(first + warmup, first + warmup + per_writer),
                  go, release, inbox)))
        taken += threads
    for child in children:
        child.start()
    finished = False
    try:
        for _ in range(writers):
            _receive(inbox, children, "ready")
        server_before = server_cpu(url)
        go.set()
        start = time.perf_counter()
        latencies: list[float] = []
        client_cpu_s = 0.0
        for _ in children:
            samples, cpu_s = _receive(inbox, children, "done")
            latencies.extend(samples)
            client_cpu_s += cpu_s
        elapsed = time.perf_counter() - start
        server_after = server_cpu(url)  # the writers' connections are still open
        finished = True
    finally:
        release.set()
        for child in children:
            if not finished:  # a writer failed: stop the others rather than wait for them
                child.terminate()
            child.join(timeout=WRITER_TIMEOUT_S)
    server = (cpu_s_between(server_before, server_after)
              if server_before is not None and server_after is not None else None)
    return WritersRun(elapsed, latencies, client_cpu_s, server)


def _receive(inbox: Inbox, children: Sequence[BaseProcess],
             expected: str) -> tuple[list[float], float]:
    deadline = time.monotonic() + WRITER_TIMEOUT_S
    while True:
        try:
            kind, latencies, cpu_s = inbox.get(timeout=1)
            break
        except queue.Empty:
            dead = [c.exitcode for c in children if c.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"a writer process died (exit codes {dead})") from None
    if kind != expected:
        raise RuntimeError(f"a writer failed: {kind}")
    return latencies, cpu_s


def _writer_process(url: str, schema: str, community_id: str, op: WriteOp, mine: range,
                    warmup: range, timed: range, go: Event, release: Event,
                    inbox: Inbox) -> None:
    """One process of `run_writers`: its writers are threads sharing one Store."""
    latencies: list[float] = []
    failed: list[str] = []
    store = Store(url, pg_schema=schema, pool_size=len(mine))

    def writer(c: jeton.Community, w: int) -> None:
        try:
            for i in warmup:
                op(c, w, i)
            inbox.put(("ready", [], 0.0))
            go.wait()
            lat = []
            for i in timed:
                t0 = time.perf_counter()
                op(c, w, i)
                lat.append(time.perf_counter() - t0)
            latencies.extend(lat)
        except Exception as exc:  # the parent raises it
            failed.append(f"writer {w}: {exc!r}")
            inbox.put((failed[-1], [], 0.0))

    try:
        c = jeton.Jeton(store).community(community_id)
        threads = [threading.Thread(target=writer, args=(c, w)) for w in mine]
        for t in threads:
            t.start()
        go.wait()  # every writer has warmed up: count the CPU of the timed writes only
        cpu_start = time.process_time()
        for t in threads:
            t.join()
        if not failed:
            inbox.put(("done", latencies, time.process_time() - cpu_start))
            release.wait(WRITER_TIMEOUT_S)
    except Exception as exc:
        inbox.put((repr(exc), [], 0.0))
    finally:
        store.dispose()


def spend_op(c: jeton.Community, w: int, i: int) -> None:
    # Each writer pays from its own four members; every spend credits the one revenue account,
    # the row that must not become a serialization point. The store's default path (on
    # PostgreSQL one call of the SQL function `jeton_spend`, one round trip: decision 0095).
    c.spend(f"m{w * 4 + i % 4}", 1, idempotency_key=f"w{w}-{i}", service="chat.message")


def python_spend_op(c: jeton.Community, w: int, i: int) -> None:
    # The same spend by the Python write (two round trips), to compare (decision 0095).
    c.jeton.ledger.spend_in_sql = False
    c.spend(f"m{w * 4 + i % 4}", 1, idempotency_key=f"q{w}-{i}", service="chat.message")


def hot_spend_op(c: jeton.Community, w: int, i: int) -> None:
    # Every writer spends from one member's wallet (a team's shared wallet, a member's many
    # sessions): the store's default path, whose function holds the wallet's lock only while
    # the server runs it.
    c.spend("m0", 1, idempotency_key=f"h{w}-{i}", service="chat.message")


def hot_python_spend_op(c: jeton.Community, w: int, i: int) -> None:
    # The same by the Python write, which holds the lock from its first round trip to its
    # commit (decision 0096).
    c.jeton.ledger.spend_in_sql = False
    c.spend("m0", 1, idempotency_key=f"hp{w}-{i}", service="chat.message")


PG_BATCH = 16  # spends per `spend_batch` in the PostgreSQL batch figure
SPENDS_PER_OP = {"batch_spend": PG_BATCH}  # writes each call of an op makes, where not one


def batch_spend_op(c: jeton.Community, w: int, i: int) -> None:
    # The writer's own four members, PG_BATCH spends in one batch (decision 0118).
    done = c.spend_batch([SpendRequest(member=f"m{w * 4 + k % 4}", amount=1,
                                       idempotency_key=f"b{w}-{i}-{k}", service="chat.message")
                          for k in range(PG_BATCH)])
    refused = [item for item in done if item.status != "ok"]
    if refused:
        raise RuntimeError(f"a bench batch had refused items: {refused[:3]}")


def transfer_op(c: jeton.Community, w: int, i: int) -> None:
    # Member to member between the writer's own members: the lots travel with the credits.
    c.transfer(f"m{w * 4 + i % 4}", f"m{w * 4 + (i + 1) % 4}", 1, idempotency_key=f"t{w}-{i}")


def note_cpu(sides: dict[str, list[float]], run: WritersRun, done: int) -> None:
    """A round's CPU per write of `run` (`done` writes): the writers' and, where PostgreSQL's
    was read, its."""
    sides["client"].append(run.client_cpu_s * 1e6 / done)
    if run.server_cpu_s is not None:
        sides["server"].append(run.server_cpu_s * 1e6 / done)


def cpu_figures(cpu_us: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    """`<write>_<side>_cpu_us`, the mean of the rounds' `note_cpu`, where any was noted."""
    return {f"{name}_{side}_cpu_us": statistics.fmean(samples)
            for name, sides in cpu_us.items() for side, samples in sides.items() if samples}


def bench_postgres(url: str, n: int = 8000, writers: int = PG_WRITERS,
                   processes: int | None = None, progress: Progress | None = None,
                   rounds: int = ROUNDS) -> dict[str, float]:
    """`n` spends, `n` member transfers and `n` plain SQL transfers (the reference) from
    `writers` concurrent writers (see `run_writers`) on a fresh schema, in alternating rounds;
    and `n` spends of all the writers from one member's wallet, by each path."""
    processes = processes or writer_processes(writers)
    per_writer = max(1, n // writers // rounds)
    ops: dict[str, WriteOp] = {"raw_transfer": references.raw_transfer_op, "spend": spend_op,
                               "python_spend": python_spend_op, "transfer": transfer_op,
                               "hot_wallet_spend": hot_spend_op,
                               "hot_wallet_python_spend": hot_python_spend_op,
                               "batch_spend": batch_spend_op}
    timed: dict[str, list[float]] = {name: [] for name in ops}
    lat: dict[str, list[float]] = {name: [] for name in ops}
    cpu_us: dict[str, dict[str, list[float]]] = {name: {"client": [], "server": []}
                                                 for name in ops}
    with fresh_pg_schema(url, "jeton_bench") as schema:
        store = Store(url, pg_schema=schema)
        store.create_schema()
        _setup(store, members=writers * 4)
        store.dispose()
        references.raw_setup(url, schema, writers)
        first = 0
        for r in range(rounds):
            for name, op in ops.items():
                if progress:
                    progress(f"postgres: round {r + 1}/{rounds}: {per_writer * writers} {name} "
                             f"from {writers} writers in {processes} processes")
                per_op = SPENDS_PER_OP.get(name, 1)  # a batch: as many spends, fewer calls
                calls = max(1, per_writer // per_op)
                run = run_writers(url, schema, "bench", op, per_writer=calls,
                                  writers=writers, processes=processes, first=first)
                done = calls * writers * per_op
                timed[name].append(done / run.elapsed)
                lat[name] += run.latencies
                note_cpu(cpu_us[name], run, done)
            first += WARMUP + per_writer
    figures = {
        "postgres_spend_per_s": statistics.fmean(timed["spend"]),
        "postgres_python_spend_per_s": statistics.fmean(timed["python_spend"]),
        "postgres_transfer_per_s": statistics.fmean(timed["transfer"]),
        "postgres_raw_transfer_per_s": statistics.fmean(timed["raw_transfer"]),
        "postgres_p99_spend_ms": _p99(lat["spend"]),
        "postgres_p99_python_spend_ms": _p99(lat["python_spend"]),
        "postgres_p99_transfer_ms": _p99(lat["transfer"]),
        "postgres_hot_wallet_spend_per_s": statistics.fmean(timed["hot_wallet_spend"]),
        "postgres_hot_wallet_python_spend_per_s": statistics.fmean(
            timed["hot_wallet_python_spend"]),
        "postgres_p99_hot_wallet_spend_ms": _p99(lat["hot_wallet_spend"]),
        "postgres_batch_spend_per_s": statistics.fmean(timed["batch_spend"]),
        "postgres_p99_batch_ms": _p99(lat["batch_spend"]),
        **ratio_figures("postgres_batch_spend_ratio", timed["batch_spend"],
                        timed["raw_transfer"]),
        **ratio_figures("postgres_spend_ratio", timed["spend"], timed["raw_transfer"]),
        **ratio_figures("postgres_transfer_ratio", timed["transfer"], timed["raw_transfer"]),
    }
    figures.update({f"postgres_{k}": v for k, v in cpu_figures(cpu_us).items()})
    # The ratio of rates where both are CPU-bound. /proc counts in clock ticks (10 ms): a run
    # too short to count any has none.
    reference, spend = (figures.get(f"postgres_{name}_client_cpu_us", 0.0)
                        + figures.get(f"postgres_{name}_server_cpu_us", 0.0)
                        for name in ("raw_transfer", "spend"))
    if cpu_us["spend"]["server"] and reference > 0 and spend > 0:
        figures["postgres_spend_cpu_ratio"] = reference / spend
    return figures


EXTRA: list[Callable[[dict[str, Any]], dict[str, float]]] = []
"""More figures from other areas (charging, HTTP): each gets the options and returns figures."""


def run(*, postgres_url: str | None = None, n: int = 5000, preload_postings: int = 0,
        progress: Progress | None = None, history_postings: int | None = None,
        rounds: int = ROUNDS) -> dict[str, float]:
    """Every figure; each ratio from `rounds` rounds of the figure and its reference in turn
    (more rounds: a steadier mean, and a `_spread` that shows the machine's noise)."""
    figures = {"cpu_count": float(os.cpu_count() or 0), "rounds": float(rounds)}
    figures.update(bench_sqlite(n=n, preload_postings=preload_postings, progress=progress,
                                rounds=rounds))
    if postgres_url:
        figures.update(bench_postgres(postgres_url, n=n, progress=progress, rounds=rounds))
    options = {"postgres_url": postgres_url, "n": n, "progress": progress,
               "history_postings": history_postings, "rounds": rounds}
    for extra in EXTRA:
        figures.update(extra(options))
    figures.update(http_bounds(figures))
    return figures


def http_bounds(figures: dict[str, float]) -> dict[str, float]:
    """What each HTTP charge ratio would be if the HTTP layer cost a charge no more than it
    costs a ping: the server's CPU per ping over that plus the CPU of an in-process charge (on
    PostgreSQL the writers' and PostgreSQL's). Both sides of the ratio are bound by the
    processor, so the measured ratio under this bound is what the HTTP layer adds to a charge;
    the bound itself is the charge's own cost (decision 0113). The in-process charge is made
    one at a time and pays its own commit: on SQLite, where the server's writer commits a batch
    of charges at once (decision 0117), the measured ratio can pass this figure."""
    out: dict[str, float] = {}
    for prefix, charge_us in (
            ("", ("sqlite_charge_cpu_us",)),
            ("postgres_", ("postgres_charge_client_cpu_us", "postgres_charge_server_cpu_us"))):
        ping_ms = figures.get(f"{prefix}http_server_cpu_ms_per_ping", 0.0)
        if ping_ms > 0 and all(figures.get(k, 0.0) > 0 for k in charge_us):
            charge_ms = sum(figures[k] for k in charge_us) / 1000
            out[f"{prefix}http_charge_ratio_bound"] = ping_ms / (ping_ms + charge_ms)
    return out
