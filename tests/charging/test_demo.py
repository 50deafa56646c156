"""The demo community: everything at once for a new user, and the same after a second load."""

from __future__ import annotations

import pytest

import jeton
from jeton.services.ops import demo
from jeton.store.engine import Store

from .conftest import Check, counts


def test_the_demo_shows_charges_royalties_allowances_a_call_and_rewards(
        j: jeton.Jeton, store: Store, invariants: Check) -> None:
    c = demo.load_demo(j)
    invariants(store)
    assert c.id == "demo"
    assert [m.id for m in c.list_members().data] == ["alice", "bob", "carol", "dave", "mia"]
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


def test_loading_the_demo_twice_changes_nothing_the_second_time(j: jeton.Jeton,
                                                                store: Store,
                                                                invariants: Check) -> None:
    demo.load_demo(j)
    before = counts(store)
    again = demo.load_demo(j)
    assert counts(store) == before
    assert again.catalog().version == 1
    invariants(store)


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
