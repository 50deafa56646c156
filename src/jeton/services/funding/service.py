"""Funding wired into a Jeton: its ledger hooks and its jobs.

`install(j)` registers the hooks that run inside ledger write transactions:
- auto-recharge (`recharge.recharge_hook`): records a recharge intent when a charge takes a
  member under their threshold;
- transfer limits (`member_transfers.transfer_limits_hook`): refuses a transfer over the
  sender's day or month limit;
- plan rollover (`rollover.RolloverHook`, an expiry hook): rolls part of a plan's unused cycle
  credits into the next cycle instead of expiring them;
and answers charging's two questions (services/charging/hooks.py): the member's plan discount
(`plans.DISCOUNT_QUERY`) and the packs to suggest beside a decline (`packs.suggest_packs`).

Importing this module also registers the funding jobs with the jobs framework:
`purchases.expire`, `plans.renew` (renewals.py), `recharge.run`. Installing twice is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jeton.services.charging.results import PackSuggestion
from jeton.services.funding import packs, plans, purchases, recharge, renewals
from jeton.services.funding.member_transfers import transfer_limits_hook
from jeton.services.funding.rollover import RolloverHook

if TYPE_CHECKING:
    from jeton.app import Jeton

JOBS = ("purchases.expire", "plans.renew", "recharge.run")
_ = (renewals.renew_due, purchases.expire_stale)  # imported for their @job registration


def install(j: Jeton) -> None:
    """Register the funding hooks on `j.ledger` and answer charging's questions (once)."""
    for hook in (recharge.recharge_hook, transfer_limits_hook):
        if hook not in j.ledger.hooks:
            j.ledger.hooks.append(hook)
    if recharge.pre_read not in j.ledger.pre_reads:
        j.ledger.pre_reads.append(recharge.pre_read)
    if RolloverHook(j) not in j.ledger.expiry_hooks:
        j.ledger.expiry_hooks.append(RolloverHook(j))
    charging = j.charging
    charging.plan_discount_query = plans.DISCOUNT_QUERY

    def suggestions(community_id: str, member_id: str, shortfall: int,
                    asset: str) -> Sequence[PackSuggestion]:
        return packs.suggest_packs(j, community_id, member_id, shortfall, asset)

    charging.pack_suggestions = suggestions
