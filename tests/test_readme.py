"""The README as a new user follows it: its examples run as written, its settings table names
every variable the code reads, its commands exist, and the docs agree on the limits."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import typer

from jeton.core import limits

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# Variables only the test suite reads (CONTRIBUTING.md documents them).
TEST_ONLY = {"JETON_TEST_POSTGRES_URL", "JETON_REQUIRE_POSTGRES"}


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def _blocks(section: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", section, re.S)


def test_the_settings_table_names_every_variable_the_code_reads() -> None:
    read = set()
    for path in (ROOT / "src" / "jeton").rglob("*.py"):
        read |= set(re.findall(r"JETON_[A-Z][A-Z0-9_]*[A-Z0-9]", path.read_text()))
    table = _section("Configuration")
    documented = set(re.findall(r"`(JETON_[A-Z0-9_]+)`", table))
    assert read - TEST_ONLY <= documented, sorted(read - TEST_ONLY - documented)
    assert documented <= read, sorted(documented - read)  # no variable nothing reads


def test_every_page_gives_the_rate_limit_the_code_has() -> None:
    rate = f"{limits.api_rate_per_s:,.0f}"
    api_readme = (ROOT / "docs" / "api" / "README.md").read_text()
    line = next(x for x in api_readme.splitlines() if x.startswith("| requests per API key"))
    assert f"{rate} per second" in line, line
    row = next(x for x in README.splitlines() if x.startswith("| `JETON_API_RATE_PER_S`"))
    assert f"`{rate.replace(',', '')}`" in row, row


def test_the_first_charge_runs_as_written_beside_the_demo(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (code,) = _blocks(_section("A first charge, in-process"))[:1]
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().strip() == "97"
    assert not (tmp_path / "jeton.db").exists()  # the demo's database is left alone


def test_every_command_the_readme_shows_exists(cli_app: typer.Typer) -> None:
    root = typer.main.get_command(cli_app)
    shown = []
    for block in _blocks(README):
        for raw in block.splitlines():
            if not re.match(r"(\S+=\S+ )*(\.venv/bin/)?jeton ", raw):
                continue
            words = shlex.split(raw.split("#", 1)[0])
            while "jeton" not in words[0]:
                words.pop(0)  # VARIABLE=value before the command
            shown.append(raw)
            command = root
            for word in words[1:]:
                if word.startswith("-"):
                    break
                sub = getattr(command, "commands", {})
                if not sub:
                    break
                assert word in sub, raw
                command = sub[word]
            options = {o for p in command.params for o in getattr(p, "opts", [])
                       + getattr(p, "secondary_opts", [])} | {"--help"}
            for word in words[1:]:
                if word.startswith("-"):
                    assert word in options, (raw, word)
    assert len(shown) > 15
