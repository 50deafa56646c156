"""The operator's everyday commands, as a script runs them (`--json`) and as a person reads
them (one line for an error, a non-zero exit)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import jeton
from jeton.store import migrate


def run_json(cli_app: typer.Typer, *args: str) -> Any:
    result = CliRunner().invoke(cli_app, [*args, "--json"])
    assert result.exit_code == 0, (args, result.output, result.exception)
    return json.loads(result.output)


def test_a_script_drives_the_ledger_with_json(cli_app: typer.Typer, cli_db: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_json(cli_app, "migrate") == {"revision": migrate.HEAD_REVISION,
                                            "database": "sqlite"}
    # What about the server would slow Jeton down is said, on the error stream (decision 0123)
    checked = migrate.server_warnings
    monkeypatch.setattr(migrate, "server_warnings", lambda store: ["autovacuum is off: ..."])
    warned = CliRunner().invoke(cli_app, ["migrate"])
    assert warned.exit_code == 0
    assert "warning: autovacuum is off: ..." in warned.stderr
    monkeypatch.setattr(migrate, "server_warnings", checked)
    sharded = CliRunner().invoke(cli_app, ["migrate", "--shard-count", "32"])
    assert sharded.exit_code == 0  # said, not refused: the schema is there all the same
    assert "--shard-count is for a Citus coordinator; this sqlite database" in sharded.output
    made = run_json(cli_app, "communities", "create", "club", "--name", "Chess club")
    assert made["id"] == "club"
    run_json(cli_app, "members", "add", "ann")
    granted = run_json(cli_app, "grant", "ann", "50", "--paid", "--key", "g-1")
    assert granted["balance_after"] == 50
    again = run_json(cli_app, "grant", "ann", "50", "--paid", "--key", "g-1")
    assert (again["id"], again["replayed"]) == (granted["id"], True)  # nothing happens twice
    spent = run_json(cli_app, "spend", "ann", "8", "--service", "chess.game", "--key", "s-1")
    assert spent["balance_after"] == 42
    assert run_json(cli_app, "balance", "ann")["balance"]["available"] == 42
    lines = run_json(cli_app, "statement", "ann")["data"]
    assert [line["amount"] for line in lines] == [-8, 50]

    key = run_json(cli_app, "keys", "create", "--name", "ci", "--scope", "members:read")
    assert key["token"].startswith("jtk_")
    assert run_json(cli_app, "keys", "revoke", key["id"])["revoked_at"] is not None

    monkeypatch.setenv("JETON_OWNER_PASSWORD", "a long enough password")
    owner = run_json(cli_app, "staff", "create-owner", "owner@club.example")
    assert (owner["community_id"], owner["role"]) == ("club", "owner")
    assert isinstance(run_json(cli_app, "worker", "--once"), dict)
    assert run_json(cli_app, "verify")["ok"] is True

    exported = CliRunner().invoke(cli_app, ["export", "ann"])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [(r["member"], r["amount"]) for r in rows] == [("ann", "-8"), ("ann", "50")]



def test_adding_a_member_twice_says_nothing_changed_and_a_grant_expires_in_a_day_or_more(
        cli_app: typer.Typer, cli_db: str) -> None:
    with jeton.open(cli_db) as j:
        j.create_community("Club", community_id="club")
    runner = CliRunner(env={"JETON_DATABASE_URL": cli_db})
    assert runner.invoke(cli_app, ["members", "add", "ann", "--name", "Ann"]).output.strip() == (
        "member ann")
    again = runner.invoke(cli_app, ["members", "add", "ann", "--name", "Ann"])
    assert again.exit_code == 0
    assert again.output.strip() == "member ann was there already; nothing changed"
    other = runner.invoke(cli_app, ["members", "add", "ann", "--name", "Annie"])
    assert other.exit_code == 1  # another name is refused (decision 0114)
    assert str(other.exception) == ("already_exists: member 'ann' exists with name 'Ann', "
                                    "not 'Annie'; nothing changed")  # `main` prints it
    never = runner.invoke(cli_app, ["grant", "ann", "5", "--expires-days", "0", "--key", "g"])
    assert never.exit_code == 2  # 0 days read as "never expires" before: refused now
    assert "--expires-days" in never.output
    assert runner.invoke(cli_app, ["grant", "ann", "5", "--expires-days", "1", "--key", "g1"]
                         ).exit_code == 0
    with jeton.open(cli_db) as j:
        lots = j.community("club").lots("ann")
    assert [lot.expires_at is not None for lot in lots] == [True]

def test_an_error_is_one_line_and_a_non_zero_exit(cli_db: str) -> None:
    with jeton.open(cli_db) as j:
        j.create_community("Club", community_id="club")
    done = subprocess.run(
        [sys.executable, "-m", "jeton.cli", "spend", "nobody", "5", "--key", "k"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "JETON_DATABASE_URL": cli_db})
    assert done.returncode != 0
    assert done.stdout == ""
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "nobody" in message


def test_verify_names_the_failing_community_and_checks_one_alone(
        cli_app: typer.Typer, cli_db: str) -> None:
    with jeton.open(cli_db) as j:
        for cid in ("club", "shop"):
            c = j.create_community(cid.title(), community_id=cid)
            c.create_member("ann")
            c.grant("ann", 5, idempotency_key="g")
        with j.store.write() as conn:
            conn.exec_driver_sql("UPDATE accounts SET posted = 4 WHERE community_id = 'shop' "
                                 "AND account_id = 'wallet:ann:CREDIT'")
    every = CliRunner().invoke(cli_app, ["verify"])
    assert every.exit_code == 1
    assert "[account_balance] shop/wallet:ann:CREDIT" in every.output
    assert "in 1 community: shop" in every.output
    failed = CliRunner().invoke(cli_app, ["verify", "--json"])
    assert json.loads(failed.output)["failing_communities"] == ["shop"]
    assert run_json(cli_app, "verify", "--community", "club")["ok"] is True
    unknown = CliRunner().invoke(cli_app, ["verify", "--community", "nowhere"])
    assert unknown.exit_code == 1
    assert str(unknown.exception) == "no community 'nowhere'"  # `main` prints it as one line
