"""Badges: what a member earns once, when a rule about what they did holds (issue 17).

Pure domain, no I/O. A badge is read from the catalog's `[badges."<code>"]` tables (parsed here
from plain data, every error reported at once with where it is), and `earned` says whether a
member's progress meets its rule. Storing progress, awarding once per badge and member, and the
`badge.awarded` event belong to a service (not written yet).

    [badges."downloader-100"]
    name = "Bookworm"
    emoji = "📚"
    description = "100 downloads"
    rule = { uses = 100, service = "files.download" }

Rules (exactly one key besides `service`):
- `uses = N`: N charges of `service` (of any service when omitted);
- `credits_spent = N`: N credits spent in charges (of `service` when named);
- `purchases = N`: N purchases completed (1: the first purchase);
- `streak_days = N`: charges on N consecutive UTC days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from jeton.core import limits
from jeton.core.catalog import CatalogError

BADGE_CODE_CHARS_MAX = limits.badge_code_chars_max
BADGE_TEXT_CHARS_MAX = limits.badge_text_chars_max
BADGE_THRESHOLD_MAX = limits.badge_threshold_max
BADGES_MAX = limits.badges_max


class RuleKind(StrEnum):
    uses = "uses"
    credits_spent = "credits_spent"
    purchases = "purchases"
    streak_days = "streak_days"


@dataclass(frozen=True, slots=True)
class Badge:
    code: str
    name: str
    kind: RuleKind
    threshold: int
    service: str | None = None  # uses and credits_spent only; None: every service
    description: str = ""
    emoji: str = ""
    image_url: str = ""


@dataclass(slots=True)
class Progress:
    """What a member did, as a badge rule counts it."""

    uses: dict[str, int] = field(default_factory=dict)  # by service
    credits_spent: dict[str, int] = field(default_factory=dict)  # by service
    purchases: int = 0
    streak_days: int = 0  # the current run of consecutive UTC days with a charge


def earned(badge: Badge, progress: Progress) -> bool:
    """Whether `progress` meets the badge's rule."""
    if badge.kind in (RuleKind.uses, RuleKind.credits_spent):
        counts = progress.uses if badge.kind is RuleKind.uses else progress.credits_spent
        done = counts.get(badge.service, 0) if badge.service else sum(counts.values())
    elif badge.kind is RuleKind.purchases:
        done = progress.purchases
    else:
        done = progress.streak_days
    return done >= badge.threshold


def parse_badges(data: Mapping[str, Any]) -> tuple[list[Badge], list[CatalogError]]:
    """The badges of a catalog's `badges` table, and every error in them (no badge when any)."""
    errors: list[CatalogError] = []
    badges: list[Badge] = []
    if not isinstance(data, Mapping):
        return [], [CatalogError(0, "badges", "must be a table of badges")]
    if len(data) > BADGES_MAX:
        errors.append(CatalogError(0, "badges", f"at most {BADGES_MAX} badges"))
    for code, entry in data.items():
        where = f'badges."{code}"'
        found = _badge(str(code), entry, where, errors)
        if found is not None:
            badges.append(found)
    return ([] if errors else badges), errors


def _badge(code: str, entry: Any, where: str, errors: list[CatalogError]) -> Badge | None:
    before = len(errors)
    if not code or len(code) > BADGE_CODE_CHARS_MAX or not all(
            ch.isalnum() or ch in "._-" for ch in code):
        errors.append(CatalogError(0, where, f"a badge code is 1-{BADGE_CODE_CHARS_MAX} "
                                             "letters, digits, '.', '_' or '-'"))
    if not isinstance(entry, Mapping):
        errors.append(CatalogError(0, where, "must be a table"))
        return None
    unknown = sorted(set(entry) - {"name", "description", "emoji", "image_url", "rule"})
    if unknown:
        errors.append(CatalogError(0, where, f"unknown keys: {', '.join(unknown)}"))
    texts = {key: entry.get(key, "") for key in ("name", "description", "emoji", "image_url")}
    for key, value in texts.items():
        if not isinstance(value, str) or len(value) > BADGE_TEXT_CHARS_MAX:
            errors.append(CatalogError(0, f"{where}.{key}",
                                       f"must be text of at most {BADGE_TEXT_CHARS_MAX} "
                                       "characters"))
    if not texts["name"]:
        errors.append(CatalogError(0, f"{where}.name", "a badge needs a name"))
    rule = entry.get("rule")
    kind, threshold, service = _rule(rule, f"{where}.rule", errors)
    if len(errors) > before or kind is None:
        return None
    return Badge(code=code, name=str(texts["name"]), kind=kind, threshold=threshold,
                 service=service, description=str(texts["description"]),
                 emoji=str(texts["emoji"]), image_url=str(texts["image_url"]))


def _rule(rule: Any, where: str,
          errors: list[CatalogError]) -> tuple[RuleKind | None, int, str | None]:
    if not isinstance(rule, Mapping):
        errors.append(CatalogError(0, where, "a badge needs a rule, e.g. { uses = 100 }"))
        return None, 0, None
    kinds = [k for k in rule if k in RuleKind.__members__]
    others = sorted(set(rule) - set(kinds) - {"service"})
    if others:
        errors.append(CatalogError(0, where, f"unknown keys: {', '.join(others)}"))
    if len(kinds) != 1:
        errors.append(CatalogError(0, where, "name exactly one of: "
                                             + ", ".join(k.value for k in RuleKind)))
        return None, 0, None
    kind = RuleKind(kinds[0])
    threshold = rule[kind.value]
    if type(threshold) is not int or not 1 <= threshold <= BADGE_THRESHOLD_MAX:
        errors.append(CatalogError(0, f"{where}.{kind.value}",
                                   f"must be a whole number 1-{BADGE_THRESHOLD_MAX}"))
    service = rule.get("service")
    if service is not None:
        if kind not in (RuleKind.uses, RuleKind.credits_spent):
            errors.append(CatalogError(0, f"{where}.service",
                                       f"a {kind.value} rule counts every service"))
        elif not isinstance(service, str) or not 0 < len(service) <= 100:
            errors.append(CatalogError(0, f"{where}.service", "must be a service code"))
    return kind, threshold if type(threshold) is int else 0, service
