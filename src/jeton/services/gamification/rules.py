"""The gamification rules in force for a community, read from what the catalog load stored.

The catalog load (services/charging/catalogs.py) writes the checked points, badges, levels and
challenges sections to `achievement_rules` with the catalog version. Each process keeps the
parsed rules of a community with the text they were parsed from, and parses again only when
the stored text differs (the text, not the version: one process may open several stores).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.achievements import NONE, Achievements, parse_achievements
from jeton.core.errors import InvariantViolation
from jeton.store.tables.achievements import achievement_rules
from jeton.store.tables.catalog import catalog_entries

_R = achievement_rules.c
_E = catalog_entries.c
_cache: OrderedDict[str, tuple[str, Achievements]] = OrderedDict()
_lock = threading.Lock()


def rules_of(conn: Connection, community_id: str) -> Achievements:
    """The community's rules as of `conn`'s snapshot (NONE when its catalog has none)."""
    text = conn.execute(sa.select(_R.definition_json).where(
        _R.community_id == community_id)).scalar()
    if text is None:
        return NONE
    with _lock:
        found = _cache.get(community_id)
        if found is not None and found[0] == text:
            return found[1]
    codes = conn.execute(sa.select(_E.code, _E.entry).where(
        _E.community_id == community_id, _E.retired_version.is_(None))).all()
    errors: list[str] = []
    rules = parse_achievements(
        json.loads(text), lambda path, reason: errors.append(f"{path}: {reason}"),
        services=frozenset(c for c, e in codes if e == "service"),
        rewards=frozenset(c for c, e in codes if e == "reward"))
    if errors:
        raise InvariantViolation(f"the stored rules of {community_id!r} do not check: "
                                 f"{errors[0]}")
    with _lock:
        _cache[community_id] = (text, rules)
        _cache.move_to_end(community_id)
        while len(_cache) > limits.catalog_cache_entries_max:
            _cache.popitem(last=False)
    return rules
