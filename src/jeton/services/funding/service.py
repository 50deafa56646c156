"""Funding wired into a Jeton: its ledger hooks and its jobs.

`install(j)` registers the hooks that run inside ledger write transactions:
- auto-recharge (`recharge.recharge_hook`): records a recharge intent when a charge takes a
  member under their threshold;
- transfer limits (`member_transfers.transfer_limits_hook`): refuses a transfer over the
  sender's day or month limit;
- the suspended credit line (`bill_payments.credit_line_hook`): refuses a debit that draws on
  the credit line of a member whose bill is past due;
- plan rollover (`rollover.RolloverHook`, an expiry hook): rolls part of a plan's unused cycle
  credits into the next cycle instead of expiring them;
and answers charging's questions (services/charging/hooks.py): the member's plan discount
(`plans.DISCOUNT_QUERY`), the packs to suggest beside a decline (`packs.suggest_packs`) and
whether a past-due bill suspends the member's credit line (`bill_payments.SUSPENSION_QUERY`).

Importing this module also registers the funding jobs with the jobs framework:
`purchases.expire`, `plans.renew` (renewals.py), `recharge.run`, `bills.issue` (bills.py).
Installing twice is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jeton.services.charging.results import PackSuggestion
from jeton.services.funding import (
    bill_payments,
    bills,
    member_transfers,
    packs,
    plans,
    purchases,
    recharge,
    renewals,
)
from jeton.services.funding.member_transfers import transfer_limits_hook
from jeton.services.funding.rollover import RolloverHook

if TYPE_CHECKING:
    from jeton.app import Jeton

JOBS = ("purchases.expire", "plans.renew", "recharge.run", "bills.issue")
# Imported for their @job registration.
_ = (renewals.renew_due, purchases.expire_stale, bills.issue_due)


def install(j: Jeton) -> None:
    """Register the funding hooks on `j.ledger` and answer charging's questions (once)."""
    for hook in (recharge.recharge_hook, transfer_limits_hook, bill_payments.credit_line_hook):
        if hook not in j.ledger.hooks:
            j.ledger.hooks.append(hook)
    if recharge.pre_read not in j.ledger.pre_reads:
        j.ledger.pre_reads.append(recharge.pre_read)
    transfer_reads = j.ledger.operation_pre_reads.setdefault("transfer", [])
    if member_transfers.pre_read not in transfer_reads:
        transfer_reads.append(member_transfers.pre_read)
    j.ledger.default_fee = member_transfers.default_fee
    if RolloverHook(j) not in j.ledger.expiry_hooks:
        j.ledger.expiry_hooks.append(RolloverHook(j))
    charging = j.charging
    charging.plan_discount_query = plans.DISCOUNT_QUERY
    charging.suspension_query = bill_payments.SUSPENSION_QUERY

    def suggestions(community_id: str, member_id: str, shortfall: int,
                    asset: str) -> Sequence[PackSuggestion]:
        return packs.suggest_packs(j, community_id, member_id, shortfall, asset)

    charging.pack_suggestions = suggestions
