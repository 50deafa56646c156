"""Gamification rules read from a catalog file, every error with its line, and what one
activity earns under them (core/achievements.py, core/badges.py, core/awarding.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from jeton.core.achievements import Trigger
from jeton.core.awarding import Activity, ActivityKind, MemberProgress, Metric, apply
from jeton.core.badges import Badge, RuleKind
from jeton.core.catalog import Catalog, load_catalog
from jeton.core.catalog_data import catalog_to_data
from jeton.core.clock import to_us

SERVICES = """
[services."files.download"]
name = "Download"
credits = 2

[rewards."poll.completed"]
name = "Poll"
credits = 1
limit = 3
per = "day"
"""

RULES = SERVICES + """
[points."downloads"]
on = "charge"
service = "files.download"
points = 2

[points."spending"]
on = "charge"
points = 1
per_credit = true

[points."week-streak"]
on = "streak"
days = 3
points = 50

[badges."bookworm"]
name = "Bookworm"
emoji = "📚"
description = "3 downloads"
rule = { uses = 3, service = "files.download" }

[badges."supporter"]
name = "Supporter"
rule = { purchases = 1 }

[[levels]]
name = "Newcomer"
points = 0

[[levels]]
name = "Regular"
points = 20

[challenges."two-a-day"]
name = "Two downloads today"
goal = { uses = 2, service = "files.download" }
per = "day"
reward = { credits = 5, points = 3 }
"""


def _catalog(text: str) -> Catalog:
    result = load_catalog(text, "toml")
    assert result.errors == ()
    assert result.catalog is not None
    return result.catalog


def test_an_owner_writes_points_badges_levels_and_challenges_beside_the_prices() -> None:
    rules = _catalog(RULES).achievements
    assert rules.points["downloads"].on is Trigger.charge
    assert rules.points["spending"].per_credit
    assert rules.points["week-streak"].days == 3
    assert rules.badges["bookworm"] == Badge(
        code="bookworm", name="Bookworm", kind=RuleKind.uses, threshold=3,
        service="files.download", description="3 downloads", emoji="📚")
    assert [(lv.rank, lv.name, lv.points) for lv in rules.levels] == [
        (1, "Newcomer", 0), (2, "Regular", 20)]
    assert rules.challenges["two-a-day"].credits == 5
    assert rules.level_of(19).name == "Newcomer"  # type: ignore[union-attr]
    assert rules.level_of(20).name == "Regular"  # type: ignore[union-attr]


def test_the_rules_survive_the_trip_through_stored_data() -> None:
    from jeton.core.catalog import catalog_from_data

    catalog = _catalog(RULES)
    again = catalog_from_data(catalog_to_data(catalog)).catalog
    assert again is not None
    assert again.achievements.points == catalog.achievements.points
    assert again.achievements.badges == catalog.achievements.badges
    assert again.achievements.levels == catalog.achievements.levels
    assert again.achievements.challenges == catalog.achievements.challenges


def test_every_mistake_is_reported_with_its_line_and_nothing_loads() -> None:
    text = SERVICES + """
[points."nope"]
on = "charge"
service = "files.upload"
points = 2

[points."streak"]
on = "streak"
points = 5

[points."gift"]
on = "purchase"
points = 1
per_credit = true

[badges."two rules"]
name = "Both"
rule = { uses = 1, purchases = 1 }

[badges."scoped-streak"]
name = "S"
rule = { streak_days = 3, service = "chat.message" }

[badges."typo"]
name = "T"
rul = { uses = 1 }

[[levels]]
name = "A"
points = 10

[[levels]]
name = "B"
points = 5

[challenges."weekly"]
name = "W"
goal = { uses = 2 }
per = "year"
reward = { badge = "missing" }
"""
    result = load_catalog(text, "toml")
    assert result.catalog is None
    found = {(e.line, e.where) for e in result.errors}
    assert (14, 'points.nope.service') in found
    assert (17, 'points.streak') in found
    assert (24, 'points.gift.per_credit') in found
    assert (26, 'badges."two rules"') in found
    assert (28, 'badges."two rules".rule') in found
    assert (32, 'badges.scoped-streak.rule.service') in found or \
        (32, 'badges.scoped-streak.rule') in found
    assert (36, 'badges.typo.rul') in found
    assert (44, 'levels[1].points') in found
    assert (49, 'challenges.weekly.per') in found
    assert (50, 'challenges.weekly.reward.badge') in found
    assert all(e.line > 0 for e in result.errors)


def _at(day: int, hour: int = 12) -> int:
    return to_us(datetime(2026, 1, day, hour, tzinfo=UTC))


def test_charges_earn_points_a_streak_a_challenge_a_badge_and_a_level_once() -> None:
    rules = _catalog(RULES).achievements
    me = MemberProgress()
    earned = []
    points = 0
    for n, day in enumerate([12, 12, 13, 14, 14]):
        out = apply(rules, me, Activity(f"t{n}", "alice", ActivityKind.charge, _at(day),
                                        "files.download", credits=2))
        earned += [a.key for a in out.awards]
        points += out.points
        assert out.totals[Metric.credits_spent] == 2
    # 5 charges: 2 points each + 1 per credit (2) = 20; two-a-day done on the 12th and the 14th
    # (3 points each); the streak reached 3 days on the 14th (50).
    assert points == 5 * 4 + 2 * 3 + 50
    assert me.counters["points"] == points
    assert me.counters["uses:files.download"] == 5
    assert me.counters["streak.days"] == 3
    assert earned == ["challenge:two-a-day:2026-01-12", "badge:bookworm", "level:2",
                      "challenge:two-a-day:2026-01-14"]


def test_a_purchase_earns_the_first_purchase_badge_and_a_royalty_counts_for_the_board() -> None:
    rules = _catalog(RULES).achievements
    me = MemberProgress()
    out = apply(rules, me, Activity("p1", "bob", ActivityKind.purchase, _at(12)))
    assert [a.key for a in out.awards] == ["badge:supporter"]
    again = apply(rules, me, Activity("p2", "bob", ActivityKind.purchase, _at(12)))
    assert again.awards == []
    royalty = apply(rules, me, Activity("t", "bob", ActivityKind.royalty, _at(12),
                                        "files.download", credits=3))
    assert royalty.totals == {Metric.royalties: 3}
    assert me.counters["royalties"] == 3
