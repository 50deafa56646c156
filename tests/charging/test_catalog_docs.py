"""The catalog's documentation holds: the example file loads as written, charges as the page
says, and the page names every key the loader accepts."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.testing import CliRunner

import jeton
from jeton.core import catalog as catalog_module

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "catalog.toml"
PAGE = ROOT / "docs" / "catalog.md"


def test_the_example_catalog_loads_with_jeton_catalog_load(cli_app: typer.Typer,
                                                           cli_db: str) -> None:
    with jeton.open(cli_db) as j:
        j.create_community("Example", community_id="example")
    result = CliRunner().invoke(cli_app, ["catalog", "load", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "version 1" in result.output
    with jeton.open(cli_db) as j:
        info = j.community("example").catalog()
    assert {s.code for s in info.services} >= {"files.download", "video.minute",
                                               "mall.collectors_badge"}


def test_the_example_charges_as_the_page_says(tmp_path: Path) -> None:
    with jeton.open(f"sqlite:///{tmp_path / 'x.db'}") as j:
        c = j.create_community("Example", community_id="example")
        c.create_account("appstore")
        c.load_catalog(EXAMPLE.read_text(), "toml")
        for member in ("reader", "bob"):
            c.create_member(member)
        c.grant("reader", 100, idempotency_key="g")
        # 3,000 bytes at 1 credit per started 1,024 bytes: 3 credits; 30 % rounded down (0)
        # to the uploader, 1 credit to the app store, the rest to revenue.
        done = c.charge("reader", "files.download", 3000, context={"uploader": "bob"},
                        idempotency_key="dl")
        assert done.charged == 3
        assert c.balance("reader").available == 97


def test_the_page_names_every_key_the_loader_accepts() -> None:
    page = PAGE.read_text()
    from jeton.core import achievements
    from jeton.core.badges import TEXT_KEYS, RuleKind

    keys = (catalog_module._SERVICE_KEYS | catalog_module._REWARD_KEYS
            | catalog_module._ACCESS_KEYS | catalog_module._ALLOWANCE_KEYS
            | catalog_module._SPLIT_KEYS | catalog_module._MONEY_KEYS
            | achievements._POINTS_KEYS | achievements._LEVEL_KEYS
            | achievements._CHALLENGE_KEYS | achievements._REWARD_KEYS | set(TEXT_KEYS)
            | {k.value for k in RuleKind} | {t.value for t in achievements.Trigger})
    missing = sorted(k for k in keys if f"`{k}`" not in page)
    assert missing == []


def test_every_relative_link_in_the_docs_points_at_a_file() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []
