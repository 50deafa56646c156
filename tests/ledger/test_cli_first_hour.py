"""The command line as a new user meets it in the first hour (issue 13): help that tells the
truth, one-line errors, the community found without a flag, and a quick start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import jeton


def _commands(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _jeton(*args: str, env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jeton.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_every_command_option_and_argument_says_what_it_is(cli_app: typer.Typer) -> None:
    root = typer.main.get_command(cli_app)
    missing = []
    for path, command in _commands(root, ("jeton",)):
        if not (command.help or command.short_help):
            missing.append(" ".join(path))
        for param in command.params:
            if not getattr(param, "help", None):
                missing.append(f"{' '.join(path)} {param.name}")
    assert not missing, missing


def test_help_shows_flags_as_flags_and_names_only_commands_that_exist(
        cli_app: typer.Typer) -> None:
    root = typer.main.get_command(cli_app)
    for path, _ in _commands(root, ("jeton",)):
        shown = CliRunner().invoke(cli_app, [*path[1:], "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, (path, shown.output)
        assert "<bool>" not in shown.output, path
    # The group's help promised `jeton members list`; it exists.
    assert "list" in typer.main.get_command(cli_app).commands["members"].commands


@pytest.fixture
def two_communities(cli_db: str) -> Iterator[str]:
    with jeton.open(cli_db) as j:
        for cid in ("chat", "files"):
            j.create_community(cid.title(), community_id=cid).create_member("ann")
    yield cli_db


def test_one_community_needs_no_flag(cli_app: typer.Typer, cli_db: str) -> None:
    with jeton.open(cli_db) as j:
        j.create_community("Chat", community_id="chat").create_member("ann")
    done = CliRunner().invoke(cli_app, ["balance", "ann", "--json"])
    assert done.exit_code == 0, done.output


def test_several_communities_are_named_by_the_flag_or_jeton_community(
        cli_app: typer.Typer, two_communities: str) -> None:
    refused = _jeton("balance", "ann", env={"JETON_DATABASE_URL": two_communities})
    assert refused.returncode == 1
    message = refused.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "chat" in message and "files" in message
    assert "--community" in message and "JETON_COMMUNITY" in message

    flagged = CliRunner().invoke(cli_app, ["grant", "ann", "5", "--community", "files",
                                           "--json"])
    assert flagged.exit_code == 0, flagged.output
    by_env = CliRunner().invoke(cli_app, ["balance", "ann", "--json"],
                                env={"JETON_COMMUNITY": "files"})
    assert by_env.exit_code == 0, by_env.output
    assert '"available": 5' in by_env.output
    unknown = CliRunner().invoke(cli_app, ["balance", "ann", "-c", "nope"])
    assert unknown.exit_code == 1


@pytest.mark.parametrize("url", ["not a url", "mysql://db/x",
                                 "postgresql://nobody:secret@127.0.0.1:1/x",
                                 "sqlite:////no/such/directory/x.db"])
def test_a_bad_database_url_is_one_line_and_a_non_zero_exit(url: str) -> None:
    done = _jeton("balance", "ann", "--database-url", url)
    assert done.returncode == 1
    assert done.stdout == ""
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith("error: cannot open the database")
    assert "secret" not in message
