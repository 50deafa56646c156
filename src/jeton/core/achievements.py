"""Gamification rules of a catalog: points, badges, levels and challenges (issue 17).

Pure domain, no I/O. They are written in the catalog file beside the prices and checked with
it (`core/catalog.py` calls `parse_achievements` with its own error reporter, so every error
carries its line):

    [points."downloads"]            # points earned by what members do
    on = "charge"                   # charge, reward, purchase, transfer_received, streak
    service = "files.download"      # charge: one service; reward: one reward (omitted: any)
    points = 2                      # per event ...
    per_credit = false              # ... or, true, per credit spent (charge) or received

    [points."week-streak"]
    on = "streak"
    days = 7                        # each time a run of daily charges reaches 7, 14, 21...
    points = 50

    [badges."bookworm"]             # see core/badges.py
    name = "Bookworm"
    emoji = "📚"
    rule = { uses = 100, service = "files.download" }

    [[levels]]                      # ranks by lifetime points, lowest first
    name = "Newcomer"
    points = 0

    [challenges."weekly-downloads"]
    name = "Ten downloads this week"
    goal = { uses = 10, service = "files.download" }
    per = "week"                    # day, week (ISO, from Monday) or month, in UTC
    reward = { credits = 20, points = 0, badge = "" }   # at least one of the three

The checked sections are kept as the plain data they came from (`Achievements.data`), which is
what the services layer stores and reads back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from jeton.core import limits
from jeton.core.allowances import Period
from jeton.core.badges import (
    BADGE_CODE_CHARS_MAX,
    BADGE_THRESHOLD_MAX,
    TEXT_KEYS,
    Badge,
    Report,
    RuleKind,
    is_code,
    parse_badges,
    parse_rule,
    parse_texts,
)

SECTIONS = ("points", "badges", "levels", "challenges")
POINTS_ASSET = "POINTS"  # scale 0: points are whole


class Trigger(StrEnum):
    charge = "charge"
    reward = "reward"
    purchase = "purchase"
    transfer_received = "transfer_received"
    streak = "streak"


@dataclass(frozen=True, slots=True)
class PointsRule:
    code: str
    on: Trigger
    points: int
    service: str | None = None  # charge: a service code; reward: a reward code; None: any
    per_credit: bool = False  # charge and transfer_received: points per credit
    days: int = 0  # streak only


@dataclass(frozen=True, slots=True)
class Level:
    rank: int  # 1 for the first (lowest) level
    name: str
    points: int  # lifetime points from which a member holds it
    emoji: str = ""


@dataclass(frozen=True, slots=True)
class Challenge:
    code: str
    name: str
    kind: RuleKind  # uses, credits_spent, purchases or rewards
    target: int
    period: Period
    service: str | None = None
    credits: int = 0
    points: int = 0
    badge: str | None = None
    description: str = ""
    emoji: str = ""
    image_url: str = ""


@dataclass(frozen=True, slots=True)
class Achievements:
    points: Mapping[str, PointsRule] = field(default_factory=lambda: MappingProxyType({}))
    badges: Mapping[str, Badge] = field(default_factory=lambda: MappingProxyType({}))
    levels: tuple[Level, ...] = ()
    challenges: Mapping[str, Challenge] = field(default_factory=lambda: MappingProxyType({}))
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def empty(self) -> bool:
        return not (self.points or self.badges or self.levels or self.challenges)

    def level_of(self, lifetime_points: int) -> Level | None:
        """The highest level whose threshold the points reach; None below the first."""
        found = None
        for level in self.levels:
            if lifetime_points >= level.points:
                found = level
        return found


NONE = Achievements()
_POINTS_KEYS = frozenset({"on", "service", "points", "per_credit", "days"})
_LEVEL_KEYS = frozenset({"name", "points", "emoji"})
_CHALLENGE_KEYS = frozenset({*TEXT_KEYS, "goal", "per", "reward"})
_REWARD_KEYS = frozenset({"credits", "points", "badge"})
_CHALLENGE_KINDS = frozenset({RuleKind.uses, RuleKind.credits_spent, RuleKind.purchases,
                              RuleKind.rewards})


def parse_achievements(top: Mapping[str, Any], fail: Report, *,
                       services: frozenset[str], rewards: frozenset[str]) -> Achievements:
    """The gamification sections of a catalog's data. Every error goes to `fail`; `services`
    and `rewards` are the catalog's codes, which the rules must name."""
    data = {key: top[key] for key in SECTIONS if key in top}
    if not data:
        return NONE
    rules = _points(data.get("points", {}), fail, services, rewards)
    badges = parse_badges(data.get("badges", {}), fail)
    for badge in badges.values():
        if badge.service is not None:
            known = rewards if badge.kind is RuleKind.rewards else services
            if badge.service not in known:
                what = "reward" if badge.kind is RuleKind.rewards else "service"
                fail(("badges", badge.code, "rule", "service"),
                     f"no {what} {badge.service!r} in this catalog")
    levels = _levels(data.get("levels", []), fail)
    challenges = _challenges(data.get("challenges", {}), fail, services, rewards, badges)
    total = len(rules) + len(badges) + len(levels) + len(challenges)
    if total > limits.achievement_rules_max:
        fail((), f"at most {limits.achievement_rules_max} points rules, badges, levels and "
                 f"challenges together, this catalog has {total}")
    return Achievements(points=MappingProxyType(rules), badges=MappingProxyType(badges),
                        levels=tuple(levels), challenges=MappingProxyType(challenges),
                        data=MappingProxyType(data))


def _table(value: object, path: tuple[str | int, ...], what: str, fail: Report,
           ) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        fail(path, f"{what} must be a table")
        return None
    return value


def _unknown(entry: Mapping[str, Any], allowed: frozenset[str], path: tuple[str | int, ...],
             fail: Report) -> bool:
    bad = sorted(str(k) for k in entry if k not in allowed)
    for key in bad:
        fail((*path, key), f"unknown key {key!r}; expected one of {', '.join(sorted(allowed))}")
    return bool(bad)


def _whole(value: object, path: tuple[str | int, ...], fail: Report, *, low: int = 1) -> int:
    if type(value) is not int or not low <= value <= BADGE_THRESHOLD_MAX:
        fail(path, f"must be a whole number {low}-{BADGE_THRESHOLD_MAX}")
        return -1
    return value


def _points(section: object, fail: Report, services: frozenset[str],
            rewards: frozenset[str]) -> dict[str, PointsRule]:
    table = _table(section, ("points",), "points", fail)
    if table is None:
        return {}
    out: dict[str, PointsRule] = {}
    for code, entry in table.items():
        path: tuple[str | int, ...] = ("points", str(code))
        ok = is_code(str(code))
        if not ok:
            fail(path, f"a rule code is 1-{BADGE_CODE_CHARS_MAX} letters, digits, '.', '_' or '-'")
        rule = _table(entry, path, "a points rule", fail)
        if rule is None:
            continue
        ok = not _unknown(rule, _POINTS_KEYS, path, fail) and ok
        on_raw = rule.get("on")
        if on_raw not in Trigger.__members__:
            fail((*path, "on") if "on" in rule else path,
                 f"on must be one of {', '.join(t.value for t in Trigger)}")
            continue
        on = Trigger(str(on_raw))
        points = _whole(rule.get("points"), (*path, "points"), fail) if "points" in rule else -1
        if "points" not in rule:
            fail(path, "points is required")
        service = rule.get("service")
        if service is not None:
            if on not in (Trigger.charge, Trigger.reward):
                fail((*path, "service"), f"an {on.value!r} rule has no service")
                ok = False
            elif not isinstance(service, str) or service not in (
                    services if on is Trigger.charge else rewards):
                what = "service" if on is Trigger.charge else "reward"
                fail((*path, "service"), f"no {what} {service!r} in this catalog")
                ok = False
        per_credit = rule.get("per_credit", False)
        if type(per_credit) is not bool:
            fail((*path, "per_credit"), "must be true or false")
            ok = False
        elif per_credit and on not in (Trigger.charge, Trigger.transfer_received):
            fail((*path, "per_credit"), "only a charge or a transfer received is per credit")
            ok = False
        days = 0
        if on is Trigger.streak:
            days = _whole(rule.get("days"), (*path, "days"), fail, low=2) if "days" in rule else -1
            if "days" not in rule:
                fail(path, "a streak rule needs days (2 or more)")
        elif "days" in rule:
            fail((*path, "days"), "only a streak rule has days")
            ok = False
        if ok and points > 0 and days >= 0:
            out[str(code)] = PointsRule(code=str(code), on=on, points=points,
                                        service=service, per_credit=bool(per_credit), days=days)
    return out


def _levels(section: object, fail: Report) -> list[Level]:
    if not isinstance(section, list):
        fail(("levels",), "levels must be a list of tables ([[levels]])")
        return []
    if len(section) > limits.levels_max:
        fail(("levels",), f"at most {limits.levels_max} levels")
        return []
    out: list[Level] = []
    names: set[str] = set()
    for index, entry in enumerate(section):
        path: tuple[str | int, ...] = ("levels", index)
        table = _table(entry, path, "a level", fail)
        if table is None:
            continue
        bad = _unknown(table, _LEVEL_KEYS, path, fail)
        name = table.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            fail((*path, "name") if "name" in table else path,
                 "a level needs a name of 1-100 characters")
            continue
        if name in names:
            fail((*path, "name"), f"the level {name!r} is named twice")
        names.add(name)
        points = _whole(table.get("points"), (*path, "points"), fail, low=0)
        emoji = table.get("emoji", "")
        if not isinstance(emoji, str) or len(emoji) > 16:
            fail((*path, "emoji"), "must be text of at most 16 characters")
            continue
        if out and points >= 0 and points <= out[-1].points:
            fail((*path, "points"), f"levels go up: more than {out[-1].points} "
                                    f"(the level before)")
            continue
        if points >= 0 and not bad:
            out.append(Level(rank=len(out) + 1, name=name, points=points, emoji=emoji))
    return out


def _challenges(section: object, fail: Report, services: frozenset[str],
                rewards: frozenset[str], badges: Mapping[str, Badge]) -> dict[str, Challenge]:
    table = _table(section, ("challenges",), "challenges", fail)
    if table is None:
        return {}
    out: dict[str, Challenge] = {}
    for code, entry in table.items():
        path: tuple[str | int, ...] = ("challenges", str(code))
        ok = is_code(str(code))
        if not ok:
            fail(path, f"a challenge code is 1-{BADGE_CODE_CHARS_MAX} letters, digits, "
                       "'.', '_' or '-'")
        item = _table(entry, path, "a challenge", fail)
        if item is None:
            continue
        ok = not _unknown(item, _CHALLENGE_KEYS, path, fail) and ok
        texts = parse_texts(item, path, fail)
        goal = None
        if "goal" not in item:
            fail(path, "goal is required, e.g. goal = { uses = 10 }")
        else:
            goal = parse_rule(item["goal"], (*path, "goal"), fail, kinds=_CHALLENGE_KINDS)
        if goal is not None and goal[2] is not None:
            known = rewards if goal[0] is RuleKind.rewards else services
            if goal[2] not in known:
                fail((*path, "goal", "service"), f"no such code {goal[2]!r} in this catalog")
                ok = False
        period = item.get("per")
        if period not in ("day", "week", "month"):
            fail((*path, "per") if "per" in item else path, "per must be day, week or month")
            ok = False
        reward = _challenge_reward(item.get("reward"), (*path, "reward"), fail, badges)
        if goal is None or reward is None or not ok or not texts["name"]:
            continue
        credits, points, badge = reward
        out[str(code)] = Challenge(
            code=str(code), name=texts["name"], kind=goal[0], target=goal[1],
            period=Period(str(period)), service=goal[2], credits=credits, points=points,
            badge=badge, description=texts["description"], emoji=texts["emoji"],
            image_url=texts["image_url"])
    return out


def _challenge_reward(value: object, path: tuple[str | int, ...], fail: Report,
                      badges: Mapping[str, Badge]) -> tuple[int, int, str | None] | None:
    table = _table(value, path, "reward (credits, points or badge)", fail)
    if table is None:
        return None
    if _unknown(table, _REWARD_KEYS, path, fail):
        return None
    credits = _whole(table.get("credits", 0), (*path, "credits"), fail, low=0)
    points = _whole(table.get("points", 0), (*path, "points"), fail, low=0)
    badge = table.get("badge")
    if badge is not None and (not isinstance(badge, str) or badge not in badges):
        fail((*path, "badge"), f"no badge {badge!r} in this catalog")
        return None
    if credits < 0 or points < 0:
        return None
    if credits == 0 and points == 0 and badge is None:
        fail(path, "a challenge rewards credits, points or a badge (at least one)")
        return None
    return credits, points, badge
