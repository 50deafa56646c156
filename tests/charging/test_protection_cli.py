"""`jeton freeze`, `jeton unfreeze` and `jeton limits`, as an owner types them."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

import jeton


@pytest.fixture
def db(cli_db: str) -> str:
    with jeton.open(cli_db) as j:
        c = j.create_community("Shop", community_id="shop")
        c.create_member("alice")
        c.grant("alice", 30, idempotency_key="g")
    return cli_db


def run(cli_app: typer.Typer, *args: str) -> tuple[int, str]:
    """Exit code, and the output or the error `jeton`'s main would print as one line."""
    result = CliRunner().invoke(cli_app, list(args))
    return result.exit_code, result.output if result.exception is None else str(
        result.exception)


def test_owner_freezes_a_wallet_then_unfreezes_it(cli_app: typer.Typer, db: str) -> None:
    code, out = run(cli_app, "freeze", "alice", "--reason", "too many refunds", "--by", "ann")
    assert code == 0, out
    assert "frozen" in out
    code, out = run(cli_app, "spend", "alice", "3")
    assert code != 0
    assert "frozen" in out
    code, out = run(cli_app, "unfreeze", "alice", "--reason", "explained")
    assert code == 0, out
    code, out = run(cli_app, "spend", "alice", "3")
    assert code == 0, out


def test_owner_sets_and_reads_velocity_limits(cli_app: typer.Typer, db: str) -> None:
    code, out = run(cli_app, "limits", "set", "--per-hour", "5", "--per-day", "20")
    assert code == 0, out
    assert out.strip() == "limit on every service: 5 an hour, 20 a day"
    code, out = run(cli_app, "limits", "set", "--service", "chat.message", "--per-day", "9",
                    "--new-per-day", "2")
    assert out.strip() == "limit on chat.message: 9 a day, 2 a day for a new member"
    code, out = run(cli_app, "limits", "settings", "--new-member-days", "3")
    assert code == 0, out
    code, out = run(cli_app, "limits", "show")
    assert code == 0, out
    assert "(all)" in out
    assert "first 3 days" in out
    code, out = run(cli_app, "spend", "alice", "6")
    assert code != 0
    assert "may spend 5 CREDIT per hour" in out
