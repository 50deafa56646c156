"""`jeton catalog load|show`, `jeton check` and `jeton charge`, as an owner types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import jeton

from .conftest import SHOP_CATALOG


@pytest.fixture
def db(cli_db: str) -> str:
    url = cli_db
    with jeton.open(url) as j:
        c = j.create_community("Shop", community_id="shop")
        c.create_account("appstore")
        for member in ("alice", "bob"):
            c.create_member(member)
        c.grant("alice", 30, idempotency_key="g")
    return url


def run(cli_app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_app, list(args))
    return result.exit_code, result.output


def test_loading_a_catalog_file_then_showing_it(cli_app: typer.Typer, db: str,
                                                tmp_path: Path) -> None:
    path = tmp_path / "shop.toml"
    path.write_text(SHOP_CATALOG)
    code, out = run(cli_app, "catalog", "load", str(path))
    assert code == 0, out
    assert "version 1" in out
    code, out = run(cli_app, "catalog", "load", str(path), "--json")
    assert (code, json.loads(out)["changed"]) == (0, False)
    code, out = run(cli_app, "catalog", "show", "--json")
    shown = json.loads(out)
    assert code == 0
    assert shown["version"] == 1
    assert "classifieds.ad" in [s["code"] for s in shown["services"]]
    code, out = run(cli_app, "catalog", "show")
    assert code == 0
    assert "catalog version 1" in out  # the table itself wraps to the terminal's width
    assert "poll.completed" in out


def test_a_broken_catalog_prints_every_error_and_changes_nothing(
        cli_app: typer.Typer, db: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("services:\n"
                    "  chat.message:\n"
                    "    name: Chat\n"
                    "    credits: one\n"
                    "  video.minute:\n"
                    "    credits: 20\n")
    code, out = run(cli_app, "catalog", "load", str(path))
    assert code == 1
    assert "line 4: services.chat.message.credits" in out.replace('"', "")
    assert "line 5" in out
    assert "name is required" in out
    code, out = run(cli_app, "catalog", "load", str(path), "--json")
    assert code == 1
    answer, _ = json.JSONDecoder().raw_decode(out)
    assert [e["line"] for e in answer["errors"]] == [4, 5]
    code, out = run(cli_app, "catalog", "show", "--json")
    assert json.loads(out)["version"] == 0


def test_check_then_charge_from_the_command_line(cli_app: typer.Typer, db: str,
                                                 tmp_path: Path) -> None:
    path = tmp_path / "shop.toml"
    path.write_text(SHOP_CATALOG)
    assert run(cli_app, "catalog", "load", str(path))[0] == 0
    code, out = run(cli_app, "check", "alice", "video.minute", "--quantity", "2", "--json")
    assert code == 1  # 40 credits needed, 30 available
    assert json.loads(out)["status"] == "insufficient_credits"
    code, out = run(cli_app, "check", "alice", "classifieds.ad")
    assert code == 0
    assert "allowed" in out
    code, out = run(cli_app, "charge", "alice", "classifieds.ad", "--key", "ad-1", "--json")
    assert code == 0
    assert json.loads(out)["charged"] == 10
    code, out = run(cli_app, "charge", "alice", "classifieds.ad", "--key", "ad-1")
    assert code == 0
    assert "(replayed)" in out
    code, out = run(cli_app, "charge", "alice", "consult.minute", "-q", "1",
                    "--context", "expert=bob", "--json")
    assert code == 0
    assert json.loads(out)["splits"][0]["member"] == "bob"
    code, out = run(cli_app, "charge", "bob", "classifieds.ad")
    assert code == 1
