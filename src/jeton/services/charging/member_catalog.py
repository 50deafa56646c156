"""A member's view of the catalog: what this member can see, at this member's price, and what
would let them in (or pay less) where they cannot.

`check` answers for one service and one quantity; a host app drawing a menu, a price list or a
store page wants every service at once. This runs the same rules as `check` (core/offers.py:
access, then the allowance, then the price with the member's live classes and plan discount)
for every active service, in one read:

- A hidden service the member may not see is left out, as `check` answers it `not_found`.
- Each visible service carries the price of one use (fixed) or one unit (per_unit) for this
  member, what using it would take now (`charge`; 0 when a class or key waives the price), the
  free units left in the current allowance window, and the status `check` would give for one
  use: `ok`, `forbidden` (with the reasons and the fixes: a class, a key, paying) or
  `limit_exceeded` (an allowance with `after = "prompt"` used up).
- `upgrades` lists the classes and keys that would make it cheaper or free, as a declined
  charge does.

The balance is not weighed per service (one `available` for the whole answer); `check` says
whether a given charge is affordable and which lots would pay.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from jeton.core import amounts
from jeton.core.allowances import AfterAllowance, Period, window_key
from jeton.core.clock import from_us
from jeton.core.errors import NotFound
from jeton.core.offers import make_offer
from jeton.core.prices import PriceKind, basis_points
from jeton.core.statuses import Status
from jeton.services.charging.offers import (
    available,
    may_charge,
    price_info,
    upgrades,
)
from jeton.services.charging.reads import allowance_used, snapshot
from jeton.services.charging.results import (
    FixInfo,
    MemberCatalog,
    MemberService,
    ReasonInfo,
)
from jeton.services.ledger.state import wallet_id
from jeton.services.ledger.workset import WorkSet

if TYPE_CHECKING:
    from jeton.services.charging.service import Charging


def member_catalog(charging: Charging, community_id: str, member_id: str, *,
                   session_id: str | None = None, asset: str = "CREDIT") -> MemberCatalog:
    """Every service `member_id` can see, at their price (see the module docstring)."""
    amounts.external_id(member_id, "member id")
    if session_id is not None:
        amounts.external_id(session_id, "session id")
    now_us = charging.ledger.now_us()
    now = from_us(now_us)
    with charging.store.read() as conn:
        charging.require_community(conn, community_id)
        snap = snapshot(conn, community_id, member_id, now_us, charging.plan_discount_query)
        if not snap.is_member:
            raise NotFound(f"no member {member_id!r}", status=Status.member_not_found,
                           member=member_id)
        catalog = charging.catalogs.active(conn, community_id, snap.catalog_version)
        wid = wallet_id(member_id, asset)
        ws = WorkSet(conn, "read", community_id, now_us)
        ws.load([wid])
        balance = available(ws, ws.accounts.get(wid))
        holdings = snap.holdings
        out: list[MemberService] = []
        for code in sorted(catalog.services):
            service = catalog.services[code]
            one = service.price.unit_size if service.price.kind is PriceKind.per_unit else 1
            discount = (basis_points(snap.discount_bp, "plan discount")
                        if may_charge(service.price) else 0)
            # The price of one use beyond any allowance: the offer without it.
            offer = make_offer(replace(service, allowance=None), holdings, one, now,
                               discount_bp=discount)
            if offer.status is Status.service_not_found:
                continue  # hidden from this member
            status = offer.status
            reasons = [ReasonInfo(kind=r.kind.value, name=r.name, expired_at=r.expired_at)
                       for r in offer.access.reasons]
            fixes = [FixInfo(kind=f.kind.value, name=f.name) for f in offer.access.fixes]
            left = None
            allowance = service.allowance
            if allowance is not None and offer.access.allowed:
                if allowance.period is Period.session and session_id is None:
                    left = allowance.uses  # a new session starts with all of them
                else:
                    window = window_key(allowance.period, now, session_id)
                    used = allowance_used(conn, community_id, member_id, code, window)
                    left = max(allowance.uses - used, 0)
                if left == 0 and allowance.after is AfterAllowance.prompt:
                    status = Status.limit_exceeded
                    reasons = [ReasonInfo(kind="allowance_used")]
            cheaper = (upgrades(service, offer, holdings, now, discount)
                       if offer.access.allowed and offer.charge > 0 else [])
            out.append(MemberService(
                code=code, name=service.name, unit=service.unit,
                price_kind=service.price.kind.value, unit_size=service.price.unit_size,
                allowed=status is Status.ok, status=status.value,
                price=price_info(offer.quote) if offer.quote is not None else None,
                charge=offer.charge, payout=offer.payout,
                allowance_uses=allowance.uses if allowance is not None else None,
                allowance_per=allowance.period.value if allowance is not None else None,
                allowance_left=left, reasons=reasons, fixes=fixes, upgrades=cheaper))
    return MemberCatalog(member_id=member_id, asset=asset, version=snap.catalog_version,
                         balance=balance, services=out)
