"""What charging asks the funding side, through two small hooks.

Charging prices a use and takes the credits; it does not know about plans and packs. Two
questions cross over, each answered by whoever sets the hook on `Jeton.charging` (the funding
services do at start-up); unset, the answers are "no discount" and "no pack to suggest".

- `plan_discounts(conn, community_id, member_id, now_us) -> int`: the member's plan
  discount in basis points (0-10,000), read *inside* the charge's transaction on `conn`, so a
  plan that lapsed a microsecond ago no longer discounts. Called once per check or charge of a
  service with a positive price; keep it to one indexed query.
- `pack_suggestions(community_id, member_id, shortfall, asset) -> [PackSuggestion]`: packs for a
  member who is `shortfall` credits short, best first. Called only on a decline or a check that
  would decline, outside any write transaction.

Set them with `j.charging.plan_discounts = fn` and `j.charging.pack_suggestions = fn`; any
callable with these parameters will do (the protocols below say so to mypy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.engine import Connection

from jeton.services.charging_results import PackSuggestion


class PlanDiscounts(Protocol):
    def __call__(self, conn: Connection, community_id: str, member_id: str,
                 now_us: int) -> int: ...


class PackSuggestions(Protocol):
    def __call__(self, community_id: str, member_id: str, shortfall: int,
                 asset: str) -> Sequence[PackSuggestion]: ...


def no_discount(conn: Connection, community_id: str, member_id: str, now_us: int) -> int:
    return 0


def no_packs(community_id: str, member_id: str, shortfall: int,
             asset: str) -> Sequence[PackSuggestion]:
    return ()
