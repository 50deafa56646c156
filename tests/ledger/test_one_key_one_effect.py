"""One idempotency key, one effect: the database refuses a second transfer under a key, and
`jeton verify` names one in a database that lacks the rule (made before it)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

import jeton
from jeton.services.ops.verify import verify
from jeton.store.engine import Store
from jeton.store.tables.ledger import idempotency_keys


def _forget_the_key(store: Store, key: str) -> None:
    """As if the claim of `key` were lost: the ledger no longer knows it answered it."""
    with store.engine.begin() as conn:
        conn.execute(idempotency_keys.delete().where(idempotency_keys.c.key == key))


def test_the_database_refuses_a_second_transfer_under_one_key(store: Store) -> None:
    j = jeton.Jeton(store)
    c = j.create_community("Keys", community_id="keys")
    c.create_member("ann")
    c.grant("ann", 10, idempotency_key="welcome-ann")
    _forget_the_key(store, "welcome-ann")
    # A bug, not a status: it crashes, from the driver's cursor of the write path.
    with pytest.raises((sa.exc.IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)):
        c.grant("ann", 10, idempotency_key="welcome-ann")
    assert c.balance("ann").posted == 10
    assert verify(store) == []


def test_verify_names_a_key_with_two_effects(cli_app: typer.Typer, cli_db: str) -> None:
    j = jeton.open(cli_db)
    c = j.create_community("Keys", community_id="keys")
    c.create_member("ann")
    c.grant("ann", 10, idempotency_key="welcome-ann")
    with j.store.engine.begin() as conn:  # a database made before the unique index
        conn.execute(sa.text("DROP INDEX ix_transfers_idempotency_key"))
    _forget_the_key(j.store, "welcome-ann")
    c.grant("ann", 10, idempotency_key="welcome-ann")  # the retry does it twice
    j.store.dispose()

    found = verify(jeton.open(cli_db).store)
    assert [(v.check, v.subject) for v in found] == [("idempotency", "key welcome-ann")]
    assert "2 transfers under one idempotency key" in found[0].detail
    result = CliRunner().invoke(cli_app, ["verify"])
    assert result.exit_code == 1
    assert "welcome-ann" in result.output
