"""Citus (distributed PostgreSQL): what `jeton migrate` adds on a coordinator.

Every Jeton table is distributed by `community_id` in one colocation group led by `communities`,
so a community's rows all live on one worker and each write of a community is a single-shard
transaction; only `alembic_version` stays a local table. The write functions the migrations
install (`jeton_*` with a `community_id` or `p_community_id` argument) become distributed
functions colocated with `communities`: one call is one coordinator->worker round trip.

`distribute` runs after every upgrade, in the upgrade's transaction, so tables and functions
that later migrations add are distributed too; once everything is, it only reads the catalog.
The journal stays append-only through triggers created on the shards (docs/decisions/0036).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from jeton.core.errors import invariant
from jeton.store.dialect import append_only_triggers
from jeton.store.tables import metadata
from jeton.store.tables.ledger import JOURNAL_TABLES

DISTRIBUTION_COLUMN = "community_id"
COLOCATION_LEADER = "communities"  # distributed first; every other table colocates with it
LOCAL_TABLES = ("alembic_version",)
FUNCTION_PREFIX = "jeton_"
FUNCTION_DISTRIBUTION_ARGS = ("community_id", "p_community_id")
DISTRIBUTE_LOCK = 0x6A65746F6E  # the advisory lock `distribute` holds until its commit


@dataclass(slots=True)
class Distributed:
    """What one `distribute` call changed (all empty when the schema was distributed already)."""

    tables: list[str] = field(default_factory=list)
    guarded: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)


def is_citus(conn: Connection) -> bool:
    """Is this a PostgreSQL database with the Citus extension (a coordinator, for Jeton)?"""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'citus'").first()
    return found is not None


def distribute(conn: Connection, *, shard_count: int | None = None) -> Distributed:
    """Distribute every Jeton table and write function not distributed yet (idempotent).

    `shard_count` applies when `communities` is first distributed (Citus's `citus.shard_count`
    otherwise); the colocation group keeps it for every table after."""
    done = Distributed()
    schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    # One distribute at a time in the database: two at once (two schemas, or two processes
    # migrating one) would each add a colocation group and then wait on the other's to
    # distribute a function, a deadlock. A distribute copies a table's rows to the shards or
    # waits for another: the write path's statement timeout is not meant for it.
    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": DISTRIBUTE_LOCK})
    # Journal tables carry their append-only triggers onto the shards. Citus calls triggers on
    # distributed tables unsafe because a trigger on a shard may touch other shards; ours only
    # raise. SET LOCAL: the setting ends with this transaction.
    conn.exec_driver_sql("SET LOCAL citus.enable_unsafe_triggers = on")
    distributed = _distributed_tables(conn, schema)
    for table in _tables_in_order():
        if table in distributed:
            continue
        invariant(DISTRIBUTION_COLUMN in metadata.tables[table].c,
                  f"table {table} has no {DISTRIBUTION_COLUMN}: it cannot be distributed")
        if table == COLOCATION_LEADER:
            # A colocation group of Jeton's own ('none'), not Citus's default group for every
            # table of the same shard count and column type: another application's tables (or
            # another Jeton schema) never move with ours, and two schemas distributed at once
            # do not contend for the lock on the default group's first table.
            conn.exec_driver_sql(
                "SELECT create_distributed_table(%(t)s, %(col)s, colocate_with => 'none'"
                + (", shard_count => %(n)s)" if shard_count else ")"),
                {"t": _qualified(schema, table), "col": DISTRIBUTION_COLUMN, "n": shard_count})
        else:
            conn.exec_driver_sql(
                "SELECT create_distributed_table(%(t)s, %(col)s, colocate_with => %(with)s)",
                {"t": _qualified(schema, table), "col": DISTRIBUTION_COLUMN,
                 "with": _qualified(schema, COLOCATION_LEADER)})
        done.tables.append(table)
    done.guarded = _guard_journal(conn, schema)
    done.functions = distribute_functions(conn, schema)
    return done


def distribute_functions(conn: Connection, schema: str) -> list[str]:
    """Make every `jeton_*` function of `schema` that takes a community id a distributed
    function colocated with `communities`, so Citus runs a call on the community's worker."""
    rows = conn.exec_driver_sql(
        "SELECT p.oid::regprocedure::text, p.proargnames, p.proargmodes FROM pg_proc p "
        "WHERE p.pronamespace = %(schema)s::regnamespace AND p.proname LIKE 'jeton\\_%%' "
        "AND p.proargnames && %(args)s::text[] "
        "AND NOT EXISTS (SELECT 1 FROM pg_dist_object d WHERE d.classid = 'pg_proc'::regclass "
        "AND d.objid = p.oid AND d.distribution_argument_index IS NOT NULL) "
        "ORDER BY 1", {"schema": schema, "args": list(FUNCTION_DISTRIBUTION_ARGS)}).all()
    done: list[str] = []
    for signature, names, modes in rows:
        inputs = [n for i, n in enumerate(names)
                  if modes is None or modes[i] in ("i", "b")]  # not OUT or TABLE columns
        arg = next((a for a in FUNCTION_DISTRIBUTION_ARGS if a in inputs), None)
        if arg is None:  # the community id is only an output column: nothing to route by
            continue
        conn.exec_driver_sql(
            "SELECT create_distributed_function(%(f)s, distribution_arg_name => %(arg)s, "
            "colocate_with => %(with)s)",
            {"f": signature, "arg": arg, "with": _qualified(schema, COLOCATION_LEADER)})
        done.append(signature)
    return done


def _tables_in_order() -> list[str]:
    """`communities` first, then every table after those its foreign keys point to."""
    names = [t.name for t in metadata.sorted_tables]
    return [COLOCATION_LEADER] + [n for n in names if n != COLOCATION_LEADER]


def _distributed_tables(conn: Connection, schema: str) -> set[str]:
    return set(conn.exec_driver_sql(
        "SELECT c.relname FROM pg_dist_partition d JOIN pg_class c ON c.oid = d.logicalrelid "
        "WHERE c.relnamespace = %(schema)s::regnamespace", {"schema": schema}).scalars())


def _guard_journal(conn: Connection, schema: str) -> list[str]:
    """Create the append-only triggers on any distributed journal table that lacks them (Citus
    creates them on every shard, and on the shards a rebalance or a tenant split makes)."""
    have = set(conn.exec_driver_sql(
        "SELECT c.relname || '/' || t.tgname FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = %(schema)s::regnamespace",
        {"schema": schema}).scalars())
    done: list[str] = []
    for table in JOURNAL_TABLES:
        if {f"{table}/{table}_append_only", f"{table}/{table}_no_truncate"} <= have:
            continue
        for statement in append_only_triggers(table):
            conn.exec_driver_sql(statement)
        done.append(table)
    return done


def _qualified(schema: str, table: str) -> str:
    return f'"{schema}"."{table}"'
