"""`jeton communities create --test-mode` and `jeton clock show|advance`, as an owner types
them to try a plan's month end before going live."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import typer
from typer.testing import CliRunner

import jeton


def run(cli_app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, list(args))
    return result.exit_code, result.output if result.exception is None else str(
        result.exception)


def test_an_owner_moves_a_test_communitys_clock_from_the_command_line(
        cli_app: typer.Typer, cli_db: str) -> None:
    code, out = run(cli_app, "communities", "create", "lab", "--test-mode")
    assert code == 0, out
    assert "test mode" in out
    with jeton.open(cli_db) as j:
        lab = j.community("lab")
        lab.create_member("ann")
        lab.grant("ann", 10, idempotency_key="g",
                  expires_at=lab.test_clock().now + timedelta(days=2))
        start = lab.test_clock().now

    code, out = run(cli_app, "clock", "show", "--json")
    assert code == 0, out
    assert datetime.fromisoformat(json.loads(out)["now"]) == start
    code, out = run(cli_app, "clock", "advance", "--days", "3", "--key", "three-days")
    assert code == 0, out
    assert "lots.expire 1" in out
    code, out = run(cli_app, "clock", "advance", "--days", "3", "--key", "three-days")
    assert code == 0, out  # the same key: moved once
    with jeton.open(cli_db) as j:
        assert j.community("lab").test_clock().now == start + timedelta(days=3)
        assert j.community("lab").balance("ann").available == 0

    code, out = run(cli_app, "clock", "advance", "--to", start.isoformat())
    assert code != 0
    assert "only moves forward" in out
    code, out = run(cli_app, "clock", "advance", "--days", "1", "--seconds", "5")
    assert code != 0
    assert "one of --to, --seconds or --days" in out
