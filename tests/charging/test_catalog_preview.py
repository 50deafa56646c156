"""The catalog preview, as an owner uses it before raising a price: ten days of charges in a
shop, replayed through a catalog that raises the chat price, removes classified ads and adds a
poll service. Every figure is computed here from the receipts and the new prices written out
by hand, then compared with the preview's; nothing may be written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import jeton
from jeton.core.clock import ManualClock
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status

from .conftest import Check, counts

# The services the new catalog keeps as they are.
KEPT = """
[services."files.download"]
name = "File download"
kind = "per_unit"
credits = 1
unit_size = 1024
unit = "byte"
splits = [{ to = "party:uploader", share_bp = 3000 }]

[services."video.minute"]
name = "Video consultation"
kind = "per_unit"
credits = 20
unit = "minute"
class_credits = { seller = 10 }
"""
PROMOTED = """
[services."files.promoted"]
name = "Promoted file download"
credits = -2
"""
CHAT = """
[services."chat.message"]
name = "Chat message"
credits = {credits}
"""

NOW_CATALOG = CHAT.format(credits=2) + KEPT + """
[services."classifieds.ad"]
name = "Classified ad"
credits = 10
""" + PROMOTED

# Chat goes from 2 to 5 credits, classified ads are gone, polls are new; the rest is the same.
NEW_CATALOG = CHAT.format(credits=5) + KEPT + PROMOTED + """
[services."polls.vote"]
name = "Poll vote"
credits = 1
"""


BROKEN = """
[services."chat.message"]
name = "Chat message"
credits = "five"
"""


def new_price(member: str, service: str, quantity: int) -> int | None:
    """The new catalog's price, by hand; carol holds `seller` today. None: removed."""
    if service == "chat.message":
        return 5 * quantity
    if service == "files.download":
        return -(-quantity // 1024)
    if service == "video.minute":
        return (10 if member == "carol" else 20) * quantity
    if service == "files.promoted":
        return -2 * quantity
    return None


@dataclass(frozen=True)
class Charged:
    member: str
    service: str
    quantity: int
    credits: int  # charged then; negative when paid to the member
    at: datetime


def charge(shop: jeton.Community, clock: ManualClock, log: list[Charged], member: str,
           service: str, quantity: int = 1, **kwargs: object) -> None:
    clock.advance(timedelta(minutes=1))  # one instant per charge: "most recent" is exact
    r = shop.charge(member, service, quantity, idempotency_key=f"c-{clock.now().isoformat()}",
                    **kwargs)  # type: ignore[arg-type]
    log.append(Charged(member, service, quantity, r.charged - r.paid_to_member,
                       clock.now()))


@pytest.fixture
def clock() -> ManualClock:
    """Forty-one days ago, so that the history ends a day before the real time and the
    command line (which runs on the real time) sees the same ten days."""
    return ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=41))


@pytest.fixture
def history(j: jeton.Jeton, clock: ManualClock) -> tuple[jeton.Community, list[Charged]]:
    """Forty days ago one chat message, then ten days of charges by four members."""
    shop = j.create_community("Shop", community_id="shop")
    for member in ("alice", "bob", "carol", "dave"):
        shop.create_member(member)
    shop.load_catalog(NOW_CATALOG)
    for member, credits in (("alice", 1000), ("bob", 22), ("carol", 500), ("dave", 100)):
        shop.grant(member, credits, idempotency_key=f"g-{member}")
    old: list[Charged] = []
    charge(shop, clock, old, "alice", "chat.message")
    clock.advance(timedelta(days=30))
    log: list[Charged] = []
    for day in range(10):
        clock.advance(timedelta(days=1))
        charge(shop, clock, log, "alice", "chat.message")
        charge(shop, clock, log, "alice", "files.download", 3000,
               context={"uploader": "dave"})
        charge(shop, clock, log, "bob", "chat.message")
        if day % 2 == 0:
            charge(shop, clock, log, "carol", "video.minute", 3)
        if day == 1:
            charge(shop, clock, log, "carol", "files.promoted")
        if day == 2:
            charge(shop, clock, log, "dave", "classifieds.ad")
        if day == 5:
            charge(shop, clock, log, "dave", "chat.message", 2)
            shop.grant_class("carol", "seller")  # from now on carol pays 10 a minute
        if day == 9:
            charge(shop, clock, log, "carol", "classifieds.ad")
    clock.advance(timedelta(hours=1))
    return shop, log


def expected(shop: jeton.Community, log: list[Charged]) -> dict[str, object]:
    services: dict[str, dict[str, int]] = {}
    members: dict[str, dict[str, object]] = {}
    for c in log:
        price = new_price(c.member, c.service, c.quantity)
        s = services.setdefault(c.service, {"charges": 0, "quantity": 0, "credits_then": 0,
                                            "credits_new": 0, "refused": 0})
        s["charges"] += 1
        s["quantity"] += c.quantity
        s["credits_then"] += c.credits
        s["credits_new"] += price or 0
        s["refused"] += price is None
        m = members.setdefault(c.member, {"charges": 0, "credits_then": 0, "credits_new": 0})
        m["charges"] = int(m["charges"]) + 1  # type: ignore[call-overload]
        m["credits_then"] = int(m["credits_then"]) + c.credits  # type: ignore[call-overload]
        m["credits_new"] = int(m["credits_new"]) + (price or 0)  # type: ignore[call-overload]
        m["last"] = c  # the log is in time order
    for s in services.values():
        s["difference"] = s["credits_new"] - s["credits_then"]
    for member, m in members.items():
        last = m.pop("last")
        assert isinstance(last, Charged)
        price = new_price(member, last.service, last.quantity)
        available = shop.balance(member).available
        m["difference"] = int(m["credits_new"]) - int(m["credits_then"])  # type: ignore[call-overload]
        m["last_service"] = last.service
        m["last_credits_new"] = price or 0
        m["available"] = available
        m["decline_reason"] = ("service_not_found" if price is None
                               else "insufficient_credits" if price > available else None)
    return {"services": services, "members": members}


def test_the_preview_gives_exact_figures_per_service_and_member_and_writes_nothing(
        history: tuple[jeton.Community, list[Charged]], store: object, invariants: Check
) -> None:
    shop, log = history
    want = expected(shop, log)
    before = counts(shop.jeton.store)
    p = shop.preview_catalog(NEW_CATALOG, days=30)
    assert counts(shop.jeton.store) == before  # read-only
    assert shop.catalog().version == 1
    invariants(shop.jeton.store)

    assert (p.charges, p.truncated, p.catalog_version, p.days) == (len(log), False, 1, 30)
    assert {s.service: {"charges": s.charges, "quantity": s.quantity,
                        "credits_then": s.credits_then, "credits_new": s.credits_new,
                        "refused": s.refused, "difference": s.difference}
            for s in p.services} == want["services"]
    assert {s.service: s.status for s in p.services} == {
        "chat.message": "changed", "files.download": "unchanged",
        "video.minute": "unchanged", "files.promoted": "unchanged",
        "classifieds.ad": "removed"}
    assert (p.added, p.changed, p.removed) == (["polls.vote"], ["chat.message"],
                                               ["classifieds.ad"])
    got = {m.member_id: {"charges": m.charges, "credits_then": m.credits_then,
                         "credits_new": m.credits_new, "difference": m.difference,
                         "last_service": m.last_service,
                         "last_credits_new": m.last_credits_new, "available": m.available,
                         "decline_reason": m.decline_reason} for m in p.members}
    assert got == want["members"]
    assert p.credits_then == sum(c.credits for c in log)
    assert p.difference == p.credits_new - p.credits_then
    # bob has 2 credits left and his last chat would cost 5; carol's last was a classified ad.
    declined = {m.member_id: m.decline_reason for m in p.members if m.would_be_declined}
    assert declined == {"bob": "insufficient_credits", "carol": "service_not_found"}
    assert p.members_declined == 2
    assert {m.member_id for m in p.members[:2]} == {"bob", "carol"}  # the declined first
    assert not p.members[2].would_be_declined


def test_a_shorter_window_replays_only_its_days(
        history: tuple[jeton.Community, list[Charged]]) -> None:
    shop, log = history
    now = shop.jeton.clock.now()
    recent = [c for c in log if c.at >= now - timedelta(days=3)]
    p = shop.preview_catalog(NEW_CATALOG, days=3)
    assert p.charges == len(recent) < len(log)
    assert p.credits_then == sum(c.credits for c in recent)
    assert p.credits_new == sum(new_price(c.member, c.service, c.quantity) or 0
                                for c in recent)


def test_the_replay_is_capped_at_the_newest_charges(
        history: tuple[jeton.Community, list[Charged]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    shop, log = history
    monkeypatch.setattr("jeton.core.limits.catalog_preview_charges_max", 5)
    p = shop.preview_catalog(NEW_CATALOG, days=30)
    assert (p.charges, p.charges_max, p.truncated) == (5, 5, True)
    assert p.credits_then == sum(c.credits for c in log[-5:])


def test_an_invalid_catalog_is_refused_with_its_line_and_nothing_is_written(
        history: tuple[jeton.Community, list[Charged]]) -> None:
    shop, _ = history
    before = counts(shop.jeton.store)
    with pytest.raises(InvalidRequest) as refused:
        shop.preview_catalog(BROKEN, days=30)
    assert refused.value.status is Status.catalog_invalid
    [error] = refused.value.extra["errors"]
    assert (error["line"], error["where"]) == (4, 'services."chat.message".credits')
    with pytest.raises(InvalidRequest) as loading:
        shop.load_catalog(BROKEN)
    assert loading.value.extra["errors"] == refused.value.extra["errors"]
    for days in (0, 91, "30"):
        with pytest.raises(InvalidRequest) as bad_days:
            shop.preview_catalog(NEW_CATALOG, days=days)  # type: ignore[arg-type]
        assert bad_days.value.status is Status.value_invalid
    assert counts(shop.jeton.store) == before


def test_a_catalog_built_in_python_previews_like_its_file(
        history: tuple[jeton.Community, list[Charged]]) -> None:
    shop, _ = history
    from jeton.core.catalog import load_catalog

    built = load_catalog(NEW_CATALOG, "toml").unwrap()
    assert shop.preview_catalog(built, days=30) == shop.preview_catalog(NEW_CATALOG, days=30)


def test_the_command_line_prints_the_same_preview(
        history: tuple[jeton.Community, list[Charged]], cli_app: typer.Typer,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop, _ = history
    store = shop.jeton.store
    if not store.url.startswith("sqlite"):
        pytest.skip("the command line opens the store by URL; SQLite shows it agrees")
    monkeypatch.setenv("JETON_DATABASE_URL", store.url)
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "new.toml"
    path.write_text(NEW_CATALOG)
    in_process = shop.preview_catalog(NEW_CATALOG, days=30)
    result = CliRunner().invoke(cli_app, ["catalog", "preview", str(path), "--days", "30",
                                          "--community", "shop", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    del printed["since"], printed["until"]
    want = in_process.model_dump(mode="json")
    del want["since"], want["until"]
    assert printed == want
    result = CliRunner().invoke(cli_app, ["catalog", "preview", str(path), "--community",
                                          "shop"])
    assert result.exit_code == 0, result.output
    assert "would be declined" in result.output
    assert "classifieds.ad" in result.output
    path.write_text(BROKEN)
    result = CliRunner().invoke(cli_app, ["catalog", "preview", str(path), "--community",
                                          "shop"])
    assert result.exit_code == 1
    assert "line 4:" in result.output
