"""Packs and cashier packages: list, create, retire (and put back on sale).

A pack is never edited once made: a purchase freezes what it grants (services/funding/packs.py). To
change one, an owner copies it into the form (`/packs/new?copy=ID`), saves the copy as a new
pack and, in the same step, retires the original. Retired packs stay listed for history.

The form carries the new pack's id, made when the form is rendered: the service returns the
same pack for the same id and terms, so a second submit makes nothing new.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from jeton.core.currencies import exponent
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.services.access.staff import Permission, StaffSession
from jeton.services.funding.results import PackInfo
from jeton.services.ledger.results import AssetInfo
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import (
    Fields,
    FormValues,
    amount_text,
    audit,
    entitlement_text,
    error_message,
    redirect_to,
    retire_or_restore,
)
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import Configurer, CurrentStaff
from jeton.web.admin.templating import render, render_form

router = page_router()

FIELDS = ("name", "pack_id", "credits", "price", "currency", "bonus_credits",
          "bonus_expiry_days", "credit_expiry_days", "classes", "keys", "visible_to",
          "sort_order")


@router.get("/packs", name="admin.packs")
def pack_list(request: Request, staff: CurrentStaff) -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    found = ctx.community(staff.community_id, asset).list_packs(include_inactive=True)
    return render(request, "admin/packs.html", {
        "on_sale": [p for p in found if p.active], "retired": [p for p in found if not p.active],
        "asset": asset, "can_configure": staff.can(Permission.configure),
    }, section="packs")


@router.get("/packs/new", name="admin.pack_new")
def new_pack(request: Request, staff: Configurer, copy: str = "") -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    values = {name: "" for name in FIELDS} | {"currency": "USD", "sort_order": "0",
                                               "key": new_id(), "replaces": ""}
    if copy:
        original = ctx.community(staff.community_id).get_pack(copy)
        values |= _values_of(original, asset) | {"replaces": original.id, "retire_original": "1"}
    return _form(request, staff, values)


@router.post("/packs", name="admin.pack_create")
def create(request: Request, staff: Configurer, form: FormValues) -> Response:
    values = {name: form.get(name, "") for name in
              (*FIELDS, "key", "replaces", "retire_original")}
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    fields = Fields(values)
    name = fields.text("name", required=True, what="A name")
    credits = fields.amount("credits", asset.scale)
    currency, places = fields.currency("currency")
    price = fields.amount("price", places)
    bonus = fields.amount("bonus_credits", asset.scale, required=False, positive=False)
    bonus_days = fields.integer("bonus_expiry_days", minimum=1)
    credit_days = fields.integer("credit_expiry_days", minimum=1)
    classes = fields.names_with_days("classes")
    keys = fields.names_with_days("keys")
    visible_to = fields.names("visible_to")
    sort_order = fields.integer("sort_order") or 0
    pack_id = fields.text("pack_id") or fields.text("key")
    if not pack_id:
        fields.errors["name"] = "The form was incomplete; reload it and try again."
    if not fields.ok or credits is None or price is None:
        return _form(request, staff, values, fields.errors)
    community = ctx.community(staff.community_id, asset)
    try:
        pack = community.create_pack(
            name, credits=credits, price_minor=price, currency=currency, pack_id=pack_id,
            bonus_credits=bonus or 0, bonus_expiry_days=bonus_days,
            credit_expiry_days=credit_days, classes=classes, keys=keys,
            visible_to=visible_to, sort_order=sort_order)
    except (InvalidRequest, Conflict, NotFound) as exc:
        return _form(request, staff, values, message=error_message(exc))
    audit(request, staff, "pack.created", target=pack.id,
          detail={"name": pack.name, "credits": pack.credits, "price_minor": pack.price_minor,
                  "currency": pack.currency})
    replaces = fields.text("replaces")
    if (replaces and values.get("retire_original") and replaces != pack.id
            and community.get_pack(replaces).active):
        community.set_pack_active(replaces, False)
        audit(request, staff, "pack.retired", target=replaces, detail={"replaced_by": pack.id})
    return redirect_to(request, "admin.packs", notice="pack_created")


@router.post("/packs/{pack_id}/retire", name="admin.pack_retire")
def retire(request: Request, staff: Configurer, pack_id: str) -> Response:
    return _set_active(request, staff, pack_id, False)


@router.post("/packs/{pack_id}/restore", name="admin.pack_restore")
def restore(request: Request, staff: Configurer, pack_id: str) -> Response:
    return _set_active(request, staff, pack_id, True)


def _set_active(request: Request, staff: StaffSession, pack_id: str, active: bool) -> Response:
    community = admin_context(request).community(staff.community_id)
    before = community.get_pack(pack_id)
    return retire_or_restore(request, staff, "pack", pack_id, active=active,
                             was_active=before.active, detail={"name": before.name},
                             change=lambda: community.set_pack_active(pack_id, active))


def _values_of(pack: PackInfo, asset: AssetInfo) -> dict[str, str]:
    """A pack as the form shows it, to copy into a new one."""
    places = exponent(pack.currency)
    return {
        "name": pack.name, "pack_id": "", "credits": amount_text(pack.credits, asset.scale),
        "price": amount_text(pack.price_minor, places), "currency": pack.currency,
        "bonus_credits": amount_text(pack.bonus_credits or None, asset.scale),
        "bonus_expiry_days": str(pack.bonus_expiry_days or ""),
        "credit_expiry_days": str(pack.credit_expiry_days or ""),
        "classes": entitlement_text(pack.classes), "keys": entitlement_text(pack.keys),
        "visible_to": ", ".join(pack.visible_to), "sort_order": str(pack.sort_order),
    }


def _form(request: Request, staff: StaffSession, values: dict[str, str],
          errors: dict[str, str] | None = None, message: str = "") -> HTMLResponse:
    ctx = admin_context(request)
    original: Any = None
    if values.get("replaces"):
        original = ctx.community(staff.community_id).get_pack(values["replaces"])
    return render_form(request, "admin/pack_form.html", values, errors, message, section="packs",
                       context={"original": original,
                                "asset": ctx.credit_asset(staff.community_id)})
