"""The write path's pipeline (store/pipeline.py) on a real PostgreSQL: what the server is told."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import jeton
from jeton.services.ledger.verify import verify
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
