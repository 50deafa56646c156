"""The Store: a database URL turned into units of work.

SQLite (the embedded default) runs in WAL mode with foreign keys on, `synchronous=FULL` unless
the operator relaxes it, and every write transaction starts with `BEGIN IMMEDIATE` so that two
writers never deadlock on a lock upgrade. PostgreSQL runs at READ COMMITTED with row locks taken
in sorted order; serialization failures and deadlocks are retried by `run_write`.
"""

from __future__ import annotations

import contextvars
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from jeton.core import limits
from jeton.core.errors import InvariantViolation
from jeton.store import dialect as dialects
from jeton.store import pipeline
from jeton.store.fastsql import Runner, compiled, positional
from jeton.store.tables import metadata
from jeton.store.transactions import (
    AFTER_COMMIT,
    Work,
    after_commit_calls,
    batch_write,
    committed,
    doomed,
    postgres_batch,
)

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_S = 30  # how long a writer waits for another before "database is locked"
SQLITE_GROUP_MAX = 64  # writes that share one SQLite commit at most
# The WAL is copied back into the database (a checkpoint, with an fsync) once it holds this many
# pages, not SQLite's default 1,000: a write touches the same hot pages (balances, the ends of
# the indexes) again and again, and a checkpoint copies each page once however often the WAL
# holds it. About 40 MB of WAL; it is cut back to `SQLITE_WAL_KEPT_BYTES` after a checkpoint
# (decision 0080).
SQLITE_WAL_CHECKPOINT_PAGES = 10_000
SQLITE_WAL_KEPT_BYTES = 64 * 1024 * 1024
# Where a SQLite writer connection keeps the rows its writes may reuse (services/ledger/
# cache.py); forgotten here whenever a write on the connection fails or is undone.
WRITER_CACHE = "jeton_writer_cache"


class Store:
    """One database. Thread-safe: every unit of work takes its own pooled connection."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 20,
                 echo: bool = False, pg_schema: str | None = None) -> None:
        self.url = normalize_url(url)
        sa_url = sa.make_url(self.url)
        self.dialect = sa_url.get_backend_name()
        self.pg_schema = pg_schema
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(
                f"unsupported database {self.dialect!r}: use sqlite:// or postgresql://")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if sa_url.database in (None, "", ":memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool
            else:  # every thread keeps a writer and may read at once: room for a server's pool
                kwargs.update(pool_size=pool_size, max_overflow=100)
        else:
            options = f"-c statement_timeout={limits.statement_timeout_ms}"
            if pg_schema:  # one schema per test run or per tenant database
                options += f" -c search_path={pg_schema}"
            # psycopg prepares a statement it has run five times, and after a ROLLBACK drops
            # every prepared statement of the connection (DEALLOCATE ALL), the ledger's own
            # included; the write path prepares its statements itself (store/pipeline.py).
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False,
                          connect_args={"options": options, "prepare_threshold": None})
        self.engine: Engine = sa.create_engine(self.url, **kwargs)
        self._writers: dict[int, Connection] = {}  # thread id -> its kept writer connection
        self._writers_lock = threading.Lock()
        self._sqlite_write_lock = threading.RLock()
        self._group_lock = threading.Lock()
        self._group_queue: list[_Queued[Any]] = []
        self._group_leading = False
        self._running_for = threading.local()
        self._batch = threading.local()  # the transaction `batch` holds on this thread
        self._readers = threading.local()  # SQLite: each thread's kept reader (`point_read`)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, sqlite_synchronous)

    # ---- units of work ----

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        Each thread keeps its checked-out connection between writes (checking one out of the
        pool costs as much as a small statement). It goes back to the pool when the thread is
        gone, when it saw an error, or at `release()` / `dispose()`.
        """
        batch = getattr(self._batch, "conn", None)
        if self.dialect != "sqlite":
            if batch is not None:  # a write of this thread's batch, under its savepoint
                with batch_write(batch):
                    yield batch
                return
            # On PostgreSQL a pool checkout is small next to a round trip, and a server's many
            # threads must not each hold a connection: take one per transaction.
            with self.engine.connect() as fresh, committed(fresh), fresh.begin():
                yield fresh
            return
        if batch is not None:  # a block of this thread's batch: one savepoint of its transaction
            with self._savepoint(batch):
                yield batch
            return
        conn = self._sqlite_begin()
        try:
            yield conn
        except BaseException:
            self._sqlite_end(conn, failed=True)
            raise
        self._sqlite_end(conn)

    @contextmanager
    def batch(self, opening: Work = ()) -> Iterator[None]:
        """One transaction for this thread's writes until the block ends. Each `run_write`
        (or `write`) inside runs under a SAVEPOINT of it, so one that fails takes nothing of the
        others with it; all commit together when the block ends, and none if it raises. The
        API's writer thread runs a batch of requests' writes this way, and answers them once it
        has committed (api/writer.py, decisions 0117 and 0119; PostgreSQL's side is in
        store/transactions.py)."""
        if getattr(self._batch, "conn", None) is not None:
            raise InvariantViolation("this thread holds a batch already")
        if self.dialect != "sqlite":
            with postgres_batch(self.engine, opening) as conn:
                self._batch.conn = conn
                try:
                    yield
                finally:
                    self._batch.conn = None
            return
        conn = self._sqlite_begin()
        self._batch.conn = conn
        try:
            yield
        except BaseException:
            self._batch.conn = None
            self._sqlite_end(conn, failed=True)
            raise
        self._batch.conn = None
        self._sqlite_end(conn)

    @contextmanager
    def _savepoint(self, conn: Connection,
                   failed: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """The block under a SAVEPOINT of the open transaction `conn`. When it raises, or
        `failed()` says so after it, what it wrote is rolled back, and so are the after-commit
        calls it asked for and what it left in the writer's cache."""
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        callbacks = conn.info.setdefault(AFTER_COMMIT, [])
        cur.execute("SAVEPOINT jeton_group")
        kept = len(callbacks)
        undo = True
        try:
            yield
            undo = failed()
        finally:
            if undo:
                cur.execute("ROLLBACK TO jeton_group")
                del callbacks[kept:]
                conn.info.pop(WRITER_CACHE, None)
            cur.execute("RELEASE jeton_group")

    def _sqlite_begin(self) -> Connection:
        """Take the write lock and this thread's writer connection, and BEGIN IMMEDIATE.

        SQLite has one writer at a time. Threads of this process queue on a lock (fair and
        immediate) rather than on SQLite's busy handler, which sleeps with growing backoff;
        other processes still wait through busy_timeout. The transaction is the driver's:
        BEGIN IMMEDIATE and COMMIT go straight to sqlite3 (SQLAlchemy's begin and commit cost
        as much again as SQLite's own). A statement run through SQLAlchemy inside still works:
        its autobegin finds the transaction open (`_on_begin`), and its commit is the
        driver's. Plain calls, not context managers: this is every write's path."""
        if not self._sqlite_write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", {}, RuntimeError(
                "database is locked: another writer of this process held it too long"))
        tid = threading.get_ident()
        conn = self._writers.get(tid)
        try:
            if conn is None or conn.closed or conn.invalidated:
                conn = self.engine.connect()
                with self._writers_lock:
                    self._writers[tid] = conn
                weakref.finalize(threading.current_thread(), self._drop_writer, tid, conn)
            conn.info.pop(AFTER_COMMIT, None)  # the pooled connection's info outlives a write
            conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                "BEGIN IMMEDIATE")
        except BaseException:
            if conn is not None:
                self._drop_writer(tid, conn)
            self._sqlite_write_lock.release()
            raise
        return conn

    def _sqlite_end(self, conn: Connection, *, failed: bool = False) -> None:
        """Commit (or, `failed`, roll back) what `_sqlite_begin` began and release the lock;
        after a commit, the transaction's after-commit calls. A connection that saw an error
        is not kept."""
        raw: Any = conn.connection.driver_connection
        try:
            if not failed:
                try:
                    if conn.in_transaction():
                        conn.commit()
                    else:
                        raw.commit()
                except BaseException:
                    failed = True
                    raise
        finally:
            if failed:
                conn.info.pop(AFTER_COMMIT, None)
                try:
                    if conn.in_transaction():
                        conn.rollback()
                    raw.rollback()
                finally:
                    self._drop_writer(threading.get_ident(), conn)
            self._sqlite_write_lock.release()
        if not failed:
            after_commit_calls(conn)

    def _drop_writer(self, tid: int, conn: Connection) -> None:
        with self._writers_lock:
            if self._writers.get(tid) is conn:
                del self._writers[tid]
        if not conn.closed:
            conn.info.pop(WRITER_CACHE, None)
            conn.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads. On SQLite one transaction (one snapshot of the WAL). On
        PostgreSQL each statement is its own snapshot under READ COMMITTED whether or not a
        transaction wraps them, so reads run in autocommit: no BEGIN and no ROLLBACK, one
        round trip per statement."""
        if self.dialect == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield conn
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A connection whose every read sees one snapshot of the database, for reads that
        compare what several statements return (`jeton verify`): on SQLite one read
        transaction (as `read`), on PostgreSQL a read-only REPEATABLE READ transaction."""
        if self.dialect == "postgresql":
            with self.engine.connect().execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True) as conn, \
                    conn.begin():
                yield conn
            return
        with self.read() as conn:
            yield conn

    def point_read(self, stmt: sa.sql.ClauseElement,
                   params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The one row (or None) of a small read by key, in a snapshot of its own.

        On SQLite it runs on the driver of a reader connection the thread keeps (autocommit:
        the statement is its own snapshot), with no SQLAlchemy transaction: a few
        microseconds, so a caller on an event loop may run it there instead of on a worker
        thread (`reads_block` is False). On PostgreSQL it is a read like any other."""
        if self.dialect != "sqlite":
            with self.read() as pg:
                return Runner(pg, self.dialect).first(stmt, params)
        conn: Connection | None = getattr(self._readers, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._readers.conn = self.engine.connect()
            weakref.finalize(threading.current_thread(), conn.close)
        try:
            sql, order = positional(stmt)
            cur = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                sql, order(params))
            row = cur.fetchone()
        except BaseException:
            self._readers.conn = None
            conn.close()
            raise
        return tuple(row) if row is not None else None

    def read_together(self, reads: Sequence[tuple[sa.sql.ClauseElement, dict[str, Any]]],
                      ) -> list[list[tuple[Any, ...]]]:
        """The rows of each of `reads`, in order: on PostgreSQL in one round trip (libpq's
        pipeline, each statement its own snapshot as any read here), on SQLite in one
        snapshot."""
        with self.read() as conn:
            if self.dialect == "postgresql":
                return pipeline.run(
                    conn.connection.driver_connection,  # type: ignore[arg-type]
                    [(compiled(stmt, "postgresql"), [params]) for stmt, params in reads])
            runner = Runner(conn, self.dialect)
            return [runner.rows(stmt, params) for stmt, params in reads]

    @property
    def reads_block(self) -> bool:
        """Whether `point_read` waits on a network round trip (PostgreSQL) and so belongs on
        a worker thread, not on an event loop."""
        return self.dialect != "sqlite"

    def run_write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in a write transaction, retrying serialization failures and deadlocks.

        On SQLite, writers of this process that arrive together share one commit (see
        `_grouped`): `fn` may run on another thread, so it must not depend on which thread
        runs it (`caller_ident()` names the thread that asked)."""
        attempt = 0
        while True:
            try:
                if self.dialect == "sqlite":
                    return self._grouped(fn)
                with self.write() as conn:
                    return fn(conn)
            except Exception as exc:  # wrapped by SQLAlchemy, or raw from the hot path
                attempt += 1
                retryable = dialects.is_retryable(exc, self.dialect)
                if attempt > limits.write_retries_max or not retryable:
                    raise
                batch = getattr(self._batch, "conn", None)
                if batch is not None and doomed(batch):  # its batch is made again, not it
                    raise
                time.sleep(min(0.001 * 2**attempt, 0.1))

    def caller_ident(self) -> int:
        """The thread on whose behalf the current write runs (the running thread otherwise)."""
        return getattr(self._running_for, "ident", None) or threading.get_ident()

    def _grouped(self, fn: Callable[[Connection], T]) -> T:
        """Group commit. Each write runs under its own SAVEPOINT, so one that fails takes
        nothing of the others with it, and all of a group commit in one transaction: one fsync
        acknowledges them all, and none is acknowledged before it. The first writer to arrive
        leads a group: it runs the writes queued behind it, commits, then hands the lead to the
        next writer in the queue (so no thread leads for long), or gives it up. In a `batch`
        of this thread, the write joins the batch's transaction instead."""
        item = _Queued(fn, threading.get_ident())
        batch = getattr(self._batch, "conn", None)
        if batch is not None:
            with self._savepoint(batch, item.failed):
                self._run_one(item, batch)
            return item.outcome()
        with self._group_lock:
            lead = not self._group_leading
            if not lead:  # it will wait, and may run on the leader's thread
                item.follow()
            self._group_queue.append(item)
            self._group_leading = True
        if not lead:
            item.wake.wait()
            if not item.promoted:
                return item.outcome()
        with self._group_lock:
            group = self._group_queue[:SQLITE_GROUP_MAX]
            del self._group_queue[:SQLITE_GROUP_MAX]
        try:
            self._run_group(group)
        finally:
            with self._group_lock:
                if self._group_queue:
                    following = self._group_queue[0]
                    following.promoted = True
                    following.wake.set()
                else:
                    self._group_leading = False
            for other in group:
                if other is not item:
                    other.wake.set()
        return item.outcome()

    def _run_group(self, group: list[_Queued[Any]]) -> None:
        try:
            conn = self._sqlite_begin()
        except BaseException as exc:
            _fail(group, exc)
            return
        try:
            if len(group) == 1:  # alone: no savepoint, a failure rolls the whole back
                self._run_one(group[0], conn)
                if group[0].error is not None:
                    self._sqlite_end(conn, failed=True)
                    return
            else:
                for queued in group:
                    with self._savepoint(conn, queued.failed):
                        self._run_one(queued, conn)
        except BaseException as exc:
            self._sqlite_end(conn, failed=True)
            _fail(group, exc)
            return
        try:
            self._sqlite_end(conn)
        except BaseException as exc:  # the commit failed: none is done
            _fail(group, exc)

    def _run_one(self, queued: _Queued[Any], conn: Connection) -> None:
        self._running_for.ident = queued.ident
        try:
            if queued.ident == threading.get_ident():
                queued.result = queued.fn(conn)
            else:  # another thread's write sees its context (a test community's time)
                queued.result = queued.context.run(queued.fn, conn)
        except BaseException as exc:
            queued.error = exc
        finally:
            self._running_for.ident = None

    # ---- schema ----

    def create_schema(self, *, shard_count: int | None = None) -> None:
        """Create every table and the append-only guards (what `jeton migrate` applies); on a
        Citus coordinator, distribute them (`shard_count` shards per table, the first time)."""
        from jeton.store.migrate import upgrade

        upgrade(self, shard_count=shard_count)

    def drop_schema(self) -> None:
        """Drop everything Jeton made. For tests and `jeton demo --reset` only."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            metadata.drop_all(conn)
            if self.dialect == "sqlite":
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")

    def release(self) -> None:
        """Give every kept writer connection back to the pool (call when writers are idle)."""
        with self._writers_lock:
            kept = list(self._writers.items())
        for tid, conn in kept:
            self._drop_writer(tid, conn)

    def dispose(self) -> None:
        """Close every connection (once the threads that use the store are done)."""
        self.release()
        self.engine.dispose()


def in_autocommit(conn: Connection) -> bool:
    """Whether `conn` is a `Store.read` connection of PostgreSQL: each statement its own
    snapshot, no transaction whose reads must agree (SQLAlchemy's `in_transaction` says True
    there once a statement has run, so it cannot tell)."""
    return conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"


def _fail(group: list[_Queued[Any]], exc: BaseException) -> None:
    """The group's transaction failed: none of its writes is done."""
    for queued in group:
        if queued.error is None:
            queued.error = exc
            queued.result = None


_NO_CONTEXT = contextvars.Context()


class _Wake:
    """Wakes one waiting writer, once: a lock held from birth that `set` releases and `wait`
    acquires. `threading.Event` does the same with a condition variable, a lock and a list of
    waiters, and made a tenth of a busy server's CPU (creating them, notifying them)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def wait(self) -> None:
        self._lock.acquire()

    def set(self) -> None:
        if self._lock.locked():
            self._lock.release()


_NO_WAKE = _Wake()  # a leader's: never waited on


class _Queued(Generic[T]):
    """A write waiting for its group's commit, then its outcome."""

    __slots__ = ("context", "error", "fn", "ident", "promoted", "result", "wake")

    def __init__(self, fn: Callable[[Connection], T], ident: int) -> None:
        self.fn = fn
        self.ident = ident
        self.context: contextvars.Context = _NO_CONTEXT
        self.wake: _Wake = _NO_WAKE
        self.promoted = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def follow(self) -> None:
        """Ready to wait for a leader: an event to be woken by, and the caller's context for
        the leader's thread to run it in (a test community's time). A leader needs neither."""
        self.context = contextvars.copy_context()
        self.wake = _Wake()

    def failed(self) -> bool:
        return self.error is not None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


def normalize_url(url: str) -> str:
    """Accept the URLs operators write (`postgresql://`, `postgres://`) and pick psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError("JETON_SQLITE_SYNCHRONOUS must be FULL, EXTRA or NORMAL")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages per connection
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
        cur.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_KEPT_BYTES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the driver: every unit of work begins here, and SQLAlchemy's statement machinery
        # would cost more than SQLite's BEGIN itself.
        driver: Any = conn.connection.dbapi_connection
        if driver.in_transaction:  # a kept writer's transaction, begun on the driver
            return
        driver.execute(conn.get_execution_options().get("jeton_begin", "BEGIN"))


def open_store(url: str | None = None, **kwargs: Any) -> Store:
    """Open the store named by `url`, or by JETON_DATABASE_URL, or `sqlite:///jeton.db`."""
    from jeton.config import Settings

    settings = Settings.from_env()
    return Store(url or settings.database_url,
                 sqlite_synchronous=kwargs.pop("sqlite_synchronous", settings.sqlite_synchronous),
                 **kwargs)
