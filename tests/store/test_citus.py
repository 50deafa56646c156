"""On a Citus coordinator `jeton migrate` distributes the schema: every table by community_id in
one colocation group, the write functions beside them, the journal still append-only.

The ledger's own scenarios run on Citus through the `store` and `server_store` fixtures
(tests/conftest.py); these tests are about the distribution itself.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

import jeton
from conftest import CITUS_TEST_SHARD_COUNT, citus_url, drop_pg_store, make_pg_store
from jeton.store.citus import DISTRIBUTE_LOCK, Distributed
from jeton.store.engine import Store, normalize_url
from jeton.store.migrate import upgrade
from jeton.store.tables import metadata

pytestmark = pytest.mark.citus


def _distribution(store: Store) -> dict[str, tuple[str, str, int]]:
    """table -> (method, column, colocation id) of every distributed table of the schema."""
    with store.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.relname, d.partmethod, "
            "column_to_column_name(d.logicalrelid, d.partkey), d.colocationid "
            "FROM pg_dist_partition d JOIN pg_class c ON c.oid = d.logicalrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace").all()
    return {name: (method, column, colocation) for name, method, column, colocation in rows}


def test_every_table_is_distributed_by_community_in_one_colocation_group(
        citus_store: Store) -> None:
    found = _distribution(citus_store)
    assert set(found) == set(metadata.tables)  # alembic_version stays local
    assert {(method, column) for method, column, _ in found.values()} == {
        ("h", "community_id")}
    assert len({colocation for _, _, colocation in found.values()}) == 1


def test_the_colocation_group_is_jetons_own() -> None:
    """Not Citus's default group of every table of 4 shards keyed by varchar: another table of
    that shape, distributed first, does not join Jeton's group (it would move with Jeton's
    shards, and split with them when a community gets shards of its own)."""
    admin = sa.create_engine(normalize_url(citus_url()))
    other = f"other_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.exec_driver_sql("SET LOCAL citus.enable_schema_based_sharding = off")
        conn.exec_driver_sql(f"CREATE SCHEMA {other}")
        conn.exec_driver_sql(f"CREATE TABLE {other}.t (community_id varchar PRIMARY KEY)")
        conn.exec_driver_sql(f"SELECT create_distributed_table('{other}.t', 'community_id', "
                             f"shard_count => {CITUS_TEST_SHARD_COUNT})")
    store = make_pg_store(citus=True)
    try:
        with store.read() as conn:
            outside = conn.exec_driver_sql(
                "SELECT d.logicalrelid::text FROM pg_dist_partition d "
                "JOIN pg_class c ON c.oid = d.logicalrelid "
                "WHERE c.relnamespace <> current_schema()::regnamespace AND d.colocationid = "
                "(SELECT colocationid FROM pg_dist_partition "
                " WHERE logicalrelid = 'communities'::regclass)").scalars().all()
        assert outside == []
    finally:
        drop_pg_store(store)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {other} CASCADE")
        admin.dispose()


def test_a_migrate_waits_for_another_one_distributing_in_the_database(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two distributions at once (two schemas, or two processes) would each add a colocation
    group, then wait on the other's to distribute a function: Citus reports a deadlock. The
    second waits for the first to commit instead."""
    admin = sa.create_engine(normalize_url(citus_url()))
    made: list[Store] = []
    second_name = f"second-migrate-{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:  # as a migrate in progress would
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": DISTRIBUTE_LOCK})
        monkeypatch.setenv("PGAPPNAME", second_name)  # the connections opened from here on
        second = threading.Thread(target=lambda: made.append(make_pg_store(citus=True)))
        second.start()
        deadline = time.monotonic() + 120
        while second.is_alive() and not _waiting_for_the_lock(admin, second_name) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _waiting_for_the_lock(admin, second_name)
        assert not made
    second.join(timeout=120)
    admin.dispose()
    assert made, "the second migrate never finished"
    try:
        assert set(_distribution(made[0])) == set(metadata.tables)
    finally:
        drop_pg_store(made[0])


def _waiting_for_the_lock(admin: sa.Engine, application: str) -> bool:
    with admin.connect() as conn:
        return bool(conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND NOT l.granted "
            "AND (l.classid::bigint << 32 | l.objid::bigint) = %(k)s "
            "AND a.application_name = %(app)s",
            {"k": DISTRIBUTE_LOCK, "app": application}).scalar_one())


def test_migrate_again_distributes_only_what_is_not_yet(citus_store: Store) -> None:
    assert upgrade(citus_store) == Distributed()  # nothing left to do
    with citus_store.write() as conn:  # as if a later migration had added job_runs
        conn.exec_driver_sql("SELECT undistribute_table('job_runs')")
    assert "job_runs" not in _distribution(citus_store)
    done = upgrade(citus_store)
    assert done is not None
    assert done.tables == ["job_runs"]
    assert len({c for _, _, c in _distribution(citus_store).values()}) == 1


def test_a_write_function_taking_a_community_id_becomes_distributed(citus_store: Store) -> None:
    with citus_store.write() as conn:  # what the write-path migrations will install
        conn.exec_driver_sql(
            "CREATE FUNCTION jeton_probe(p_community_id text, amount bigint) RETURNS bigint "
            "LANGUAGE sql AS $$ SELECT amount $$")
        conn.exec_driver_sql(
            "CREATE FUNCTION jeton_other(note text) RETURNS text LANGUAGE sql AS $$ SELECT note $$")
    done = upgrade(citus_store)
    assert done is not None
    assert done.functions == ["jeton_probe(text,bigint)"]
    with citus_store.read() as conn:
        arg_index, same_group = conn.exec_driver_sql(
            "SELECT o.distribution_argument_index, o.colocationid = d.colocationid "
            "FROM pg_dist_object o, pg_dist_partition d "
            "WHERE o.objid = 'jeton_probe'::regproc AND d.logicalrelid = 'communities'::regclass"
        ).one()
    assert (arg_index, same_group) == (0, True)


def test_the_journal_stays_append_only_when_a_community_gets_shards_of_its_own(
        citus_store: Store) -> None:
    j = jeton.Jeton(citus_store)
    for cid in ("big", "small"):
        c = j.create_community(cid.title(), community_id=cid)
        c.create_member("ann")
        c.grant("ann", 5, idempotency_key="g")
    with citus_store.write() as conn:
        conn.exec_driver_sql("SELECT isolate_tenant_to_new_shard('communities', 'big', 'CASCADE',"
                             " shard_transfer_mode => 'block_writes')")
    for table, statement in [
            ("postings", "UPDATE postings SET amount = 500 WHERE community_id = 'big'"),
            ("transfers", "DELETE FROM transfers WHERE community_id = 'big'"),
            ("posting_lots", "DELETE FROM posting_lots"),
            ("seals", "TRUNCATE seals")]:
        # The trigger fires on a shard (postings_102008); the message names the table.
        with pytest.raises(Exception, match=rf"jeton: {table} is append-only"), \
                citus_store.write() as conn:
            conn.exec_driver_sql(statement)
    assert j.community("big").spend("ann", 2, idempotency_key="s").balance_after == 3


@contextmanager
def _worker_commands(store: Store) -> Iterator[list[tuple[str, str]]]:
    """Every command the coordinator sends a worker while the block runs, as (worker, SQL).

    Citus reports each one (`citus.log_remote_commands`); one command is one round trip. The
    store keeps a single pooled connection, so the block's writes run on the one set up here."""
    seen: list[tuple[str, str]] = []

    def heard(diag: Any) -> None:
        if (diag.message_primary or "").startswith("issuing "):
            seen.append(((diag.message_detail or "").split(" connectionId")[0],
                         diag.message_primary[len("issuing "):]))

    with store.engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        conn.exec_driver_sql("SET citus.log_remote_commands = on")
        conn.exec_driver_sql("SET client_min_messages = log")
        conn.commit()
        driver.add_notice_handler(heard)
    try:
        yield seen
    finally:
        driver.remove_notice_handler(heard)
        store.dispose()  # the settings must not outlive the count


def _spend_commands() -> list[tuple[str, str]]:
    store = make_pg_store(citus=True, pool_size=1)
    try:
        chat = jeton.Jeton(store).create_community("Chat", community_id="chat")
        chat.create_member("ann")
        chat.grant("ann", 50, idempotency_key="g")
        chat.spend("ann", 1, idempotency_key="warm")  # caches filled, as in a running server
        with _worker_commands(store) as seen:
            chat.spend("ann", 1, idempotency_key="counted")
        return list(seen)
    finally:
        drop_pg_store(store)


def test_every_command_of_a_spend_goes_to_the_one_worker_of_its_community() -> None:
    seen = _spend_commands()
    assert seen, "Citus reported no command: is citus.log_remote_commands available?"
    assert len({worker for worker, _ in seen}) == 1, seen


def test_a_spend_is_one_round_trip_to_a_worker() -> None:
    # One call of the distributed function `jeton_spend` (decision 0078), which Citus names
    # with its schema when it sends it on.
    seen = _spend_commands()
    assert [sql.split("(")[0].split(".")[-1] for _, sql in seen] == ["jeton_spend"], seen
    assert seen[0][1].startswith("SELECT "), seen
