"""The write path's pipeline (store/pipeline.py) on a real PostgreSQL: what the server is told."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import jeton
from jeton.payments.offline import DEMO_METHOD_OK
from jeton.services.bench.charging import CATALOG, DOWNLOAD_BYTES
from jeton.services.charging.reads import snapshot_read
from jeton.services.charging.together import ChargeAsk, charge_together
from jeton.services.ledger import preload
from jeton.services.ledger.verify import verify
from jeton.store import migrate, pipeline
from jeton.store.engine import Store
from jeton.store.fastsql import compiled

pytestmark = pytest.mark.postgres


def test_a_write_whose_transaction_is_open_already_sends_no_second_begin(
        pg_store: Store) -> None:
    c = jeton.Jeton(pg_store).create_community("Pipeline", "pl")
    c.create_member("alice")
    c.grant("alice", 100, idempotency_key="seed")
    notices: list[str] = []

    def listen(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.add_notice_handler(
            lambda diag: notices.append(f"{diag.severity}: {diag.message_primary}"))

    sa.event.listen(pg_store.engine, "connect", listen)
    pg_store.dispose()  # new connections from here on, each with the handler
    # A new Jeton checks the community inside its first write, before the pipeline's BEGIN:
    # the transaction is open by then, and the statements join it.
    fresh = jeton.Jeton(pg_store).community("pl")
    fresh.jeton.ledger.spend_in_sql = False  # the Python write, which begins with BEGIN
    fresh.spend("alice", 3, idempotency_key="s1", service="chat.message")
    fresh.spend("alice", 4, idempotency_key="s2", service="chat.message")
    assert notices == []
    assert fresh.balance("alice").available == 93
    assert verify(pg_store, community_id="pl") == []


def _prepared_like(conn: sa.Connection, text: str) -> list[str]:
    return [row[0] for row in conn.exec_driver_sql(
        "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %(t)s "
        "ORDER BY length(statement)", {"t": f"%{text}%"})]


def test_rows_of_one_insert_go_in_statements_of_many_rows_the_same_rows_in_order(
        pg_store: Store) -> None:
    # PostgreSQL handles a message and starts its executor once a statement: the rows of a
    # write's INSERT go in chunks of a power of two (decision 0120), the same rows either way.
    one = "INSERT INTO rows_here (n, label) VALUES (%(n)s::int, %(label)s::text)"
    with pg_store.write() as conn:
        driver: Any = conn.connection.driver_connection
        conn.exec_driver_sql("CREATE TEMP TABLE rows_here (at serial, n int UNIQUE, label text)")
        counts = [1, 2, 3, 7, 64, 65, 130]
        start = 0
        for count in counts:
            runs = [{"n": start + i, "label": None if i % 3 else f"r{start + i}"}
                    for i in range(count)]
            assert pipeline.run(driver, [(pipeline.ManyRows(one), runs)]) == [[]] * count
            start += count
        rows = conn.exec_driver_sql("SELECT n, label FROM rows_here ORDER BY at").all()
        assert [tuple(r) for r in rows] == [
            (n, None if (n - start_of) % 3 else f"r{n}")
            for start_of, count in zip([sum(counts[:k]) for k in range(len(counts))], counts,
                                       strict=True)
            for n in range(start_of, start_of + count)]
        sizes = [s.count("), (") + 1 for s in _prepared_like(conn, "INSERT INTO rows_here")]
        assert sizes == [1, 2, 4, 64]  # 130 rows: two statements of 64 and one of 2
        # A row that breaks a constraint fails its statement as it would alone: the same
        # error, and none of its rows kept.
        nested = conn.begin_nested()
        with pytest.raises(psycopg.errors.UniqueViolation):
            pipeline.run(driver, [(pipeline.ManyRows(one),
                                   [{"n": 1_000, "label": "new"}, {"n": 0, "label": "again"}])])
        nested.rollback()
        assert conn.exec_driver_sql("SELECT count(*) FROM rows_here").scalar() == sum(counts)


def test_an_insert_with_more_after_its_values_runs_row_by_row() -> None:
    assert pipeline.rows_sql("INSERT INTO t (a) VALUES (%(a)s) ON CONFLICT DO NOTHING", 2) is None
    assert pipeline.rows_sql("INSERT INTO t (a) SELECT 1", 2) is None
    assert pipeline.rows_sql("INSERT INTO t (a, b) VALUES (%(a)s, lower(%(b)s))", 2) == (
        "INSERT INTO t (a, b) VALUES (%(a__0)s, lower(%(b__0)s)), (%(a__1)s, lower(%(b__1)s))")


def test_a_spend_sends_its_postings_in_one_statement(pg_store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    c = jeton.Jeton(pg_store).create_community("Rows", "rw")
    c.create_member("alice")
    c.grant("alice", 100, idempotency_key="seed")
    c.jeton.ledger.spend_in_sql = False  # the Python write, whose rows go in its flush
    sent: list[tuple[str, int]] = []
    send_rows = pipeline._send_rows

    def spied(pgconn: Any, sql: str, one: Any, runs: Any, *rest: Any) -> None:
        sent.append((sql.split(" (")[0], len(runs)))
        send_rows(pgconn, sql, one, runs, *rest)

    monkeypatch.setattr(pipeline, "_send_rows", spied)
    c.spend("alice", 3, idempotency_key="s1", service="chat.message")
    assert sent == [("INSERT INTO postings", 2)]  # the wallet's and revenue's: one statement
    assert c.balance("alice").available == 97
    assert verify(pg_store, community_id="rw") == []


def test_a_batchs_keys_are_prepared_and_each_looked_up_by_its_index(pg_store: Store) -> None:
    # Prepared as an IN list, a batch's key read kept the plan PostgreSQL made while the
    # table was small: a scan of every key of the community at every batch once it had grown
    # (decision 0122 measured the HTTP spends at half their rate). One lookup a key keeps the
    # key in the index condition of any plan (decision 0123).
    c = jeton.Jeton(pg_store).create_community("Keys", "ky")
    c.create_member("alice")
    c.grant("alice", 1_000, idempotency_key="seed")

    def batch(tag: str, size: int) -> None:
        results = c.spend_batch([{"member": "alice", "amount": 1, "service": "chat.message",
                                  "idempotency_key": f"{tag}{size}-{i}"} for i in range(size)])
        assert [r.status for r in results] == ["ok"] * size

    for tag in ("a", "b", "c", "d", "e", "f"):  # past PostgreSQL's five custom plans
        batch(tag, 3)  # keys read in a list of 4
        batch(tag, 33)  # in a list of 64
    again = c.spend_batch([{"member": "alice", "amount": 1, "service": "chat.message",
                            "idempotency_key": "a3-1"}])  # a replay, found by the same read
    assert again[0].result is not None
    assert again[0].result.replayed
    with pg_store.write() as conn:
        reads = [s for s in _prepared_like(conn, "FROM idempotency_keys") if "VALUES" in s]
        assert [s.count("), ($") + 1 for s in reads] == [4, 64]
        driver: Any = conn.connection.driver_connection
        for sql in reads:
            plan = "\n".join(pipeline.generic_plan(driver, sql))
            assert '(key)::text = "*VALUES*".column1' in plan, plan
    assert c.balance("alice").available == 1_000 - 6 * 36
    assert verify(pg_store, community_id="ky") == []


def _write_of_every_kind(c: jeton.Community, tag: str) -> None:
    """One write of each kind the ledger pipelines, several wallets at a time where it can."""
    c.spend("alice", 2, idempotency_key=f"{tag}-split", service="chat.message",
            splits=[{"member": "bob", "amount": 1}, {"member": "carol", "amount": 1}])
    c.charge("alice", "bench.download", DOWNLOAD_BYTES, context={"uploader": "uploader"},
             idempotency_key=f"{tag}-charge")
    made = charge_together(c.jeton.charging, c.id, [
        ChargeAsk(m, "bench.download", DOWNLOAD_BYTES, f"{tag}-together-{m}",
                  context={"uploader": "uploader"}) for m in ("alice", "bob", "carol")])
    assert all(m is not None for m in made)
    results = c.spend_batch([{"member": m, "amount": 1, "idempotency_key": f"{tag}-batch-{m}"}
                             for m in ("alice", "bob", "carol")])
    assert [r.status for r in results] == ["ok"] * 3
    moved = c.transfer("alice", "bob", 3, idempotency_key=f"{tag}-transfer")
    hold = c.hold("bob", 10, idempotency_key=f"{tag}-hold")
    c.capture(hold.id, 5, idempotency_key=f"{tag}-capture",
              splits=[{"member": "carol", "amount": 2}, {"member": "alice", "amount": 1}])
    c.reverse(moved.id, idempotency_key=f"{tag}-reverse")


def test_no_prepared_statement_of_a_write_reads_a_list_of_wallets_by_the_community_alone(
        pg_store: Store) -> None:
    # PostgreSQL keeps a generic plan for a prepared statement after five runs where it costs
    # no more than planning with the values. For `account_id IN (...)` that plan may read the
    # community's index and compare every row with the list: on a new database's empty tables,
    # and with statistics where thousands of small communities sit beside a large one (17 ms a
    # read for 50,000 wallets; decision 0123). Lists of wallets are one lookup an id instead.
    c = jeton.Jeton(pg_store).create_community("Plans", "pn")
    c.create_account("appstore")
    for m in ("alice", "bob", "carol", "uploader"):
        c.create_member(m)
    c.load_catalog(CATALOG, "toml", actor="test")
    for m in ("alice", "bob", "carol"):
        c.grant(m, 100_000, idempotency_key=f"seed-{m}")
    for i in range(7):  # past the five runs planned with their values
        _write_of_every_kind(c, f"w{i}")
    with pg_store.write() as conn:
        driver: Any = conn.connection.driver_connection
        plans = {sql: pipeline.generic_plan(driver, sql) for sql in pipeline.prepared_sql()}
    by_list = {sql: plan for sql, plan in plans.items()
               if any("Filter:" in line and "ANY (" in line for line in plan)}
    assert by_list == {}
    lateral = [sql for sql in plans if "JOIN LATERAL" in sql]
    assert len(lateral) >= 4  # wallets locked, read, their live lots and their credit lots
    assert c.balance("alice").available + c.balance("bob").available + c.balance(
        "carol").available < 300_000
    assert verify(pg_store, community_id="pn") == []


def test_a_writes_changes_to_several_rows_of_a_table_are_one_update_each_row_by_its_key(
        pg_store: Store) -> None:
    # PostgreSQL reads a table's CHECK constraints from their text and readies them at every
    # statement that writes it: a write that changes two wallets and two lots updates each
    # table in one statement (decision 0125). Each row is found by its key and updated by the
    # address that gave: a plain join of the VALUES list to the table was planned, on this
    # new database, as a read of every row of the community.
    c = jeton.Jeton(pg_store).create_community("Updates", "up")
    for m in ("alice", "bob"):
        c.create_member(m)
    for i in range(3):
        c.grant("alice", 10, idempotency_key=f"seed-{i}", priority=i)  # a lot each
    for i in range(7):  # past the five runs planned with their values
        c.transfer("alice", "bob", 2, idempotency_key=f"t{i}")
    assert [c.balance(m).available for m in ("alice", "bob")] == [16, 14]
    assert verify(pg_store, community_id="up") == []
    updates = {sql.split()[1]: sql for sql in pipeline.prepared_sql()
               if sql.startswith("UPDATE") and "FROM (VALUES" in sql and "$10" in sql
               and "$11" not in sql}  # two rows
    assert set(updates) >= {"accounts", "lots"}
    with pg_store.write() as conn:
        driver: Any = conn.connection.driver_connection
        for table in ("accounts", "lots"):
            plan = pipeline.generic_plan(driver, updates[table])
            key = "account_id" if table == "accounts" else "lot_id"
            assert any("TID Cond" in line for line in plan), plan
            conditions = [line for line in plan if "Index Cond" in line]
            assert conditions, plan
            assert all(key in line for line in conditions), plan
            assert not any("Seq Scan" in line for line in plan), plan


def test_the_server_settings_that_keep_plans_good_are_checked(pg_store: Store,
                                                              tmp_path: Any) -> None:
    # The plans of prepared statements follow the tables' statistics only while autovacuum
    # analyzes them (decision 0123): `jeton serve` and `jeton migrate` say when it cannot.
    with pg_store.read() as conn:
        autovacuum = conn.exec_driver_sql("SHOW autovacuum").scalar()
    warned = migrate.server_warnings(pg_store)
    assert [w.split(" ")[0] for w in warned] == ([] if autovacuum == "on" else ["autovacuum"])

    def counts_off(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("SET track_counts = off")
        dbapi_connection.commit()

    sa.event.listen(pg_store.engine, "connect", counts_off)
    pg_store.dispose()  # new connections from here on, each with the setting
    assert [w.split(" ")[0] for w in migrate.server_warnings(pg_store)] == [
        *([] if autovacuum == "on" else ["autovacuum"]), "track_counts"]
    assert migrate.server_warnings(Store(f"sqlite:///{tmp_path}/plain.db")) == []


def test_a_batchs_reads_for_many_members_find_what_each_members_read_finds(
        pg_store: Store) -> None:
    # A batch sends each hook's read once for all its members (`preload.members_together`,
    # decision 0123): each member's rows are filed under the name the hook asks for, the same
    # as the member's own read gives, whoever else is in the statement.
    c = jeton.Jeton(pg_store).create_community("Reads", "rd")
    c.load_catalog(CATALOG, "toml", actor="test")
    members = [f"m{i:02}" for i in range(35)]  # chunks of 32 and 3 (padded to 4)
    for m in members:
        c.create_member(m)
        c.grant(m, 1_000, idempotency_key=f"seed-{m}")
    c.freeze_wallet("m01", reason="chargeback", actor="mod")
    c.grant_class("m02", "patron")
    c.grant_key("m02", "vault")
    c.grant_key("m33", "vault")
    c.set_velocity_limit(per_hour=500)
    pack = c.create_pack("Top-up", credits=100, price_minor=500)
    c.set_payment_method("m03", provider="demo", customer_id="cus_m03",
                         payment_method_id=DEMO_METHOD_OK)
    c.set_auto_recharge("m03", pack_id=pack.id, threshold=50, monthly_cap=3)
    now_us = 1_700_000_000_000_000
    reads = [*c.jeton.charging.ledger.hook_reads(
        c.id, [(m, "CREDIT") for m in members], "charge"),
        *(snapshot_read(c.id, m, now_us) for m in members)]
    together = preload.members_together(reads)
    assert len(together) < len(reads) // 10  # a statement a read and chunk, not a member
    with pg_store.write() as conn:
        driver: Any = conn.connection.driver_connection
        grouped: dict[str, Any] = {}
        for (_, _, file), rows in zip(together, pipeline.run(driver, [
                (compiled(stmt, "postgresql"), [params]) for stmt, params, _ in together]),
                strict=True):
            file(grouped, rows)
        alone: dict[str, Any] = {}
        for read in reads:
            rows = [tuple(r) for r in conn.execute(read.stmt, read.params).all()]
            alone[read.name] = rows if read.all_rows else rows[0] if rows else None
    assert grouped == alone
    assert grouped["protection:m01:CREDIT"][0] == "chargeback"
    assert grouped["protection:m00:CREDIT"][0] is None
    assert grouped["auto_recharge:m03:CREDIT"] is not None
    assert grouped["auto_recharge:m04:CREDIT"] is None
    assert {row[0] for row in grouped[f"snapshot:m02:{now_us}"]} >= {"m", "c", "k"}
