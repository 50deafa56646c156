"""Badges: what a member earns once, when a rule about what they did holds (issue 17).

Pure domain, no I/O. A badge is read from the catalog's `[badges."<code>"]` tables by
`core/achievements.py` (which reports every error at its line), and `earned` says whether a
member's progress meets its rule. Storing progress, awarding once per badge and member, and the
`badge.awarded` event belong to `services/gamification`.

    [badges."downloader-100"]
    name = "Bookworm"
    emoji = "📚"
    description = "100 downloads"
    rule = { uses = 100, service = "files.download" }

Rules (exactly one key besides `service`):
- `uses = N`: N charges of `service` (of any service when omitted);
- `credits_spent = N`: N credits spent in charges (of `service` when named);
- `purchases = N`: N purchases completed (1: the first purchase);
- `rewards = N`: N rewards received (of the reward named by `service` when given);
- `streak_days = N`: charges on N consecutive UTC days;
- `points = N`: N points earned over the member's lifetime;
- `royalties = N`: N credits received as royalties (a share of others' charges).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jeton.core import limits

BADGE_CODE_CHARS_MAX = limits.badge_code_chars_max
BADGE_TEXT_CHARS_MAX = limits.badge_text_chars_max
BADGE_THRESHOLD_MAX = limits.badge_threshold_max
BADGES_MAX = limits.badges_max

Report = Callable[[tuple[str | int, ...], str], None]
"""Where an error is (a path in the catalog data) and why: the catalog checker's `fail`."""


class RuleKind(StrEnum):
    uses = "uses"
    credits_spent = "credits_spent"
    purchases = "purchases"
    rewards = "rewards"
    streak_days = "streak_days"
    points = "points"
    royalties = "royalties"


SCOPED_KINDS = frozenset({RuleKind.uses, RuleKind.credits_spent, RuleKind.rewards})
TEXT_KEYS = ("name", "description", "emoji", "image_url")


@dataclass(frozen=True, slots=True)
class Badge:
    code: str
    name: str
    kind: RuleKind
    threshold: int
    service: str | None = None  # uses, credits_spent, rewards only; None: every one
    description: str = ""
    emoji: str = ""
    image_url: str = ""


def counter_of(kind: RuleKind, service: str | None) -> str:
    """The progress counter a rule reads (see `core/awarding.py` for who raises it)."""
    prefix = {RuleKind.uses: "uses", RuleKind.credits_spent: "spent",
              RuleKind.rewards: "rewards"}.get(kind)
    if prefix is not None:
        return f"{prefix}:{service or '*'}"
    return {RuleKind.purchases: "purchases", RuleKind.streak_days: "streak.days",
            RuleKind.points: "points", RuleKind.royalties: "royalties"}[kind]


def earned(badge: Badge, counters: Mapping[str, int]) -> bool:
    """Whether a member's counters meet the badge's rule."""
    return counters.get(counter_of(badge.kind, badge.service), 0) >= badge.threshold


def is_code(code: str) -> bool:
    return (0 < len(code) <= BADGE_CODE_CHARS_MAX
            and all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in code))


def parse_texts(entry: Mapping[str, Any], path: tuple[str | int, ...],
                fail: Report) -> dict[str, str]:
    """The name, description, emoji and image URL of a badge or a challenge."""
    texts: dict[str, str] = {}
    for key in TEXT_KEYS:
        value = entry.get(key, "")
        if not isinstance(value, str) or len(value) > BADGE_TEXT_CHARS_MAX:
            fail((*path, key), f"must be text of at most {BADGE_TEXT_CHARS_MAX} characters")
            value = ""
        texts[key] = value
    if "name" in entry and not texts["name"].strip():
        fail((*path, "name"), "must not be empty")
    elif "name" not in entry:
        fail(path, "name is required")
    url = texts["image_url"]
    if url and not (url.startswith("https://") or url.startswith("/")):
        fail((*path, "image_url"), "must start with https:// or / (an image of the host app)")
    return texts


def parse_rule(rule: object, path: tuple[str | int, ...], fail: Report, *,
               kinds: frozenset[RuleKind] = frozenset(RuleKind),
               ) -> tuple[RuleKind, int, str | None] | None:
    """`{ uses = 100, service = "files.download" }` as (kind, threshold, service)."""
    if not isinstance(rule, Mapping):
        fail(path, "a rule is a table, e.g. { uses = 100 }")
        return None
    found = [k for k in rule if k in kinds]
    others = sorted(str(k) for k in rule if k not in kinds and k != "service")
    if others:
        fail(path, f"unknown keys: {', '.join(others)}; expected one of "
                   f"{', '.join(sorted(k.value for k in kinds))} (and service)")
    if len(found) != 1:
        fail(path, "name exactly one of: " + ", ".join(sorted(k.value for k in kinds)))
        return None
    kind = RuleKind(found[0])
    threshold = rule[kind.value]
    ok = True
    if type(threshold) is not int or not 1 <= threshold <= BADGE_THRESHOLD_MAX:
        fail((*path, kind.value), f"must be a whole number 1-{BADGE_THRESHOLD_MAX}")
        ok = False
    service = rule.get("service")
    if service is not None:
        if kind not in SCOPED_KINDS:
            fail((*path, "service"), f"a {kind.value} rule counts everything; it has no service")
            ok = False
        elif not isinstance(service, str) or not 0 < len(service) <= 100:
            fail((*path, "service"), "must be a service or reward code")
            ok = False
    if not ok:
        return None
    return kind, int(threshold), service


def parse_badges(data: object, fail: Report) -> dict[str, Badge]:
    """The badges of a catalog's `badges` table; every error goes to `fail`."""
    if not isinstance(data, Mapping):
        fail(("badges",), "badges must be a table of badges")
        return {}
    if len(data) > BADGES_MAX:
        fail(("badges",), f"at most {BADGES_MAX} badges")
        return {}
    badges: dict[str, Badge] = {}
    for code, entry in data.items():
        path: tuple[str | int, ...] = ("badges", str(code))
        found = _badge(str(code), entry, path, fail)
        if found is not None:
            badges[found.code] = found
    return badges


def _badge(code: str, entry: object, path: tuple[str | int, ...], fail: Report) -> Badge | None:
    ok = True
    if not is_code(code):
        fail(path, f"a badge code is 1-{BADGE_CODE_CHARS_MAX} letters, digits, '.', '_' or '-'")
        ok = False
    if not isinstance(entry, Mapping):
        fail(path, "a badge must be a table")
        return None
    unknown = sorted(str(k) for k in set(entry) - {*TEXT_KEYS, "rule"})
    for key in unknown:
        fail((*path, key), f"unknown key {key!r}; expected one of "
                           f"{', '.join(sorted({*TEXT_KEYS, 'rule'}))}")
    texts = parse_texts(entry, path, fail)
    if "rule" not in entry:
        fail(path, "rule is required, e.g. rule = { uses = 100 }")
        return None
    rule = parse_rule(entry["rule"], (*path, "rule"), fail)
    if rule is None or not ok or unknown:
        return None
    kind, threshold, service = rule
    return Badge(code=code, name=texts["name"], kind=kind, threshold=threshold,
                 service=service, description=texts["description"], emoji=texts["emoji"],
                 image_url=texts["image_url"])
