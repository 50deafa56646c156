"""The report of a leased area (services/charging/leases.py): what its services did while the
lease ran, for its operator and the owner.

Charges in the area are the `spend` transfers (catalog charges) and `capture` transfers
(metered uses, decision 0093) whose service starts with the area and whose business time falls
in the lease's run (from its start to its end, or now). Credits charged are
what the members' wallets paid; credits earned are what the lease paid the operator (the
postings to the operator's wallet in those transfers, which is nothing for charges the
operator made in their own area). Refunds of such charges are not subtracted: they are their
own transfers, shown in the members' statements.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import sqlalchemy as sa

from jeton.core import limits
from jeton.core.clock import from_us, to_us
from jeton.services.charging import leases
from jeton.services.charging.results import AreaMember, AreaReport, AreaService
from jeton.services.ledger.state import wallet_id
from jeton.store.tables.ledger import postings, transfers

if TYPE_CHECKING:
    from jeton.app import Jeton

TOP_MEMBERS = 10


def area_report(j: Jeton, community_id: str, lease_id: str, *,
                asset: str = "CREDIT") -> AreaReport:
    lease = leases.get_lease(j, community_id, lease_id)
    since_us = to_us(lease.started_at)
    until_us = to_us(lease.ended_at) if lease.ended_at is not None else j.ledger.now_us()
    operator_wallet = wallet_id(lease.operator_id, asset)
    t, p = transfers.c, postings.c
    stmt = (sa.select(t.transfer_id, t.member_id, t.service, p.account_id, p.amount)
            .select_from(transfers.join(postings, sa.and_(
                p.community_id == t.community_id, p.transfer_id == t.transfer_id)))
            .where(t.community_id == community_id, t.kind.in_(("spend", "capture")),
                   t.asset == asset,
                   t.service.startswith(lease.area, autoescape=True),
                   t.effective_at_us >= since_us, t.effective_at_us <= until_us)
            .limit(limits.bill_transfers_max))
    uses: dict[str, set[str]] = defaultdict(set)
    charged: dict[str, int] = defaultdict(int)
    earned: dict[str, int] = defaultdict(int)
    by_member: dict[str, set[str]] = defaultdict(set)
    member_credits: dict[str, int] = defaultdict(int)
    with j.store.read() as conn:
        for transfer_id, member_id, service, account_id, amount in conn.execute(stmt):
            payer = wallet_id(member_id or "", asset)
            uses[service].add(transfer_id)
            by_member[member_id or ""].add(transfer_id)
            if account_id == payer and amount < 0:
                charged[service] += -amount
                member_credits[member_id or ""] += -amount
            elif account_id == operator_wallet and amount > 0:
                earned[service] += amount
    services = [AreaService(service=s, uses=len(uses[s]), credits=charged[s],
                            earned=earned[s]) for s in sorted(uses)]
    top = sorted(by_member, key=lambda m: (-member_credits[m], m))[:TOP_MEMBERS]
    return AreaReport(
        lease_id=lease.id, area=lease.area, operator_id=lease.operator_id,
        since=lease.started_at, until=from_us(until_us),
        uses=sum(s.uses for s in services), credits_charged=sum(charged.values()),
        credits_earned=sum(earned.values()), services=services,
        top_members=[AreaMember(member_id=m, uses=len(by_member[m]), credits=member_credits[m])
                     for m in top])
