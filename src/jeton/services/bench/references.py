"""What `jeton bench` measures Jeton against, in the same run: the database doing the same
writes with no ledger around them. A figure of Jeton's alone says little on a shared machine;
its ratio to the reference measured beside it (interleaved, same database, same settings) is
the figure to compare across runs.

- `sqlite_raw_commit_per_s`: raw `sqlite3`, one small row inserted and committed per
  operation, WAL and the same `synchronous` as Jeton's store: the floor of a durable commit.
- `sqlite_raw_spend_rows_per_s`: raw `sqlite3` writing what a spend writes (the rows of
  `sqlite_raw_batch_per_s`, below), one operation per transaction, the same `synchronous`:
  the floor of a durable write of a spend's rows. Beside the one-row commit it says how far
  any ledger writing those rows could come (`sqlite_raw_rows_vs_commit_ratio`); beside
  Jeton's spend, how much of a spend is the ledger's own work (`sqlite_spend_vs_raw_rows_ratio`).
- `sqlite_raw_batch_per_s`: raw `sqlite3` writing what a spend writes (a transfer row, two
  postings, a lot move, the idempotency key, an event-sized row, and one balance update) for
  1,000 operations per transaction.
- `sqlite_raw_wal_pages_per_op`: the pages the raw rows of a spend write into the WAL, one
  operation per transaction (`wal_pages_per_op`): the storage side of a write, counted by
  SQLite, the same on any machine. `sqlite_wal_pages_per_spend` is Jeton's.
- `postgres_raw_transfer_per_s`: a plain SQL transfer between two accounts (two conditional
  UPDATEs in sorted order and two INSERTs, one transaction) from the same writers as Jeton's
  PostgreSQL figures (`service.run_writers`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

import jeton
from jeton.services.bench import raw_sqlite
from jeton.store.engine import SQLITE_WAL_CHECKPOINT_PAGES, SQLITE_WAL_KEPT_BYTES

BATCH_OPS = 1000
RAW_ACCOUNTS_PER_WRITER = 4


def _sqlite(path: Path, synchronous: str) -> sqlite3.Connection:
    # Checkpoints as Jeton's own connections make them: the same settings on both sides.
    return raw_sqlite.connect(path, synchronous, SQLITE_WAL_CHECKPOINT_PAGES,
                              SQLITE_WAL_KEPT_BYTES)


def sqlite_raw_commit(path: Path, synchronous: str, n: int) -> float:
    """Operations per second: insert one row and commit, `n` times."""
    con = _sqlite(path, synchronous)
    con.execute("CREATE TABLE IF NOT EXISTS raw_commit (id INTEGER PRIMARY KEY, k TEXT, v INT)")
    start = time.perf_counter()
    for i in range(n):
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO raw_commit (k, v) VALUES (?, ?)", (f"k{i}", i))
        con.execute("COMMIT")
    elapsed = time.perf_counter() - start
    con.close()
    return n / elapsed


def sqlite_raw_spend_commit(path: Path, synchronous: str, n: int) -> float:
    """Operations per second: a spend's rows, one operation per transaction, `n` times. The
    rows go on after those an earlier call left in the file, so rounds on one file grow its
    tables as Jeton's rounds grow its journal."""
    con = _sqlite(path, synchronous)
    raw_sqlite.create_tables(con)
    first = con.execute("SELECT count(*) FROM raw_transfers").fetchone()[0]
    start = time.perf_counter()
    for i in range(first, first + n):
        _raw_spend_transaction(con, i)
    elapsed = time.perf_counter() - start
    con.close()
    return n / elapsed


def _raw_spend_transaction(con: sqlite3.Connection, i: int) -> None:
    con.execute("BEGIN IMMEDIATE")
    raw_sqlite.spend_rows(con, i)
    con.execute("COMMIT")


def sqlite_raw_batch(path: Path, synchronous: str, batches: int,
                     ops: int = BATCH_OPS) -> float:
    """Operations per second: a spend's rows, `ops` operations per transaction."""
    con = _sqlite(path, synchronous)
    raw_sqlite.create_tables(con)
    start = time.perf_counter()
    for b in range(batches):
        con.execute("BEGIN IMMEDIATE")
        for i in range(b * ops, (b + 1) * ops):
            raw_sqlite.spend_rows(con, i)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - start
    con.close()
    return batches * ops / elapsed


# Operations whose WAL pages are counted: a spend writes about 16, so 200 stay well under the
# 10,000 pages after which a commit may checkpoint and start the WAL again.
WAL_OPS = 200


def wal_pages_per_op(path: Path, op: Callable[[int], object], ops: int = WAL_OPS) -> float:
    """Pages written into the WAL of the database at `path` per operation (`op(i)`, each its
    own transaction), as SQLite counts them: a checkpoint empties the WAL, the operations run,
    and a second checkpoint says how many frames they left there. Every page a commit changes
    is one frame: a copy of the page, its checksum and two writes to the file."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        busy, frames, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy or frames:  # another connection was reading: a count now would be wrong
            raise RuntimeError(f"the bench could not empty the WAL of {path.name} to count "
                               "its pages")
        for i in range(ops):
            op(i)
        _, frames, _ = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return float(frames) / ops
    finally:
        con.close()


def sqlite_raw_wal_pages(path: Path, warm_up: int = 1000) -> float:
    """`wal_pages_per_op` of the raw rows of a spend, one per transaction, after `warm_up` of
    them (so that the tables are more than one page each)."""
    con = _sqlite(path, "NORMAL")
    raw_sqlite.create_tables(con)
    try:
        for i in range(warm_up):
            _raw_spend_transaction(con, i)
        return wal_pages_per_op(path, lambda i: _raw_spend_transaction(con, warm_up + i))
    finally:
        con.close()


# ---- PostgreSQL: a plain SQL transfer, run by the writers of `service.run_writers` ----

_RAW_DDL = (
    "CREATE TABLE IF NOT EXISTS raw_accounts (id TEXT PRIMARY KEY, balance BIGINT NOT NULL "
    "CHECK (balance >= 0))",
    "CREATE TABLE IF NOT EXISTS raw_entries (id BIGSERIAL PRIMARY KEY, account TEXT NOT NULL, "
    "amount BIGINT NOT NULL, ref TEXT NOT NULL)",
)
_local = threading.local()
# Every connection a writer process opened, kept until the process ends: a thread's own would
# close with the thread, and its backend with it, before the bench reads PostgreSQL's CPU.
_opened: list[psycopg.Connection[Any]] = []


def raw_setup(url: str, schema: str, writers: int) -> None:
    """The reference's tables in the bench schema: `RAW_ACCOUNTS_PER_WRITER` accounts per
    writer, each with a large balance."""
    with psycopg.connect(url, options=f"-c search_path={schema}", autocommit=True) as conn:
        for ddl in _RAW_DDL:
            conn.execute(ddl)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO raw_accounts VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            [(f"r{a}", 10**12)
                             for a in range(writers * RAW_ACCOUNTS_PER_WRITER)])


def raw_connection(c: jeton.Community) -> psycopg.Connection[Any]:
    """This thread's connection for the plain transfer, opened on `c`'s database at first use
    and kept until `close_raw_connections`."""
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None:
        store = c.jeton.store
        url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = psycopg.connect(url, options=f"-c search_path={store.pg_schema}")
        _local.conn = conn
        _opened.append(conn)
    return conn


def close_raw_connections() -> None:
    """Close every connection `raw_connection` opened in this process."""
    while _opened:
        _opened.pop().close()
    _local.__dict__.pop("conn", None)


def raw_transfer_op(c: jeton.Community, w: int, i: int) -> None:
    """One plain transfer of 1 between two of writer `w`'s own accounts, locks in sorted order."""
    base, k = w * RAW_ACCOUNTS_PER_WRITER, RAW_ACCOUNTS_PER_WRITER
    src, dst = f"r{base + i % k}", f"r{base + (i + 1) % k}"
    conn = raw_connection(c)
    first, second = sorted((src, dst))
    with conn.transaction():
        for account in (first, second):
            delta = -1 if account == src else 1
            cur = conn.execute("UPDATE raw_accounts SET balance = balance + %s "
                               "WHERE id = %s AND balance + %s >= 0", (delta, account, delta))
            if cur.rowcount != 1:
                raise RuntimeError(f"raw transfer refused on {account}")
        for account, amount in ((src, -1), (dst, 1)):
            conn.execute("INSERT INTO raw_entries (account, amount, ref) VALUES (%s, %s, %s)",
                         (account, amount, f"{w}-{i}"))
