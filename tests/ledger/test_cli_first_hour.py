"""The command line as a new user meets it in the first hour (issue 13): help that tells the
truth, one-line errors, the community found without a flag, and a quick start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import jeton
from jeton.store.engine import Store


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
def two_communities(cli_db: str) -> str:
    with jeton.open(cli_db) as j:
        for cid in ("chat", "files"):
            j.create_community(cid.title(), community_id=cid).create_member("ann")
    return cli_db


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
    assert "chat" in message
    assert "files" in message
    assert "--community" in message
    assert "JETON_COMMUNITY" in message

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


def test_bench_spends_the_n_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    # `jeton bench -n 300` once ran "20 batches of 1,000" whatever -n said.
    from jeton.app import Community
    from jeton.services.bench import service as bench

    batched: list[int] = []
    spend_batch = Community.spend_batch

    def counting(self: Community, items: Any, **kwargs: Any) -> Any:
        batched.append(len(items))
        return spend_batch(self, items, **kwargs)

    monkeypatch.setattr(Community, "spend_batch", counting)
    said: list[str] = []
    figures = bench.bench_sqlite(n=300, progress=said.append)
    assert sum(batched) == 300  # in two rounds beside the raw reference: 150 and 150
    assert batched == [150, 150]
    assert any("1 batch(es) of 150 spends" in s for s in said)
    assert figures["sqlite_batch_spend_per_s"] > 0


def test_bench_runs_the_rounds_it_is_given_and_says_how_far_each_ratio_moved() -> None:
    done = _jeton("bench", "--rounds", "3", "-n", "30", "--no-http", "--history-postings",
                  "1000", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["rounds"] == 3
    for ratio in ("sqlite_spend_ratio", "sqlite_normal_spend_ratio", "sqlite_batch_ratio",
                  "sqlite_spend_vs_raw_rows_ratio", "sqlite_normal_raw_rows_vs_commit_ratio"):
        assert figures[ratio] > 0
        assert figures[f"{ratio}_spread"] >= 0
    refused = _jeton("bench", "--rounds", "0")
    assert refused.returncode == 2
    assert "--rounds" in refused.stderr


def test_the_command_line_starts_without_loading_the_server_or_the_migrations(
        cli_db: str) -> None:
    # `jeton --help` loads no database layer; a command on a database already at the newest
    # schema loads no Alembic (each cost every command a good part of a second).
    probe = ("import sys; from jeton.cli import main; main._register(); "
             "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'alembic', 'stripe', 'httpx') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"
    jeton.open(cli_db).close()  # migrated
    probe = f"import sys, jeton; jeton.open({cli_db!r}).close(); print('alembic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "False"


def test_the_newest_migration_is_the_one_a_store_is_checked_against() -> None:
    from alembic.script import ScriptDirectory

    from jeton.store import migrate

    scripts = ScriptDirectory(str(migrate.MIGRATIONS))
    assert scripts.get_current_head() == migrate.HEAD_REVISION



@pytest.mark.parametrize("no_jobs", [False, True])
def test_serve_runs_the_jobs_on_every_store_unless_told_not_to(
        cli_app: typer.Typer, store: Store, monkeypatch: pytest.MonkeyPatch,
        no_jobs: bool) -> None:
    # On PostgreSQL `jeton serve` once ran no jobs: no webhooks, no hold timeouts, no renewals.
    from jeton.api import server
    from jeton.cli import ops

    started: list[str] = []
    served: list[object] = []

    @contextmanager
    def opened(database_url: str | None, **_: object) -> Iterator[jeton.Jeton]:
        yield jeton.Jeton(store)

    class FakeWorker:
        def stop(self) -> None:
            started.append("stopped")

    def job_thread(j: jeton.Jeton) -> FakeWorker:
        started.append(j.store.dialect)
        return FakeWorker()

    monkeypatch.setattr(ops, "opened", opened)
    monkeypatch.setattr(ops, "_job_thread", job_thread)
    monkeypatch.setattr(server, "serve", served.append)
    done = CliRunner().invoke(cli_app, ["serve", "--port", "8123"]
                              + (["--no-jobs"] if no_jobs else []))
    assert done.exit_code == 0, done.output
    assert len(served) == 1
    assert started == ([] if no_jobs else [store.dialect, "stopped"])


def test_serve_refuses_several_processes_on_sqlite_in_one_line(cli_db: str) -> None:
    done = _jeton("serve", "--workers", "2", "--port", "8124",
                  env={"JETON_DATABASE_URL": cli_db})
    assert done.returncode == 1
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "--workers" in message
    assert "PostgreSQL" in message


def test_a_short_operator_token_stops_serve_in_one_line(cli_db: str) -> None:
    done = _jeton("serve", "--port", "8125",
                  env={"JETON_DATABASE_URL": cli_db, "JETON_OPERATOR_TOKEN": "short"})
    assert done.returncode == 1
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "JETON_OPERATOR_TOKEN must be at least 32 characters" in message


def test_the_operator_resets_a_staff_password_from_the_command_line(
        cli_app: typer.Typer, cli_db: str) -> None:
    from jeton.services.access.sessions import authenticate

    with jeton.open(cli_db) as j:
        j.create_community("Chat", community_id="chat")
    env = {"JETON_OWNER_PASSWORD": "the first long password"}
    made = CliRunner().invoke(cli_app, ["staff", "create-owner", "Owner@Chat.example"], env=env)
    assert made.exit_code == 0, made.output
    env = {"JETON_OWNER_PASSWORD": "a second long password"}
    reset = CliRunner().invoke(cli_app, ["staff", "reset-password", "owner@chat.example",
                                         "--json"], env=env)
    assert reset.exit_code == 0, reset.output
    with jeton.open(cli_db) as j:
        assert authenticate(j.store, j.clock, "chat", "owner@chat.example",
                            "a second long password").user is not None
        assert not authenticate(j.store, j.clock, "chat", "owner@chat.example",
                                "the first long password").user is not None
    nobody = CliRunner().invoke(cli_app, ["staff", "reset-password", "nobody@chat.example"],
                                env=env)
    assert nobody.exit_code == 1
