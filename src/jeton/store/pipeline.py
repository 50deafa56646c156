"""Several statements to PostgreSQL in one round trip: libpq's pipeline mode, used directly.

A ledger write on PostgreSQL is two round trips (decision 0037): BEGIN with every read it
needs (the key, the locked wallets, their lots, what the hooks ask), then every row it writes
with COMMIT. psycopg's own pipeline context costs a round trip of its own to begin a
transaction and another to leave pipeline mode, so the hot path talks to libpq (through
psycopg's `pgconn`) itself: it queues the statements and one Sync, then reads the results.

Statements are prepared once per connection (named `jeton_<n>`) and sent with text parameters;
only the plain values of the hot path cross (str, int, bool, None). PostgreSQL keeps a generic
plan for each after five runs: a statement sent here must keep its whole key in that plan's
index condition whatever the statistics (a list of ids as one lookup each, decision 0123). The
runs of a `ManyRows` INSERT (a write's postings, a group's transfers) go as statements of
several rows each (decision 0120).
Results are loaded by psycopg's own loaders, as tuples. The transaction the statements open or
close is the one psycopg tracks from the server's own status, so SQLAlchemy and psycopg carry
on with it as usual.

A statement that fails aborts the rest of its pipeline (a COMMIT in it included): the error is
raised as psycopg raises it (same class, `sqlstate` and `diag`), so the retry and unique-key
checks of the callers see what they always saw, and the rollback that follows is psycopg's.
"""

from __future__ import annotations

import re
import select
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import abc, pq
from psycopg import errors as pg_errors
from psycopg.adapt import Transformer

_NAMED = re.compile(r"%\((\w+)\)s")
# A batch's savepoint (store/transactions.py): each write of a batch runs under it.
SAVEPOINT = "SAVEPOINT jeton_write"
RELEASE = "RELEASE SAVEPOINT jeton_write"
ROLLBACK_TO = "ROLLBACK TO SAVEPOINT jeton_write"
_COMMANDS = frozenset({"BEGIN", "COMMIT", SAVEPOINT, RELEASE, ROLLBACK_TO})
_FATAL = pq.ExecStatus.FATAL_ERROR
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_IN_TRANSACTION = pq.TransactionStatus.INTRANS
# In `expected`, a BEGIN not sent: the transaction was open already. It answers no rows.
_NOT_SENT = b""


class Statement:
    """A statement in `%(name)s` form (as `fastsql.compiled` gives for psycopg), turned once
    into libpq's `$n` form with the order of its parameters."""

    __slots__ = ("name", "names", "sql")

    def __init__(self, sql: str, number_: int) -> None:
        names: list[str] = []

        def number(m: re.Match[str]) -> str:
            if m.group(1) not in names:
                names.append(m.group(1))
            return f"${names.index(m.group(1)) + 1}"

        self.sql = _NAMED.sub(number, sql).replace("%%", "%").encode()
        self.names = tuple(names)
        self.name = f"jeton_{number_}".encode()


class ManyRows(str):
    """An `INSERT ... VALUES (...)` whose runs go as statements of several rows each: the
    runs in chunks of a power of two (at most `ROWS_MAX`), each one execution of a statement
    prepared for its size. PostgreSQL then handles one message and one executor start a chunk
    instead of a row; the rows and their order are the same. Each run still answers its own
    (empty) result. A statement of any other shape runs row by row."""

    __slots__ = ()


ROWS_MAX = 64  # rows of one multi-row INSERT: a few prepared sizes serve every count
_ROWS_SQL: dict[tuple[str, int], str | None] = {}


def rows_sql(sql: str, size: int) -> str | None:
    """`sql` (one row's `INSERT ... VALUES (...)`, or an UPDATE of one row by its community
    and key) for `size` rows, each row's parameters named `<name>__<row>` in the order of the
    one row's; None for any other shape."""
    key = (sql, size)
    if key in _ROWS_SQL:
        return _ROWS_SQL[key]
    found: str | None = None
    head, sep, group = sql.rpartition(" VALUES ")
    if sep and group.startswith("(") and _closes_at_end(group):
        found = head + sep + ", ".join(
            _NAMED.sub(rf"%(\1__{k})s", group) for k in range(size))
    elif (update := _UPDATE_BY_KEY.match(sql)) is not None:
        found = _update_rows(update, size)
    _ROWS_SQL[key] = found
    return found


# `UPDATE t SET a=%(a)s::T, ... WHERE t.community_id = %(b_community)s::VARCHAR AND
# t.<key> = %(b_<key>)s::VARCHAR`: what `fastsql` compiles for the ledger's row updates.
_UPDATE_BY_KEY = re.compile(
    r"UPDATE (\w+) SET (.+) WHERE \1\.community_id = %\(b_community\)s::VARCHAR "
    r"AND \1\.(\w+) = %\((b_\w+)\)s::VARCHAR")
_SET = re.compile(r"(\w+)=%\((\w+)\)s(::\w+)")


def _update_rows(update: re.Match[str], size: int) -> str | None:
    """The UPDATE of `update` for `size` rows of one community. Each row's values come in a
    VALUES list (its parameters in the one row's order), each row is found by its key, one
    index lookup a row (`JOIN LATERAL ... OFFSET 0`, as `statements.for_each_row` reads), and
    updated by the physical address that lookup gave: a plain join of the VALUES list to the
    table was planned, on a new database, as a read of the community's every row (decision
    0125). The address stays the row's until the statement ends because a write updates only
    rows it has locked (it sets their new values, not a change to them). The rows of one
    statement share their community (`b_community`: the first row's is the one compared;
    `fastsql.Queue` sends nothing else), as a write's rows do."""
    table, assignments, key, key_param = update.groups()
    sets = _SET.findall(assignments)
    if ", ".join(f"{c}=%({p})s{t}" for c, p, t in sets) != assignments:
        return None  # an assignment of another shape
    columns = [(p, t) for _, p, t in sets] + [("b_community", "::VARCHAR"),
                                              (key_param, "::VARCHAR")]
    values = ", ".join("(" + ", ".join(f"%({p}__{k})s{t}" for p, t in columns) + ")"
                       for k in range(size))
    community = "%(b_community__0)s::VARCHAR"
    assigned = ", ".join(f"{c}=u.{p}" for c, p, _ in sets)
    named = ", ".join(p for p, _ in columns)
    # Names from Jeton's own compiled statement only; every value is a parameter.
    return (f"UPDATE {table} SET {assigned} FROM (SELECT v.*, x.at "  # noqa: S608
            f"FROM (VALUES {values}) AS v ({named}) JOIN LATERAL (SELECT one.ctid AS at "
            f"FROM {table} AS one WHERE one.community_id = {community} "
            f"AND one.{key} = v.{key_param} OFFSET 0) AS x ON true) AS u "
            f"WHERE {table}.community_id = {community} AND {table}.ctid = u.at")


def _closes_at_end(group: str) -> bool:
    """Whether the parenthesis that opens `group` closes at its last character."""
    depth = 0
    for i, char in enumerate(group):
        depth += (char == "(") - (char == ")")
        if depth == 0:
            return i == len(group) - 1
    return False


_STATEMENTS: dict[str, Statement] = {}
# The statements each connection has prepared, by its psycopg connection.
_PREPARED: weakref.WeakKeyDictionary[psycopg.Connection[Any], set[bytes]] = (
    weakref.WeakKeyDictionary())


# Names are handed out under a lock: two threads naming two statements alike would make one
# connection run the other's statement.
_NAMING = threading.Lock()


def statement(sql: str) -> Statement:
    found = _STATEMENTS.get(sql)
    if found is None:
        with _NAMING:
            found = _STATEMENTS.get(sql)
            if found is None:
                found = _STATEMENTS[sql] = Statement(sql, len(_STATEMENTS) + 1)
    return found


def prepared_sql() -> list[str]:
    """The SQL (`$n` form) of every statement a live connection of this process has prepared:
    for `generic_plan` (scripts/generic-plans, tests)."""
    with _NAMING:
        names = set().union(*_PREPARED.values())
    return [st.sql.decode() for st in _STATEMENTS.values() if st.name in names]


def generic_plan(conn: psycopg.Connection[Any], sql: str) -> list[str]:
    """The lines of the plan PostgreSQL would keep for `sql` (`$n` form) once prepared and run
    more than five times: its generic plan (decision 0123). Prepared under a name of its own
    on `conn`, explained with NULLs, then dropped; `plan_cache_mode` is put back."""
    conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        conn.execute(f"PREPARE jeton_generic AS {sql}")
        try:
            found = conn.execute("SELECT cardinality(parameter_types) FROM "
                                 "pg_prepared_statements WHERE name = 'jeton_generic'").fetchone()
            nulls = ", ".join(["NULL"] * (found[0] if found else 0))
            return [row[0] for row in conn.execute(
                f"EXPLAIN EXECUTE jeton_generic{f'({nulls})' if nulls else ''}")]
        finally:
            conn.execute("DEALLOCATE jeton_generic")
    finally:
        conn.execute("RESET plan_cache_mode")


def _param(value: Any) -> bytes | None:
    if value is None:
        return None
    if value is True:
        return b"t"
    if value is False:
        return b"f"
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int):
        return str(value).encode()
    raise TypeError(f"the hot path sends str, int, bool or None, not {type(value).__name__}")


def _rows(tx: abc.Transformer, result: pq.abc.PGresult) -> list[tuple[Any, ...]]:
    """The rows of `result` as Python values, by psycopg's own loaders (its C ones where
    installed): ints for integer columns, bools, str for text."""
    tx.set_pgresult(result)
    return tx.load_rows(0, result.ntuples, tuple)


def run(conn: psycopg.Connection[Any],
        work: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> list[list[tuple[Any, ...]]]:
    """Send every statement of `work` (SQL in `%(name)s` form, and the parameters of each of
    its executions: one dict per run; "BEGIN" and "COMMIT" with one empty run) in one
    pipeline with one Sync, wait once, and return the rows of each execution in order.
    Raises the first error, after reading everything.

    A BEGIN is not sent when the connection is in a transaction already (a statement of the
    same write went first through SQLAlchemy, which psycopg opened it for): the statements join
    it, and PostgreSQL has no "already a transaction in progress" to warn of."""
    pgconn = conn.pgconn
    with _NAMING:
        prepared = _PREPARED.setdefault(conn, set())
    tx: abc.Transformer = Transformer(conn)
    # What each result answers: an execution (None) or the prepare of this statement name.
    expected: list[bytes | None] = []
    with conn.lock:
        in_transaction = pgconn.transaction_status == _IN_TRANSACTION
        pgconn.enter_pipeline_mode()
        try:
            for sql, runs in work:
                if sql in _COMMANDS:  # utility commands: sent as they are, never prepared
                    if sql == "BEGIN" and in_transaction:
                        expected.append(_NOT_SENT)
                        continue
                    pgconn.send_query_params(sql.encode(), None)
                    expected.append(None)
                    continue
                st = statement(sql)
                if isinstance(sql, ManyRows) and len(runs) > 1 and rows_sql(sql, 2):
                    _send_rows(pgconn, sql, st, runs, prepared, expected)
                    continue
                if st.name not in prepared and st.name not in expected:
                    pgconn.send_prepare(st.name, st.sql)
                    expected.append(st.name)
                for params in runs:  # text parameters: most are str, encoded in line
                    pgconn.send_query_prepared(st.name, [
                        v.encode() if v.__class__ is str else _param(v)
                        for v in map(params.__getitem__, st.names)])
                    expected.append(None)
            pgconn.pipeline_sync()
            _send(pgconn)
            out: list[list[tuple[Any, ...]]] = []
            error: pq.abc.PGresult | None = None
            for prepare in expected:
                if prepare is _NOT_SENT:
                    out.append([])
                    continue
                result = _result(pgconn)
                while _result(pgconn) is not None:  # each query's results end with NULL
                    pass
                ok = result is not None and result.status not in (_FATAL, _ABORTED)
                if result is not None and result.status == _FATAL and error is None:
                    error = result
                if prepare is not None:
                    if ok:
                        prepared.add(prepare)
                else:  # a write's result has no rows to load
                    out.append(_rows(tx, result) if ok and result is not None
                               and result.ntuples else [])
            sync = _result(pgconn)  # the Sync's own result
            if sync is None or sync.status != pq.ExecStatus.PIPELINE_SYNC:
                raise pg_errors.InternalError("the pipeline lost step with its results")
            if error is not None:
                raise pg_errors.error_from_result(error, encoding=conn.info.encoding)
            return out
        finally:
            pgconn.exit_pipeline_mode()


def _send_rows(pgconn: pq.abc.PGconn, sql: str, one: Statement,
               runs: Sequence[dict[str, Any]], prepared: set[bytes],
               expected: list[bytes | None]) -> None:
    """Send `runs` of `sql` (a `ManyRows`) as multi-row statements, largest chunks first."""
    at = 0
    while at < len(runs):
        size = min(ROWS_MAX, 1 << ((len(runs) - at).bit_length() - 1))
        st = statement(rows_sql(sql, size) or "") if size > 1 else one
        if st.name not in prepared and st.name not in expected:
            pgconn.send_prepare(st.name, st.sql)
            expected.append(st.name)
        values: list[bytes | None] = []
        for params in runs[at:at + size]:
            values += [v.encode() if v.__class__ is str else _param(v)
                       for v in map(params.__getitem__, one.names)]
        pgconn.send_query_prepared(st.name, values)
        expected.append(None)
        expected.extend([_NOT_SENT] * (size - 1))  # the chunk's other rows: no result of own
        at += size


# The connection stays non-blocking, as psycopg keeps it: waits are in `select`, which lets
# other threads run (a blocking libpq call would hold the interpreter while the server works).

def _send(pgconn: pq.abc.PGconn) -> None:
    while pgconn.flush():  # 1: more to send once the socket takes it
        readable, _, _ = select.select([pgconn.socket], [pgconn.socket], [])
        if readable:
            pgconn.consume_input()


def _result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    while pgconn.is_busy():
        select.select([pgconn.socket], [], [])
        pgconn.consume_input()
    return pgconn.get_result()
