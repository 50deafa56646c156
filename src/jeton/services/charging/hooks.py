"""What charging asks the funding side, through three small hooks.

Charging prices a use and takes the credits; it does not know about plans and packs. Two
questions cross over, each answered by whoever sets the hook on `Jeton.charging` (the funding
services do at start-up); unset, the answers are "no discount" and "no pack to suggest".

- `plan_discount_query`: a SELECT of one column, the member's plan discount in basis points
  (0-10,000; NULL or no row: none), with the bind parameters `c` (community), `m` (member) and
  `now` (microseconds). Charging folds it into the one statement that reads the member's
  classes and keys, inside the charge's transaction, so it costs no round trip of its own and a
  plan that lapsed a microsecond ago no longer discounts. Keep it to indexed lookups, and write
  constants as `literal_column`: the statement is compiled once and only those three are bound.
- `pack_suggestions(community_id, member_id, shortfall, asset) -> [PackSuggestion]`: packs for a
  member who is `shortfall` credits short, best first. Called only on a decline or a check that
  would decline, outside any write transaction.
- `suspension_query`: a SELECT of one column, why the member's credit line lends nothing now
  (a past-due bill's number; no row: it lends), with the bind parameters `c`, `m`, `a` (asset)
  and `now`. `check` asks it only when the use would draw on the credit line (the charge itself
  is refused by funding's ledger hook).

Set them with `j.charging.plan_discount_query = select` and `j.charging.pack_suggestions = fn`
(any callable with these parameters: the protocol below says so to mypy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from jeton.services.charging.results import PackSuggestion


class PackSuggestions(Protocol):
    def __call__(self, community_id: str, member_id: str, shortfall: int,
                 asset: str) -> Sequence[PackSuggestion]: ...


def no_packs(community_id: str, member_id: str, shortfall: int,
             asset: str) -> Sequence[PackSuggestion]:
    return ()
