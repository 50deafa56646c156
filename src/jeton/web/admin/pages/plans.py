"""Plans: credits (and a class) granted every cycle for a price. List and create.

Like packs, a plan is not edited once made (subscriptions hold to its terms): an owner copies
it into the form (`/plans/new?copy=ID`) and saves a new plan. The form carries the new plan's
id, made when it is rendered, so a second submit makes nothing new.
"""

from __future__ import annotations

from collections import Counter

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from jeton.core.currencies import exponent
from jeton.core.cycles import Cycle
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.services.access.staff import Permission, StaffSession
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import (
    Fields,
    FormValues,
    amount_text,
    audit,
    error_message,
    redirect_to,
    retire_or_restore,
)
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import Configurer, CurrentStaff
from jeton.web.admin.templating import render, render_form

router = page_router()

FIELDS = ("name", "plan_id", "cycle", "credits", "price", "currency", "member_class")
CYCLES = [(c.value, c.value.capitalize() if c is not Cycle.semiannual else "Semi-annual")
          for c in Cycle]


@router.get("/plans", name="admin.plans")
def plan_list(request: Request, staff: CurrentStaff) -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    community = ctx.community(staff.community_id, asset)
    subscribers = Counter(s.plan_id for s in community.list_subscriptions()
                          if s.status != "canceled")
    return render(request, "admin/plans.html", {
        "plans": community.list_plans(include_inactive=True), "subscribers": subscribers,
        "asset": asset, "can_configure": staff.can(Permission.configure),
    }, section="plans")


@router.get("/plans/new", name="admin.plan_new")
def new_plan(request: Request, staff: Configurer, copy: str = "") -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    values = {name: "" for name in FIELDS} | {"currency": "USD", "cycle": Cycle.monthly.value,
                                               "key": new_id()}
    if copy:
        plan = next((p for p in ctx.community(staff.community_id).list_plans(
            include_inactive=True) if p.id == copy), None)
        if plan is None:
            raise NotFound(f"no plan {copy!r}")
        values |= {"name": plan.name, "cycle": plan.cycle, "currency": plan.currency,
                   "credits": amount_text(plan.credits, asset.scale),
                   "price": amount_text(plan.price_minor, exponent(plan.currency)),
                   "member_class": plan.member_class or ""}
    return _form(request, staff, values)


@router.post("/plans", name="admin.plan_create")
def create(request: Request, staff: Configurer, form: FormValues) -> Response:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    values = {name: form.get(name, "") for name in (*FIELDS, "key")}
    fields = Fields(values)
    name = fields.text("name", required=True, what="A name")
    cycle = fields.text("cycle")
    if cycle not in {c.value for c in Cycle}:
        fields.errors["cycle"] = "Choose a cycle."
    credits = fields.amount("credits", asset.scale, required=False, positive=False)
    currency, places = fields.currency("currency")
    price = fields.amount("price", places, positive=False)
    member_class = fields.text("member_class") or None
    if not credits and member_class is None:
        fields.errors["credits"] = "A plan grants credits, a class, or both."
    plan_id = fields.text("plan_id") or fields.text("key")
    if not plan_id:
        fields.errors["name"] = "The form was incomplete; reload it and try again."
    if not fields.ok or price is None:
        return _form(request, staff, values, fields.errors)
    try:
        plan = ctx.community(staff.community_id, asset).create_plan(
            name, cycle=cycle, credits=credits or 0, price_minor=price, currency=currency,
            plan_id=plan_id, member_class=member_class)
    except (InvalidRequest, Conflict, NotFound) as exc:
        return _form(request, staff, values, message=error_message(exc))
    audit(request, staff, "plan.created", target=plan.id,
          detail={"name": plan.name, "cycle": plan.cycle, "credits": plan.credits,
                  "price_minor": plan.price_minor, "currency": plan.currency})
    return redirect_to(request, "admin.plans", notice="plan_created")


def _form(request: Request, staff: StaffSession, values: dict[str, str],
          errors: dict[str, str] | None = None, message: str = "") -> HTMLResponse:
    return render_form(request, "admin/plan_form.html", values, errors, message, section="plans",
                       context={"cycles": CYCLES,
                                "asset": admin_context(request).credit_asset(staff.community_id)})


@router.post("/plans/{plan_id}/retire", name="admin.plan_retire")
def retire(request: Request, staff: Configurer, plan_id: str) -> Response:
    return _set_active(request, staff, plan_id, False)


@router.post("/plans/{plan_id}/restore", name="admin.plan_restore")
def restore(request: Request, staff: Configurer, plan_id: str) -> Response:
    return _set_active(request, staff, plan_id, True)


def _set_active(request: Request, staff: StaffSession, plan_id: str, active: bool) -> Response:
    community = admin_context(request).community(staff.community_id)
    before = next((p for p in community.list_plans(include_inactive=True) if p.id == plan_id),
                  None)
    if before is None:
        raise NotFound(f"no plan {plan_id!r}")
    return retire_or_restore(request, staff, "plan", plan_id, active=active,
                             was_active=before.active,
                             change=lambda: community.set_plan_active(plan_id, active))
