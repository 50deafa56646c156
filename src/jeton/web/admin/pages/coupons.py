"""Coupons and affiliate codes: list, create, retire (and allow again); the affiliate program.

A coupon gives credits, classes or keys, within a total and a per-member limit, until it
expires. Affiliate codes are coupons members request under the affiliate program; their owner
earns a royalty on each redemption. A code that was used is never deleted: retiring it stops
redemptions and keeps it for history.

The new-coupon form is filled with a fresh random code. Saving the same code twice is refused
by the service; when the coupon that exists has exactly the terms submitted, it was this form
sent twice, and the page answers as if it were the first time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from jeton.core import limits
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.services.access.staff import Permission, StaffSession
from jeton.services.funding import coupons
from jeton.services.funding.results import AffiliateProgram, CouponInfo
from jeton.services.ledger.results import AssetInfo
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import (
    Fields,
    FormValues,
    amount_text,
    audit,
    end_of_day,
    entitlement_text,
    error_message,
    redirect_to,
    retire_or_restore,
)
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import Configurer, CurrentStaff
from jeton.web.admin.templating import render, render_form

router = page_router()

FIELDS = ("code", "credits", "credit_expiry_days", "classes", "keys", "max_redemptions",
          "per_member_limit", "expires")
PROGRAM_FIELDS = ("classes", "fee_per_code", "credits", "credit_expiry_days", "royalty",
                  "max_redemptions_per_code", "codes_per_member_max")


@router.get("/coupons", name="admin.coupons")
def coupon_list(request: Request, staff: CurrentStaff) -> HTMLResponse:
    ctx = admin_context(request)
    found = coupons.list_coupons(ctx.jeton, staff.community_id, limit=limits.page_size_max)
    return render(request, "admin/coupons.html", {
        "promos": [c for c in found if c.kind != "affiliate"],
        "affiliates": [c for c in found if c.kind == "affiliate"],
        "program": coupons.get_affiliate_program(ctx.jeton, staff.community_id),
        "asset": ctx.credit_asset(staff.community_id), "now": ctx.clock.now(),
        "can_configure": staff.can(Permission.configure),
    }, section="coupons")


@router.get("/coupons/new", name="admin.coupon_new")
def new_coupon(request: Request, staff: Configurer, copy: str = "") -> HTMLResponse:
    ctx = admin_context(request)
    values = {name: "" for name in FIELDS} | {"code": coupons.random_code(),
                                               "per_member_limit": "1"}
    if copy:
        asset = ctx.credit_asset(staff.community_id)
        original = ctx.community(staff.community_id, asset).get_coupon(copy)
        values |= {"credits": amount_text(original.credits or None, asset.scale),
                   "credit_expiry_days": str(original.credit_expiry_days or ""),
                   "classes": entitlement_text(original.classes),
                   "keys": entitlement_text(original.keys),
                   "max_redemptions": str(original.max_redemptions or ""),
                   "per_member_limit": str(original.per_member_limit)}
    return _form(request, staff, values)


@router.post("/coupons", name="admin.coupon_create")
def create(request: Request, staff: Configurer, form: FormValues) -> Response:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    values = {name: form.get(name, "") for name in FIELDS}
    fields = Fields(values)
    code = fields.text("code") or None
    credits = fields.amount("credits", asset.scale, required=False, positive=False)
    terms: dict[str, Any] = {
        "credits": credits or 0,
        "credit_expiry_days": fields.integer("credit_expiry_days", minimum=1),
        "classes": fields.names_with_days("classes"),
        "keys": fields.names_with_days("keys"),
        "max_redemptions": fields.integer("max_redemptions", minimum=1),
        "per_member_limit": fields.integer("per_member_limit", minimum=1) or 1,
    }
    expires = fields.day("expires")
    expires_at = end_of_day(expires) if expires is not None else None
    if expires_at is not None and expires_at <= ctx.clock.now():
        fields.errors["expires"] = "Choose a day after today, or leave it empty."
    if not fields.ok:
        return _form(request, staff, values, fields.errors)
    community = ctx.community(staff.community_id, asset)
    try:
        coupon = community.create_coupon(code, expires_at=expires_at, **terms)
    except Conflict as exc:
        if code is None or not _same_terms(community.get_coupon(code), terms, expires_at):
            return _form(request, staff, values, message=error_message(exc))
        return redirect_to(request, "admin.coupons", notice="coupon_created")  # sent twice
    except (InvalidRequest, NotFound) as exc:
        return _form(request, staff, values, message=error_message(exc))
    audit(request, staff, "coupon.created", target=coupon.code,
          detail={"credits": coupon.credits, "max_redemptions": coupon.max_redemptions,
                  "per_member_limit": coupon.per_member_limit})
    return redirect_to(request, "admin.coupons", notice="coupon_created")


@router.post("/coupons/{code}/retire", name="admin.coupon_retire")
def retire(request: Request, staff: Configurer, code: str) -> Response:
    return _set_active(request, staff, code, False)


@router.post("/coupons/{code}/restore", name="admin.coupon_restore")
def restore(request: Request, staff: Configurer, code: str) -> Response:
    return _set_active(request, staff, code, True)


@router.get("/coupons/affiliate-program", name="admin.affiliate_program")
def program_form(request: Request, staff: Configurer) -> HTMLResponse:
    ctx = admin_context(request)
    program = coupons.get_affiliate_program(ctx.jeton, staff.community_id)
    scale = ctx.credit_asset(staff.community_id).scale
    values = {
        "classes": ", ".join(program.classes),
        "fee_per_code": amount_text(program.fee_per_code, scale),
        "credits": amount_text(program.credits, scale),
        "credit_expiry_days": str(program.credit_expiry_days or ""),
        "royalty": amount_text(program.royalty, scale),
        "max_redemptions_per_code": str(program.max_redemptions_per_code or ""),
        "codes_per_member_max": str(program.codes_per_member_max),
    }
    return _program_form(request, staff, values)


@router.post("/coupons/affiliate-program", name="admin.affiliate_save")
def program_save(request: Request, staff: Configurer, form: FormValues) -> Response:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    values = {name: form.get(name, "") for name in PROGRAM_FIELDS}
    fields = Fields(values)
    program_values: dict[str, Any] = {
        "asset": asset.code,
        "classes": fields.names("classes"),
        "fee_per_code": fields.amount("fee_per_code", asset.scale, required=False,
                                      positive=False) or 0,
        "credits": fields.amount("credits", asset.scale, required=False, positive=False) or 0,
        "credit_expiry_days": fields.integer("credit_expiry_days", minimum=1),
        "royalty": fields.amount("royalty", asset.scale, required=False, positive=False) or 0,
        "max_redemptions_per_code": fields.integer("max_redemptions_per_code", minimum=1),
        "codes_per_member_max": fields.integer("codes_per_member_max", minimum=0,
                                               required=True),
    }
    if not fields.ok:
        return _program_form(request, staff, values, fields.errors)
    try:
        program = coupons.set_affiliate_program(
            ctx.jeton, staff.community_id, AffiliateProgram.model_validate(program_values))
    except (InvalidRequest, NotFound) as exc:
        return _program_form(request, staff, values, message=error_message(exc))
    audit(request, staff, "affiliate_program.changed", detail=program.model_dump())
    return redirect_to(request, "admin.coupons", notice="affiliate_saved")


def _set_active(request: Request, staff: StaffSession, code: str, active: bool) -> Response:
    ctx = admin_context(request)
    before = ctx.community(staff.community_id).get_coupon(code)
    return retire_or_restore(
        request, staff, "coupon", before.code, active=active, was_active=before.active,
        detail={"kind": before.kind},
        change=lambda: coupons.set_coupon_active(ctx.jeton, staff.community_id, code, active))


def _same_terms(found: CouponInfo, terms: dict[str, Any], expires_at: datetime | None) -> bool:
    def named(items: list[Any]) -> list[tuple[str, int | None]]:
        return [(i, None) if isinstance(i, str) else (i[0], i[1]) for i in items]

    return (found.kind == "promo" and found.credits == terms["credits"]
            and found.credit_expiry_days == terms["credit_expiry_days"]
            and found.max_redemptions == terms["max_redemptions"]
            and found.per_member_limit == terms["per_member_limit"]
            and [(e.name, e.days) for e in found.classes] == named(terms["classes"])
            and [(e.name, e.days) for e in found.keys] == named(terms["keys"])
            and found.expires_at == expires_at)


def _form(request: Request, staff: StaffSession, values: dict[str, str],
          errors: dict[str, str] | None = None, message: str = "") -> HTMLResponse:
    return render_form(request, "admin/coupon_form.html", values, errors, message,
                       section="coupons", context={"asset": _asset(request, staff)})


def _program_form(request: Request, staff: StaffSession, values: dict[str, str],
                  errors: dict[str, str] | None = None, message: str = "") -> HTMLResponse:
    return render_form(request, "admin/affiliate_program.html", values, errors, message,
                       section="coupons", context={"asset": _asset(request, staff)})


def _asset(request: Request, staff: StaffSession) -> AssetInfo:
    return admin_context(request).credit_asset(staff.community_id)
