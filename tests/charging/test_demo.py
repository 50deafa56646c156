"""The demo community: everything at once for a new user, and the same after a second load.

Loading it takes seconds (most on PostgreSQL), so the tests that only read what one load made,
and the one that loads it a second time (which must write nothing), share one load per store
kind (`loaded`); the tests that change it or load it their own way load it on their own store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import jeton
from conftest import SERVERS, drop_pg_store, make_pg_store, make_sqlite_store
from jeton.config import Settings
from jeton.core.catalog import load_catalog
from jeton.core.clock import ManualClock
from jeton.services.ops import demo, demo_history
from jeton.store.engine import Store

from .conftest import Check, counts


@dataclass(frozen=True)
class Loaded:
    j: jeton.Jeton
    store: Store
    demo: jeton.Community  # what the first load returned


@pytest.fixture(scope="module", params=["sqlite", *SERVERS])
def loaded(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """The demo loaded once into a new store of each kind, as the `j` fixture would load it (the
    same clock and settings). For tests that do not change it."""
    if request.param == "sqlite":
        store = make_sqlite_store(tmp_path_factory.mktemp("demo") / "jeton.db")
    else:
        store = make_pg_store(citus=request.param == "citus")
    clock = ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))  # the `clock` fixture's
    j = jeton.Jeton(store, clock=clock, settings=Settings(webhooks_allow_private=True))
    try:
        yield Loaded(j, store, demo.load_demo(j))
    finally:
        j.close()
        if request.param == "sqlite":
            store.dispose()
        else:
            drop_pg_store(store)


def test_the_demo_shows_charges_royalties_allowances_a_call_and_rewards(
        loaded: Loaded, invariants: Check) -> None:
    c = loaded.demo
    invariants(loaded.store)
    assert c.id == "demo"
    ids = [m.id for m in c.list_members(limit=100).data]
    assert [i for i in ids if not i.startswith("member-")] == [
        "alice", "bob", "carol", "dave", "mia"]
    assert len(ids) > 30  # and the members who joined over the last sixty days
    catalog = c.catalog()
    assert {s.code for s in catalog.services} >= {
        "chat.message", "chat.private_room", "files.download", "classifieds.ad",
        "mall.sticker_pack", "video.minute"}
    # alice: 300 welcome, 1 chat message past the five free, VIP frame 10, badge 100,
    # a promoted download +2, a poll +5
    assert c.balance("alice").available == 300 - 1 - 10 - 100 + 2 + 5
    # bob: 50 welcome, a royalty of 3 on dave's 10 KiB download, 10 for uploading
    assert c.balance("bob").available == 50 + 3 + 10
    assert c.balance("carol").available == 100 - 50 - 10
    # dave: 500 bought, the download 10, stickers 30, seven minutes at the buyer price 20
    assert c.balance("dave").available == 500 - 10 - 30 - 7 * 20
    assert c.balance("dave").pending == 0
    assert c.account_balance("appstore").posted == 1
    assert [h.name for h in c.member_holdings("alice").classes] == ["vip"]
    # The demo's rules were counted over its history: someone earned something, and the
    # leaderboard of the month is not empty.
    assert {r.code for r in c.achievement_rules().badges} == {"bookworm", "supporter", "author"}
    assert c.achievement_awards()
    assert c.leaderboard("points", period="all").entries
    assert c.achievements("alice").points == c.balance("alice", asset="POINTS").posted


def test_loading_the_demo_twice_changes_nothing_the_second_time(loaded: Loaded,
                                                                invariants: Check) -> None:
    before = counts(loaded.store)  # as the first load left it
    again = demo.load_demo(loaded.j)
    assert counts(loaded.store) == before
    assert again.catalog().version == 1
    invariants(loaded.store)


def test_other_areas_add_their_demo_steps(j: jeton.Jeton) -> None:
    seen: list[str] = []

    def step(app: jeton.Jeton, community: jeton.Community) -> None:
        seen.append(community.id)

    demo.add_demo_step(step)
    demo.add_demo_step(step)
    try:
        demo.load_demo(j)
    finally:
        demo.DEMO_STEPS.remove(step)
    assert seen == ["demo"]


def test_a_restart_keeps_what_the_owner_changed_and_makes_no_new_key(
        j: jeton.Jeton, capsys: pytest.CaptureFixture[str]) -> None:
    # `jeton serve --demo` once put the demo catalog back and made another admin key each start.
    from jeton.cli.ops import _demo_welcome
    from jeton.services.access.api_keys import ApiKeys

    c = demo.load_demo(j)
    _demo_welcome(c, "http://127.0.0.1:8000")
    first = capsys.readouterr().out
    assert "owner@demo.example / " in first
    retired = c.list_packs()[0].id
    c.set_pack_active(retired, False)
    version = c.catalog().version
    c.load_catalog('[services."chat.message"]\nname = "Chat message"\ncredits = 2\n')

    again = demo.load_demo(j)
    _demo_welcome(again, "http://127.0.0.1:8000")
    second = capsys.readouterr().out
    assert "jeton staff reset-password" in second
    assert "jtk_" not in second
    assert len(ApiKeys(j.store, j.clock).list(c.id, limit=50).data) == 1
    assert retired not in {p.id for p in again.list_packs()}
    assert again.catalog().version == version + 1


def test_the_demo_has_sixty_days_of_history_for_the_reports(
        loaded: Loaded, invariants: Check) -> None:
    # All demo activity once happened on one day: every chart was a flat line and a spike.
    c = loaded.demo
    invariants(loaded.store)
    today = loaded.j.clock.now().date()
    report = c.report(since=today - timedelta(days=demo_history.HISTORY_DAYS + 1),
                      until=today + timedelta(days=1))
    per_day = report.table("per_day").rows  # day, issued, consumed, expired
    assert len({row[0] for row in per_day if row[2]}) >= 40  # use on most days
    assert sum(row[3] for row in per_day) > 0  # expiring credits expired
    sources = {row[0] for row in report.table("issued_by_source").rows}
    assert {"purchase", "plan", "bonus"} <= sources
    sold = report.table("packs_sold").rows
    assert {row[0] for row in sold} == {name for _, name, *_ in demo.PACKS}
    assert len({row[0] for row in report.table("money_per_day").rows}) >= 15
    renewed = [s for s in c.list_subscriptions() if (s.current_cycle or 0) >= 1]  # from 0
    assert renewed  # plans renewed by the job as the days passed


def test_the_demo_history_is_the_same_every_time(tmp_path: Path) -> None:
    seen = []
    for n in (1, 2):
        with jeton.open(f"sqlite:///{tmp_path / f'demo{n}.db'}") as j:
            c = demo.load_demo(j)
            seen.append([(m.id, c.balance(m.id).available)
                         for m in c.list_members(limit=100).data])
    assert seen[0] == seen[1]


def test_packs_and_the_plan_sell_credits_at_one_rate() -> None:
    # 20 credits for $60 in packs beside 120 credits for $29 in the plan: a demo at odds
    # with itself.
    rates = [(credits + bonus) / (price / 100) for _, _, credits, price, bonus, _ in demo.PACKS]
    rates.append(demo.PLAN_CREDITS / (demo.PLAN_PRICE_MINOR / 100))
    assert rates == sorted(rates[:-1]) + rates[-1:]  # bigger packs are never a worse deal
    assert max(rates) / min(rates) < 1.5
    catalog = load_catalog(demo.demo_catalog_text(), "toml").unwrap()
    for service in catalog.services.values():
        if service.price.money is not None:
            per_dollar = service.price.credits / (service.price.money.amount_minor / 100)
            assert min(rates) * 0.75 <= per_dollar <= max(rates), service.code
