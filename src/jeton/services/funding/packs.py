"""Packs and cashier packages: "20 credits for $60", "50 for $150", "100 for $300".

A pack sells `credits` (paid credits, with the price as their cost basis) for `price_minor` of
`currency`, and may bundle free bonus credits, class upgrades and keys, each with an expiry in
days. `visible_to` restricts who is offered the pack (`class:vip`, `key:insider`): a member sees
it when they hold one of them; an empty list offers it to every member.

Packs are not edited once sold (a purchase freezes what it grants); an owner deactivates one and
creates another.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import amounts, currencies, limits
from jeton.core.clock import from_us
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.charging.access_grants import holds_any
from jeton.services.charging.results import PackSuggestion
from jeton.services.funding import base as fb
from jeton.services.funding.results import Entitlement, PackInfo
from jeton.services.funding.shelf import Shelf
from jeton.store.tables.funding import packs

if TYPE_CHECKING:
    from jeton.app import Jeton

# Packs suggested beside a decline: a short list a member can choose from at a glance.
_SUGGESTIONS_MAX = 3


def create_pack(j: Jeton, community_id: str, *, name: str, credits: int, price_minor: int,
                currency: str = "USD", pack_id: str | None = None, asset: str = "CREDIT",
                bonus_credits: int = 0, bonus_expiry_days: int | None = None,
                credit_expiry_days: int | None = None, classes: Any = None, keys: Any = None,
                visible_to: Any = None, sort_order: int = 0) -> PackInfo:
    """A pack on sale. Creating the same pack id again with the same terms returns it."""
    pid = amounts.external_id(pack_id, "pack id") if pack_id is not None else new_id()
    info = PackInfo(
        id=pid, name=fb.text(name, "name", 200), asset=amounts.asset_code(asset),
        credits=amounts.positive_amount(credits, "credits"),
        price_minor=amounts.positive_amount(price_minor, "price_minor"),
        currency=currencies.currency_code(currency),
        bonus_credits=_non_negative(bonus_credits, "bonus_credits"),
        bonus_expiry_days=fb.days(bonus_expiry_days, "bonus_expiry_days"),
        credit_expiry_days=fb.days(credit_expiry_days, "credit_expiry_days"),
        classes=fb.entitlements(classes, "classes"), keys=fb.entitlements(keys, "keys"),
        visible_to=fb.requirements(visible_to), active=True,
        sort_order=_sort_order(sort_order), created_at=j.clock.now())
    row = {"name": info.name, "asset": info.asset, "credits": info.credits,
           "price_minor": info.price_minor, "currency": info.currency,
           "bonus_credits": info.bonus_credits, "bonus_expiry_days": info.bonus_expiry_days,
           "credit_expiry_days": info.credit_expiry_days, "classes_json": _dump(info.classes),
           "keys_json": _dump(info.keys), "visible_to_json": json.dumps(info.visible_to),
           "sort_order": info.sort_order}
    return _SHELF.create_once(j, community_id, pid, info, asset=info.asset,
                              currency=info.currency, values=row)


def get_pack(j: Jeton, community_id: str, pack_id: str) -> PackInfo:
    return _SHELF.get(j, community_id, pack_id)


def list_packs(j: Jeton, community_id: str, member_id: str | None = None, *,
               include_inactive: bool = False) -> list[PackInfo]:
    """Packs in display order. With `member_id`, only the active packs that member is offered."""
    stmt = sa.select(packs).where(packs.c.community_id == community_id)
    if member_id is not None or not include_inactive:
        stmt = stmt.where(packs.c.active.is_(True))
    with j.store.read() as conn:
        fb.require_community(conn, community_id)
        if member_id is not None:
            fb.require_member(conn, community_id, member_id)
        rows = conn.execute(stmt.order_by(packs.c.sort_order, packs.c.price_minor,
                                          packs.c.pack_id)).mappings().all()
        now = j.clock.now()
        infos = [pack_info(r) for r in rows]
        if member_id is not None:
            infos = [p for p in infos
                     if holds_any(conn, community_id, member_id, p.visible_to, now)]
    return infos


def set_pack_active(j: Jeton, community_id: str, pack_id: str, active: bool) -> PackInfo:
    """Take a pack off sale (or put it back). Purchases under way keep their terms."""
    return _SHELF.set_active(j, community_id, pack_id, active)


def suggest_packs(j: Jeton, community_id: str, member_id: str, shortfall: int,
                  asset: str) -> list[PackSuggestion]:
    """Packs for a member `shortfall` credits short, best first: the cheapest that cover it,
    then the largest that do not. What charging shows beside a decline."""
    try:
        offered = [p for p in list_packs(j, community_id, member_id) if p.asset == asset]
    except NotFound:
        return []
    covering = sorted((p for p in offered if p.credits + p.bonus_credits >= shortfall),
                      key=lambda p: (p.price_minor, -p.credits))
    short = sorted((p for p in offered if p.credits + p.bonus_credits < shortfall),
                   key=lambda p: -(p.credits + p.bonus_credits))
    return [PackSuggestion(id=p.id, name=p.name, credits=p.credits, price_minor=p.price_minor,
                           currency=p.currency, bonus_credits=p.bonus_credits)
            for p in (covering + short)[:_SUGGESTIONS_MAX]]


def offered_pack(conn: Connection, community_id: str, member_id: str, pack_id: str,
                 now_us: int) -> PackInfo:
    """The pack, if it is on sale and offered to this member; NotFound otherwise (a pack the
    member may not see is answered like one that does not exist)."""
    row = _SHELF.row(conn, community_id, pack_id)
    if row is None or not row["active"]:
        raise NotFound(f"no pack {pack_id!r} on sale", status=Status.not_found)
    info = pack_info(row)
    if not holds_any(conn, community_id, member_id, info.visible_to, from_us(now_us)):
        raise NotFound(f"no pack {pack_id!r} on sale", status=Status.not_found)
    return info


def offer_snapshot(pack: PackInfo) -> dict[str, Any]:
    """What a purchase of `pack` grants besides its credits, frozen on the purchase."""
    return {"credit_expiry_days": pack.credit_expiry_days,
            "bonus_expiry_days": pack.bonus_expiry_days,
            "classes": [e.model_dump() for e in pack.classes],
            "keys": [e.model_dump() for e in pack.keys]}


def pack_info(row: RowMapping) -> PackInfo:
    return PackInfo(
        id=row["pack_id"], name=row["name"], asset=row["asset"], credits=row["credits"],
        price_minor=row["price_minor"], currency=row["currency"],
        bonus_credits=row["bonus_credits"], bonus_expiry_days=row["bonus_expiry_days"],
        credit_expiry_days=row["credit_expiry_days"],
        classes=[Entitlement.model_validate(e) for e in json.loads(row["classes_json"])],
        keys=[Entitlement.model_validate(e) for e in json.loads(row["keys_json"])],
        visible_to=json.loads(row["visible_to_json"]), active=bool(row["active"]),
        sort_order=row["sort_order"], created_at=from_us(row["created_at_us"]))


_SHELF = Shelf("pack", packs, "pack_id", limits.packs_max, pack_info)


def _dump(items: list[Entitlement]) -> str:
    return json.dumps([e.model_dump() for e in items])


def _non_negative(value: object, what: str) -> int:
    n = amounts.whole_amount(value, what)
    if n < 0:
        raise InvalidRequest(f"{what} must not be negative", status=Status.amount_invalid)
    return n


def _sort_order(value: object) -> int:
    if type(value) is not int or not -10_000 <= value <= 10_000:
        raise InvalidRequest("sort_order must be an integer -10000..10000",
                             status=Status.value_invalid)
    return value
