"""A catalog preview: the charges of the last days, priced again under a new catalog.

Read-only, in one read transaction (one snapshot on PostgreSQL). What it replays and how is
decision 0065; in short:

- **Which charges.** The community's charges of the window in one asset: transfers booked by
  `Charging.charge`, that is spends with reason `charge` and, for a service with a negative
  price, grants with reason `payout` (counted negative). The newest
  `limits.catalog_preview_charges_max` of them; past that the answer says `truncated`. Metered
  captures are counted apart (`metered_not_replayed`), not replayed.
- **Then.** What the charge moved: the sum of the transfer's credit postings (revenue and
  every split), negative for a payout. Free uses wrote no transfer and are not seen.
- **Now.** The same member, service, priced quantity (the quantity less the free units the
  allowance gave then) and context, through `core.offers.make_offer` with the new catalog's
  service, the member's classes, keys and plan discount *as they are now*. Allowances are not
  run again (the journal does not hold the free uses), so what was free stays free. A service
  the new catalog removes, an access rule that now refuses the member, a split that no longer
  fits or a split party the charge's context does not name: the charge is `refused` and costs
  nothing under the new catalog.
- **Would be declined.** A member's most recent replayed charge, priced now, is compared with
  what the wallet can pay for that service now (`offers.available`: live lots that may pay
  for it, plus a credit line, less holds): more than that, or refused, and the member is
  flagged with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core.catalog import Catalog, Service
from jeton.core.catalog_data import service_to_data
from jeton.core.clock import from_us
from jeton.core.errors import InvalidRequest
from jeton.core.offers import make_offer
from jeton.core.prices import basis_points
from jeton.core.statuses import Status
from jeton.core.transfers import TransferKind
from jeton.services.charging.catalogs import canonical
from jeton.services.charging.offers import available, may_charge, split_lines
from jeton.services.charging.reads import Snapshot, snapshot
from jeton.services.charging.results import CatalogPreview, MemberPreview, ServicePreview
from jeton.services.charging.service import Charging
from jeton.services.ledger.state import wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.tables.ledger import postings, transfers

_T = transfers.c
_P = postings.c
_DAY_US = 86_400_000_000
# The charges a preview replays: (kind, reason_code) of what `Charging.charge` books.
_CHARGE = (TransferKind.spend.value, "charge")
_PAYOUT = (TransferKind.grant.value, "payout")
_METERED = (TransferKind.capture.value, "metered")
_WALLETS_PER_READ = 8  # the ledger reads up to this many wallets in one statement


@dataclass(frozen=True, slots=True)
class _Charge:
    transfer_id: str
    kind: str
    member_id: str
    service: str
    quantity: int
    priced: int  # the quantity less the free units of the allowance then
    context: dict[str, str]
    at_us: int
    then: int  # credits charged (negative: paid to the member)


@dataclass(slots=True)
class _Sum:
    charges: int = 0
    quantity: int = 0
    then: int = 0
    new: int = 0
    refused: int = 0
    last: tuple[_Charge, int, str | None] | None = None  # newest charge, its new price, refusal


@dataclass(slots=True)
class _Replay:
    services: dict[str, _Sum] = field(default_factory=dict)
    members: dict[str, _Sum] = field(default_factory=dict)


def check_days(days: object) -> int:
    if type(days) is not int or not 1 <= days <= limits.catalog_preview_days_max:
        raise InvalidRequest(f"days must be an integer 1-{limits.catalog_preview_days_max}, "
                             f"got {days!r}", status=Status.value_invalid)
    return days


def preview(charging: Charging, community_id: str, new: Catalog, days: int,
            asset: str = "CREDIT") -> CatalogPreview:
    """The charges of the last `days` replayed through `new` (see the module docstring)."""
    days = check_days(days)
    asset = amounts.asset_code(asset)
    now_us = charging.ledger.now_us()
    since_us = now_us - days * _DAY_US
    cap = limits.catalog_preview_charges_max
    with charging.store.snapshot() as conn:  # one snapshot, as the module says
        charging.require_community(conn, community_id)
        version = charging.catalogs.head(conn, community_id)
        active = charging.catalogs.active(conn, community_id, version)
        found = _charges(conn, community_id, asset, since_us, now_us, cap + 1)
        truncated = len(found) > cap
        found = found[:cap]
        metered = _count_metered(conn, community_id, asset, since_us, now_us)
        snaps = {m: snapshot(conn, community_id, m, now_us, charging.plan_discount_query)
                 for m in sorted({c.member_id for c in found})}
        replay = _Replay()
        for charge in found:  # newest first: a member's first one seen is their last
            price, refusal = _price_now(new, charge, snaps[charge.member_id], now_us)
            for key, sums in ((charge.service, replay.services),
                              (charge.member_id, replay.members)):
                s = sums.setdefault(key, _Sum())
                s.charges += 1
                s.quantity += charge.quantity
                s.then += charge.then
                s.new += price
                s.refused += refusal is not None
                if s.last is None:
                    s.last = (charge, price, refusal)
        members = _members(conn, community_id, asset, now_us, replay.members)
    services = [_service_row(code, s, active, new)
                for code, s in sorted(replay.services.items())]
    added, changed, removed = _diff(active, new)
    then = sum(s.then for s in replay.services.values())
    priced = sum(s.new for s in replay.services.values())
    members.sort(key=lambda m: (not m.would_be_declined, -m.difference, m.member_id))
    shown = members[:limits.catalog_preview_members_max]
    return CatalogPreview(
        days=days, since=from_us(since_us), until=from_us(now_us), asset=asset,
        catalog_version=version, charges=len(found), charges_max=cap, truncated=truncated,
        metered_not_replayed=metered, credits_then=then, credits_new=priced,
        difference=priced - then, members_total=len(members),
        members_declined=sum(m.would_be_declined for m in members), services=services,
        members=shown, members_truncated=len(shown) < len(members), added=added,
        changed=changed, removed=removed)


def _charges(conn: Connection, community_id: str, asset: str, since_us: int, until_us: int,
             limit: int) -> list[_Charge]:
    """The newest `limit` charges and payouts of the window, with the credits each moved."""
    credited = sa.func.sum(sa.case((_P.amount > 0, _P.amount), else_=0))
    stmt = (sa.select(_T.transfer_id, _T.kind, _T.member_id, _T.service, _T.metadata_json,
                      _T.effective_at_us, credited)
            .join(postings, sa.and_(_P.community_id == _T.community_id,
                                    _P.transfer_id == _T.transfer_id))
            .where(_T.community_id == community_id, _T.asset == asset,
                   _T.effective_at_us >= since_us, _T.effective_at_us <= until_us,
                   _T.service.is_not(None), _T.member_id.is_not(None),
                   sa.tuple_(_T.kind, _T.reason_code).in_([_CHARGE, _PAYOUT]))
            .group_by(_T.transfer_id, _T.kind, _T.member_id, _T.service, _T.metadata_json,
                      _T.effective_at_us)
            .order_by(_T.effective_at_us.desc(), _T.transfer_id.desc())
            .limit(limit))
    found: list[_Charge] = []
    for tid, kind, member, service, meta_text, at_us, moved in conn.execute(stmt):
        meta: dict[str, Any] = json.loads(meta_text or "{}")
        quantity = int(meta.get("quantity", 1))
        free = int(meta.get("free_units", 0))
        context = meta.get("context") or {}
        then = int(moved or 0)
        found.append(_Charge(
            transfer_id=tid, kind=kind, member_id=member, service=service, quantity=quantity,
            priced=max(quantity - free, 0),
            context={str(k): str(v) for k, v in context.items()}, at_us=int(at_us),
            then=-then if kind == _PAYOUT[0] else then))
    return found


def _count_metered(conn: Connection, community_id: str, asset: str, since_us: int,
                   until_us: int) -> int:
    return int(conn.execute(sa.select(sa.func.count()).where(
        _T.community_id == community_id, _T.asset == asset, _T.kind == _METERED[0],
        _T.reason_code == _METERED[1], _T.effective_at_us >= since_us,
        _T.effective_at_us <= until_us)).scalar() or 0)


def _price_now(new: Catalog, charge: _Charge, snap: Snapshot,
               now_us: int) -> tuple[int, str | None]:
    """What the charge costs under `new` now (negative: paid to the member), or 0 and why the
    new catalog would refuse it."""
    found = new.services.get(charge.service)
    if found is None:
        return 0, Status.service_not_found.value
    service = replace(found, allowance=None)  # what was free then stays free
    holdings = snap.holdings if snap.is_member else None
    try:
        discount = (basis_points(snap.discount_bp, "plan discount")
                    if holdings is not None and may_charge(service.price) else 0)
        offer = make_offer(service, holdings, charge.priced, from_us(now_us),
                           discount_bp=discount)
        if offer.status is not Status.ok:
            return 0, offer.status.value
        split_lines(offer.splits, charge.member_id, charge.context)
    except InvalidRequest as exc:
        return 0, exc.status.value
    return offer.charge - offer.payout, None


def _members(conn: Connection, community_id: str, asset: str, now_us: int,
             sums: dict[str, _Sum]) -> list[MemberPreview]:
    ws = WorkSet(conn, "read", community_id, now_us)
    wallets = [wallet_id(m, asset) for m in sorted(sums)]
    for at in range(0, len(wallets), _WALLETS_PER_READ):
        ws.load(wallets[at:at + _WALLETS_PER_READ])
    rows: list[MemberPreview] = []
    for member, s in sums.items():
        if s.last is None:
            continue
        charge, price, refusal = s.last
        can_pay = available(ws, ws.accounts.get(wallet_id(member, asset)), charge.service)
        reason = refusal
        if reason is None and price > 0 and price > can_pay:
            reason = Status.insufficient_credits.value
        rows.append(MemberPreview(
            member_id=member, charges=s.charges, credits_then=s.then, credits_new=s.new,
            difference=s.new - s.then, last_service=charge.service,
            last_charged_at=from_us(charge.at_us), last_credits_new=price,
            available=can_pay, would_be_declined=reason is not None, decline_reason=reason))
    return rows


def _definition(service: Service | None) -> str | None:
    return None if service is None else canonical(service_to_data(service))


def _service_row(code: str, s: _Sum, active: Catalog, new: Catalog) -> ServicePreview:
    old_def = _definition(active.services.get(code))
    new_def = _definition(new.services.get(code))
    if new_def is None:
        status = "removed"
    elif old_def is None:
        status = "added"
    else:
        status = "unchanged" if old_def == new_def else "changed"
    named = new.services.get(code) or active.services.get(code)
    return ServicePreview(service=code, name=named.name if named is not None else code,
                          status=status, charges=s.charges, quantity=s.quantity,
                          credits_then=s.then, credits_new=s.new, difference=s.new - s.then,
                          refused=s.refused)


def _diff(active: Catalog, new: Catalog) -> tuple[list[str], list[str], list[str]]:
    added = sorted(c for c in new.services if c not in active.services)
    removed = sorted(c for c in active.services if c not in new.services)
    changed = sorted(c for c in new.services if c in active.services
                     and _definition(new.services[c]) != _definition(active.services[c]))
    return added, changed, removed
