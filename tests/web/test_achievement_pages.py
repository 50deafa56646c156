"""Achievements in the pages: a member sees their level, badges, the week's challenge and the
leaderboard; the owner sees the rules, the leaderboard and who earned what."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk, text_of
from .member_support import MemberBrowser, Shop

pytestmark = pytest.mark.anyio

CATALOG = """
[services."files.download"]
name = "File download"
credits = 10
splits = [{ to = "party:uploader", share_bp = 3000 }]

[points."downloads"]
on = "charge"
service = "files.download"
points = 5

[badges."bookworm"]
name = "Bookworm"
emoji = "📚"
description = "Two downloads"
rule = { uses = 2, service = "files.download" }

[badges."collector"]
name = "Collector"
description = "Fifty downloads"
rule = { uses = 50, service = "files.download" }

[[levels]]
name = "Newcomer"
points = 0

[[levels]]
name = "Reader"
points = 10

[[levels]]
name = "Scholar"
points = 100

[challenges."five-a-week"]
name = "Five downloads this week"
goal = { uses = 5, service = "files.download" }
per = "week"
reward = { credits = 20 }
"""


def _play(chat: jeton.Community) -> None:
    chat.load_catalog(CATALOG, "toml")
    chat.grant("alice", 100, idempotency_key="welcome-alice")
    chat.grant("bob", 100, idempotency_key="welcome-bob")
    for n in range(3):
        chat.charge("alice", "files.download", context={"uploader": "carol"},
                    idempotency_key=f"a-{n}")
    chat.charge("bob", "files.download", context={"uploader": "carol"}, idempotency_key="b-0")
    chat.award_achievements()


async def test_a_member_sees_level_badges_challenge_and_leaderboard(
        shop: Shop, alice: MemberBrowser, invariants: Callable[[Store], None]) -> None:
    _play(shop.chat)
    overview = await alice.get("/m/")
    assert "/m/achievements" in overview.text  # in the navigation
    page = await alice.get("/m/achievements")
    assert page.status_code == 200
    words = text_of(page)
    assert "Reader" in words
    assert "15 points earned" in words
    assert "85 points to Scholar" in words
    held = page.text.split('data-list="held"', 1)[1].split("</ul>", 1)[0]
    assert "Bookworm" in held
    assert "Collector" not in held
    assert "3 of 50 uses of files.download" in words
    assert "Five downloads this week" in words
    assert "3 / 5" in words
    board = page.text.split('data-board="points"', 1)[1]
    assert board.index("Alice Liddell") < board.index("Bob Builder")
    royalties = await alice.get("/m/achievements?board=royalties&period=all")
    assert "Carol Singer" in text_of(royalties)
    odd = await alice.get("/m/achievements?board=karma&period=year")
    assert odd.status_code == 200  # unknown choices fall back to the defaults
    invariants(shop.j.store)


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)
    chat = j.community("chat")
    for member, name in (("alice", "Alice Liddell"), ("bob", "Bob Builder"),
                         ("carol", "Carol Singer")):
        chat.create_member(member, name=name)
    return j


async def test_the_owner_sees_rules_leaderboard_and_who_earned_what(
        j: jeton.Jeton, owner: Desk) -> None:
    _play(j.community("chat"))
    home = await owner.get("/admin/")
    assert "/admin/achievements" in home.text
    page = await owner.get("/admin/achievements")
    assert page.status_code == 200
    awards = page.text.split('data-table="awards"', 1)[1].split("</table>", 1)[0]
    assert "Bookworm" in awards
    assert "Reader" in awards
    rules = text_of(page).split("Rules", 1)[1]
    assert "Five downloads this week" in rules
    assert "2 uses of files.download" in rules
    spent = await owner.get("/admin/achievements?board=credits_spent&period=month")
    board = spent.text.split('data-table="leaderboard"', 1)[1].split("</table>", 1)[0]
    assert board.index("Alice Liddell") < board.index("Bob Builder")
    member_page = await owner.get("/admin/members/bob")
    assert "/admin/achievements?member=bob" in member_page.text
    only_bob = await owner.get("/admin/achievements?member=bob")
    mine = only_bob.text.split('data-table="awards"', 1)[1].split("</table>", 1)[0]
    assert "alice" not in mine
    assert "Nothing earned yet." in mine  # bob's 5 points reach no level and no badge
