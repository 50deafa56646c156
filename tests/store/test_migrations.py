"""Migrations after the baseline: a database made at 0001, before wallet protection, gains its
tables at head and keeps its data; one made at 0002, before bills, gains them and a purchase may
be of kind `bill`; a new database goes to head in one step."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from tests.conftest import check_invariants, drop_pg_store, make_pg_store, postgres_url

import jeton
from jeton.services.ledger.metrics import PROCESS_REGISTRY
from jeton.store import functions, migrate
from jeton.store.engine import Store, normalize_url
from jeton.store.tables.api import http_idempotency
from jeton.store.tables.bills import bills
from jeton.store.tables.protection import TABLES

migration_0007 = importlib.import_module(
    "jeton.store.migrations.versions.0007_rollover_recharge_targets_key_budgets")


def test_a_database_at_the_baseline_gains_the_protection_tables(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(store, "0001")
    with store.engine.begin() as conn:  # as a 0001 database made before issue 17 was
        for table in reversed(TABLES):
            table.drop(conn)
    j = jeton.Jeton(store)
    j.create_community("Old", "old").create_member("alice")
    assert migrate.current(store) == "0001"

    migrate.upgrade(store)
    assert migrate.current(store) == migrate.HEAD_REVISION
    names = set(sa.inspect(store.engine).get_table_names())
    assert {t.name for t in TABLES} <= names
    c = j.community("old")
    assert c.freeze_wallet("alice", reason="test", actor="owner").frozen
    store.dispose()


def test_a_new_database_goes_to_head(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    migrate.upgrade(store)
    assert migrate.current(store) == migrate.HEAD_REVISION
    migrate.upgrade(store)  # at head: nothing to do
    store.dispose()


@pytest.mark.parametrize("server", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_opening_a_new_database_meets_no_database_error(tmp_path: Path, server: str) -> None:
    # A SELECT of the missing version table made the server log an ERROR on every new database
    errors: list[str] = []
    if server == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    else:
        url = postgres_url()
        schema = f"jeton_test_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(normalize_url(url))
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        admin.dispose()
        store = Store(url, pg_schema=schema)
    sa.event.listen(store.engine, "handle_error",
                    lambda context: errors.append(repr(context.original_exception)))
    try:
        store.create_schema()
        assert migrate.current(store) == migrate.HEAD_REVISION
        store.create_schema()  # at head: nothing to do, nothing asked that is not there
    finally:
        if server == "sqlite":
            store.dispose()
        else:
            drop_pg_store(store)
    assert errors == []


def test_a_database_at_0002_gains_the_test_clocks_table(tmp_path: Path) -> None:
    from jeton.store.tables.clocks import TABLES as CLOCK_TABLES

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(store, "0002")
    with store.engine.begin() as conn:  # as a 0002 database made before test clocks were
        for table in reversed(CLOCK_TABLES):
            table.drop(conn)
    assert migrate.current(store) == "0002"

    migrate.upgrade(store)
    assert migrate.current(store) == migrate.HEAD_REVISION
    assert {t.name for t in CLOCK_TABLES} <= set(sa.inspect(store.engine).get_table_names())
    j = jeton.Jeton(store)
    lab = j.create_community("Lab", "lab", test_mode=True)
    assert lab.advance_test_clock(seconds=60, idempotency_key="m").steps == 1
def test_a_database_at_0002_gains_the_gamification_tables(tmp_path: Path) -> None:
    from jeton.store.tables import achievements

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(store, "0002")
    with store.engine.begin() as conn:  # as a 0002 database made before gamification was
        for table in reversed(achievements.TABLES):
            table.drop(conn)
    j = jeton.Jeton(store)
    c = j.create_community("Old", "old")
    c.create_member("alice")
    c.grant("alice", 5, idempotency_key="g")
    assert migrate.current(store) == "0002"

    migrate.upgrade(store, "0005")
    names = set(sa.inspect(store.engine).get_table_names())
    assert {t.name for t in achievements.TABLES} <= names
    assert c.award_achievements() == 1  # the grant before the upgrade is counted
    assert c.achievements("alice").points == 0
def _a_member_buys_a_pack(j: jeton.Jeton, community_id: str) -> tuple[jeton.Community,
                                                                      jeton.Checkout]:
    """A community with a pack of 20 credits, and alice's purchase of it (demo provider)."""
    c = j.create_community(community_id.title(), community_id)
    c.create_member("alice")
    c.create_pack("20 credits", pack_id="p20", credits=20, price_minor=600)
    return c, c.buy_pack("alice", "p20", idempotency_key="k", provider="demo")


def test_a_database_at_0002_gains_bills_and_keeps_its_purchases(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'before-bills.db'}")
    migrate.upgrade(store, "0002")
    with store.engine.begin() as conn:  # as a 0002 database made before bills were
        bills.drop(conn)
    j = jeton.Jeton(store)
    old, bought = _a_member_buys_a_pack(j, "old")

    migrate.upgrade(store)
    assert migrate.current(store) == migrate.HEAD_REVISION
    assert "bills" in set(sa.inspect(store.engine).get_table_names())
    assert old.get_purchase(bought.purchase_id).status == "pending"  # kept
    old.set_credit_line("alice", -10)
    old.spend("alice", 4, idempotency_key="s")
    old.set_billing_settings(credit_price_minor=30)
    bill = old.issue_bill("alice", idempotency_key="b")
    checkout = old.pay_bill(bill.id, provider="demo")  # a purchase of kind `bill` is allowed
    assert old.get_purchase(checkout.purchase_id).kind == "bill"
def test_a_database_at_0002_gains_what_issue_15_added(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'before.db'}")
    migrate.upgrade(store, "0002")
    with store.engine.begin() as conn:  # as a 0002 database made before issue 15 was
        for table in reversed(migration_0007.TABLES):
            table.drop(conn)
        for table_name, column in migration_0007.COLUMNS:
            conn.execute(sa.text(f"ALTER TABLE {table_name} DROP COLUMN {column.name}"))
    migrate.upgrade(store)
    assert migrate.current(store) == migrate.HEAD_REVISION
    inspector = sa.inspect(store.engine)
    assert {t.name for t in migration_0007.TABLES} <= set(inspector.get_table_names())
    for table_name, column in migration_0007.COLUMNS:
        assert column.name in {c["name"] for c in inspector.get_columns(table_name)}
    store.dispose()


def _idempotency_keys_ddl(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' "
                                        "AND name = 'idempotency_keys'").scalar_one())


def test_a_database_at_0009_keeps_its_keys_in_a_rowid_table_and_replays_them(
        tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate.upgrade(store)
    j = jeton.Jeton(store)
    c = j.create_community("Keys", "keys")
    c.create_member("alice")
    c.grant("alice", 10, idempotency_key="g")
    first = c.spend("alice", 3, idempotency_key="s")
    _downgrade(store, "0009")  # back to the shape a 0009 database has: by the key
    assert "WITHOUT ROWID" in _idempotency_keys_ddl(store).upper()

    migrate.upgrade(store)
    assert migrate.current(store) == migrate.HEAD_REVISION
    assert "WITHOUT ROWID" not in _idempotency_keys_ddl(store).upper()
    again = c.spend("alice", 3, idempotency_key="s")  # the kept key answers the replay
    assert again.replayed
    assert again.id == first.id
    assert c.balance("alice").available == 7
    check_invariants(store)
    store.dispose()


def test_answers_kept_before_0011_leave_their_marker_among_the_ledgers_keys(
        tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'answers.db'}")
    migrate.upgrade(store)
    c = jeton.Jeton(store).create_community("Chat", "chat")
    c.create_member("alice")
    c.grant("alice", 10, idempotency_key="g")
    with store.engine.begin() as conn:  # back to 0010, and an answer kept there, unmarked
        cfg = migrate.alembic_config(store)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
        for space in ("chat", "~operator"):
            conn.execute(http_idempotency.insert().values(
                community_id=space, key="m", method_path="POST /v1/members",
                request_sha256="d", status_code=201, content_type="application/json",
                response_body="{}", created_at_us=1))
    c.spend("alice", 1, idempotency_key="s")  # a ledger key of its own: kept as it is

    migrate.upgrade(store)
    with pytest.raises(jeton.IdempotencyConflict):
        c.spend("alice", 1, idempotency_key="m")
    assert c.spend("alice", 1, idempotency_key="s").replayed
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM idempotency_keys WHERE "
                                    "community_id = '~operator'").scalar_one() == 0
    assert c.balance("alice").available == 9
    check_invariants(store)
    store.dispose()


def test_a_database_at_0011_gains_the_providers_shared_state(tmp_path: Path) -> None:
    from jeton.store.tables.funding import provider_state

    store = Store(f"sqlite:///{tmp_path / 'providers.db'}")
    migrate.upgrade(store)
    _downgrade(store, "0011")  # back to 0011: no table for the providers' state
    assert "provider_state" not in sa.inspect(store.engine).get_table_names()

    migrate.upgrade(store)
    j = jeton.Jeton(store)
    _, checkout = _a_member_buys_a_pack(j, "club")
    with store.read() as conn:
        kinds = sorted(conn.execute(sa.select(provider_state.c.kind)).scalars())
    assert kinds == ["purchase", "session"]
    assert checkout.session_id is not None
    j.close()
    store.dispose()


@pytest.mark.postgres
def test_a_postgresql_database_at_0013_gains_the_spend_that_updates_its_lot_by_key() -> None:
    store = make_pg_store()  # at head
    try:
        _back_to(store, "0013", functions.SPEND.replace(_ONE_LOT_UPDATE, _ANY_LOTS_UPDATE))
        assert _ONE_LOT_MARK not in _spend_body(store)

        migrate.upgrade(store)
        assert migrate.current(store) == migrate.HEAD_REVISION
        assert _ONE_LOT_MARK in _spend_body(store)
        c = _alice_with_three_lots(store, "lots")
        done_before = _sql_spends_done()
        one = c.spend("alice", 1, idempotency_key="one")  # one lot: by its key
        three = c.spend("alice", 7, idempotency_key="three")  # three lots: by `= ANY`
        assert _sql_spends_done() == done_before + 2  # both by the function, not the fallback
        assert [len(one.lots), len(three.lots)] == [1, 3]
        assert sum(m.amount for m in three.lots) == -7
        assert c.balance("alice").available == 1
        check_invariants(store)
    finally:
        drop_pg_store(store)


_ONE_LOT_MARK = "l.lot_id = v_lots[1]"
_ANY_LOTS_UPDATE = """  UPDATE @schema.lots l
  SET remaining = l.remaining + v_move_amounts[array_position(v_lots, l.lot_id::text)]
  WHERE l.community_id = p_community_id AND l.lot_id = ANY (v_lots);
"""
# The new update, from its IF to its END IF (nothing nested between them).
_ONE_LOT_FROM = functions.SPEND.index("  IF cardinality(v_lots) = 1 THEN\n    UPDATE")
_ONE_LOT_UPDATE = functions.SPEND[
    _ONE_LOT_FROM:functions.SPEND.index("\n  END IF;\n", _ONE_LOT_FROM) + len("\n  END IF;\n")]


def _sql_spends_done() -> float:
    return PROCESS_REGISTRY.get_sample_value(
        "jeton_sql_spends_total", {"outcome": "ok", "reason": ""}) or 0.0


def _alice_with_three_lots(store: Store, community_id: str) -> jeton.Community:
    """A new community where alice holds lots of 2, 3 and 4 credits, spent in that order."""
    c = jeton.Jeton(store).create_community(community_id.title(), community_id)
    c.create_member("alice")
    for n, amount in enumerate((2, 3, 4)):
        c.grant("alice", amount, idempotency_key=f"g{n}", priority=n)  # a lot each
    return c


def _back_to(store: Store, revision: str, spend: str) -> None:
    """Downgrade `store` to `revision`, with `spend` (another body than the head's) as the
    `jeton_spend` it had installed."""
    assert spend != functions.SPEND
    with store.engine.begin() as conn:
        cfg = migrate.alembic_config(store)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        functions.install(conn, (spend,))


def _spend_body(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.exec_driver_sql(
            "SELECT prosrc FROM pg_proc WHERE proname = 'jeton_spend' "
            "AND pronamespace = current_schema()::regnamespace").scalar_one())


@pytest.mark.parametrize("server", ["sqlite", "postgresql"])
def test_a_database_at_0014_keeps_only_untracked_postings_in_the_account_index(
        tmp_path: Path, server: str) -> None:
    """Migration 0015 remakes `ix_postings_account` for untracked accounts only (decision
    0108); the wallet's statement, a bill and the revenue's balance read the same after it."""
    with _store_on(server, tmp_path) as store:
        migrate.upgrade(store)
        c = jeton.Jeton(store).create_community("Postings", "postings")
        c.create_member("alice")
        c.grant("alice", 10, idempotency_key="g")
        for i in range(3):
            c.spend("alice", 1, idempotency_key=f"s{i}")
        _downgrade(store, "0014")  # back to the index a 0014 database has
        assert not _account_index_is_partial(store)
        migrate.upgrade(store)
        assert migrate.current(store) == migrate.HEAD_REVISION
        assert _account_index_is_partial(store)
        lines = c.statement("alice").data
        assert [line.amount for line in lines] == [-1, -1, -1, 10]
        assert [line.balance_after for line in lines] == [7, 8, 9, 10]
        assert c.account_balance("revenue").posted == 3
        check_invariants(store)


@contextmanager
def _store_on(server: str, tmp_path: Path) -> Iterator[Store]:
    """A new store on `server` (a scratch PostgreSQL schema, or a SQLite file), gone after."""
    store = (make_pg_store() if server == "postgresql"
             else Store(f"sqlite:///{tmp_path / 'migrated.db'}"))
    try:
        yield store
    finally:
        if server == "postgresql":
            drop_pg_store(store)
        else:
            store.dispose()


def _downgrade(store: Store, revision: str) -> None:
    with store.engine.begin() as conn:
        cfg = migrate.alembic_config(store)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _account_index_is_partial(store: Store) -> bool:
    """Whether `ix_postings_account` holds only the postings without a version."""
    with store.engine.connect() as conn:
        definition = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'ix_postings_account'"
            if store.dialect == "sqlite" else
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_postings_account' "
            "AND schemaname = current_schema()").scalar_one()
    return "account_version IS NULL" in definition.replace("(", "").replace(")", "")


@pytest.mark.postgres
def test_a_postgresql_database_at_0015_gains_the_spend_that_writes_its_hash_in_one_format(
        ) -> None:
    store = make_pg_store()  # at head
    try:
        _back_to(store, "0015", functions.SPEND.replace(_FORMAT_HASH, _CHAINED_HASH).replace(
            _FORMAT_MOVE, _CHAINED_MOVE))  # its hash by `||`
        assert "format('actor=" not in _spend_body(store)

        migrate.upgrade(store)
        assert migrate.current(store) == migrate.HEAD_REVISION
        assert "format('actor=%s:%s;" in _spend_body(store)  # installed as written
        c = _alice_with_three_lots(store, "hashes")
        done_before = _sql_spends_done()
        one = c.spend("alice", 1, idempotency_key="one", memo="100% é")  # one lot
        three = c.spend("alice", 7, idempotency_key="three", service=None)  # three lots
        assert _sql_spends_done() == done_before + 2  # both by the function, not the fallback
        assert [len(one.lots), len(three.lots)] == [1, 3]
        assert c.spend("alice", 1, idempotency_key="one", memo="100% é") == one.model_copy(
            update={"replayed": True})  # the answer kept under the key
        check_invariants(store)  # each transfer's hash is the one Python gives it
    finally:
        drop_pg_store(store)


_SPEND_HEADER = (functions._SPEND_HASH_FIELDS, functions._SPEND_NULLABLE)
_FORMAT_HASH = functions.hash_format(*_SPEND_HEADER, [("v_revenue", "p_amount"),
                                                      ("v_wallet", "-p_amount")], "v_moves")
_FORMAT_MOVE = functions.format_pair("l", "v_lots[1]", "v_move_amounts[1]")
_CHAINED_MOVE = functions.pair("l", "v_lots[1]", "v_move_amounts[1]")
_CHAINED_HASH = (functions.hash_head(functions._SPEND_HASH_FIELDS)
                 + "\n    || " + functions.pair("p", "v_revenue", "p_amount")
                 + "\n    || " + functions.pair("p", "v_wallet", "-p_amount") + "\n    || v_moves")


_JOURNAL_TABLES = ("transfers", "postings", "posting_lots")


def _journal_foreign_keys(store: Store) -> list[str]:
    """The foreign keys of the journal's tables, by name."""
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            return sorted({f"{table}->{row[2]}" for table in _JOURNAL_TABLES  # a row a column
                           for row in conn.exec_driver_sql(f"PRAGMA foreign_key_list({table})")})
    with store.engine.connect() as conn:
        return sorted(conn.exec_driver_sql(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' "
            "AND connamespace = current_schema()::regnamespace "
            "AND conrelid::regclass::text = ANY (%(tables)s)",
            {"tables": list(_JOURNAL_TABLES)}).scalars())


@pytest.mark.parametrize("server", ["sqlite", "postgresql"])
def test_a_database_at_0016_leaves_the_journals_references_to_verify_on_postgresql(
        tmp_path: Path, server: str) -> None:
    """Migration 0017 drops the journal's four foreign keys on PostgreSQL, where each locked
    the row it names (decision 0124), and keeps them on SQLite; writes and every invariant
    (the references among them) hold after it."""
    with _store_on(server, tmp_path) as store:
        migrate.upgrade(store)
        with_keys = ["posting_lots->transfers", "postings->accounts", "postings->transfers",
                     "transfers->assets"]
        assert _journal_foreign_keys(store) == ([] if server == "postgresql" else with_keys)
        c = _alice_with_three_lots(store, "references")
        c.spend("alice", 3, idempotency_key="before")
        _downgrade(store, "0016")  # back to what a 0016 database has
        assert len(_journal_foreign_keys(store)) == 4
        migrate.upgrade(store)
        assert migrate.current(store) == migrate.HEAD_REVISION
        assert _journal_foreign_keys(store) == ([] if server == "postgresql" else with_keys)
        c.create_member("bob")
        c.transfer("alice", "bob", 2, idempotency_key="after")
        c.spend("bob", 1, idempotency_key="spent")
        assert [c.balance(m).available for m in ("alice", "bob")] == [4, 1]
        check_invariants(store)
