"""The write path's pipeline (store/pipeline.py) on a real PostgreSQL: what the server is told."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import jeton
from jeton.services.ledger.verify import verify
from jeton.store import pipeline
from jeton.store.engine import Store

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


def test_a_statement_planned_at_each_run_is_never_prepared(pg_store: Store) -> None:
    # A batch's keys go as one long IN list: prepared, PostgreSQL would plan it once for any
    # values, and on a table with no statistics yet that plan compared the list with every
    # key of the community (a history of 200,000 spends took seconds a batch).
    sql = "SELECT n FROM generate_series(1, 5) AS n WHERE n IN (%(a)s::int, %(b)s::int)"
    with pg_store.write() as conn:
        driver: Any = conn.connection.driver_connection
        runs = [{"a": 2, "b": 4}, {"a": 1, "b": 9}]
        for _ in range(7):  # past any threshold after which a statement would be prepared
            assert pipeline.run(driver, [(pipeline.PlanEach(sql), runs)]) == [[(2,), (4,)],
                                                                             [(1,)]]
        def prepared() -> int:
            return int(conn.exec_driver_sql(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE "
                "'%%generate_series(1, 5)%%'").scalar() or 0)

        assert prepared() == 0
        assert pipeline.run(driver, [(sql, runs)]) == [[(2,), (4,)], [(1,)]]  # prepared
        assert prepared() == 1
