"""API keys: list, create (the token shown once), revoke (after a confirmation), and each key's
spending budget with what it used (services/charging/key_budgets.py).

Creating a key carries the form's idempotency key: a second submit finds the key the first
made, and the service cannot show its token again (it keeps only a digest).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from jeton.core import limits
from jeton.core.errors import InvalidRequest
from jeton.services.access.api_keys import ApiKeys, Scope
from jeton.services.charging import key_budgets
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import (
    Fields,
    FormValues,
    amount_text,
    audit,
    error_message,
    form_key,
    redirect_to,
    staff_actor,
)
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import Configurer
from jeton.web.admin.templating import render, render_form

router = page_router()

Cursor = Annotated[str, Query(max_length=200)]
PAGE_SIZE = 50
SCOPE_TEXT = {
    Scope.admin: "everything, including the community's setup",
    Scope.members_read: "read members, balances, lots and statements",
    Scope.members_write: "register members",
    Scope.charges_write: "charge members (spends, single and batched)",
    Scope.credits_write: "grants, transfers, reversals and credit lines",
    Scope.holds_write: "hold, capture and void credits (metered use)",
    Scope.reports_read: "read the community, assets, accounts, transfers and holds",
    Scope.webhooks_write: "manage webhook endpoints",
    Scope.keys_write: "make API keys (with at most its own scopes)",
}


PERIOD_TEXT = {"hour": "per hour", "day": "per UTC day", "month": "per UTC month"}


def _keys(request: Request) -> ApiKeys:
    ctx = admin_context(request)
    return ApiKeys(ctx.store, ctx.clock)


@router.get("/api-keys", name="admin.api_keys")
def key_list(request: Request, staff: Configurer, after: Cursor = "") -> HTMLResponse:
    found = _keys(request).list(staff.community_id, limit=PAGE_SIZE,
                                starting_after=after or None)
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    budgets = key_budgets.key_budgets_of(ctx.jeton, staff.community_id,
                                         [k.id for k in found.data], asset=asset.code)
    return render(request, "admin/api_keys.html", {
        "keys": found.data, "next_cursor": found.next_cursor or "", "first_page": not after,
        "budgets": budgets, "scale": asset.scale, "periods": PERIOD_TEXT,
    }, section="api_keys")


@router.get("/api-keys/{key_id}/budget", name="admin.api_key_budget")
def budget_form(request: Request, staff: Configurer, key_id: str) -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    budget = ctx.community(staff.community_id, asset).key_budget(key_id)
    values = {"period": budget.period,
              "per_key": amount_text(budget.per_key, asset.scale),
              "per_member": amount_text(budget.per_member, asset.scale)}
    return _budget_form(request, staff.community_id, key_id, values)


@router.post("/api-keys/{key_id}/budget", name="admin.api_key_budget_set")
def set_budget(request: Request, staff: Configurer, key_id: str,
               form: FormValues) -> Response:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    values = {name: form.get(name, "") for name in ("period", "per_key", "per_member")}
    fields = Fields(values)
    period = fields.text("period") or "day"
    if period not in PERIOD_TEXT:
        fields.errors["period"] = "Choose an hour, a day or a month."
    per_key = fields.amount("per_key", asset.scale, required=False, positive=False)
    per_member = fields.amount("per_member", asset.scale, required=False, positive=False)
    for name, value in (("per_key", per_key), ("per_member", per_member)):
        if value is not None and value < 0:
            fields.errors[name] = "Enter zero or more."
    if not fields.ok:
        return _budget_form(request, staff.community_id, key_id, values, fields.errors)
    try:
        ctx.community(staff.community_id, asset).set_key_budget(
            key_id, period=period, per_key=per_key, per_member=per_member,
            actor=staff_actor(staff))
    except InvalidRequest as exc:
        return _budget_form(request, staff.community_id, key_id, values, message=error_message(exc))
    return redirect_to(request, "admin.api_keys", notice="key_budget_set")


def _budget_form(request: Request, community_id: str, key_id: str, values: dict[str, str],
                 errors: dict[str, str] | None = None, message: str = "") -> HTMLResponse:
    return render_form(request, "admin/api_key_budget.html", values, errors, message,
                       section="api_keys", context={
                           "api_key": _keys(request).get(community_id, key_id),
                           "periods": list(PERIOD_TEXT.items())})


@router.get("/api-keys/new", name="admin.api_key_new")
def new_key(request: Request, staff: Configurer) -> HTMLResponse:
    return _form(request, {"name": "", "key": form_key()}, [])


@router.post("/api-keys", name="admin.api_key_create")
def create(request: Request, staff: Configurer, form: FormValues) -> Response:
    values = {"name": form.get("name", ""), "key": form.get("key", "")}
    chosen = [s.value for s in Scope if form.get(f"scope:{s.value}")]
    fields = Fields(values)
    name = fields.text("name", required=True, what="A name")
    if not chosen:
        fields.errors["scopes"] = "Choose at least one scope."
    if not fields.text("key"):
        fields.errors["name"] = "The form was incomplete; reload it and try again."
    if len(name) > limits.display_name_chars_max:
        fields.errors["name"] = f"At most {limits.display_name_chars_max} characters."
    if not fields.ok:
        return _form(request, values, chosen, fields.errors)
    try:
        made = _keys(request).create(staff.community_id, name=name, scopes=chosen,
                                     created_by=staff_actor(staff),
                                     idempotency_key=values["key"])
    except InvalidRequest as exc:
        return _form(request, values, chosen, message=error_message(exc))
    if made.token is not None:
        audit(request, staff, "api_key.created", target=made.name,
              detail={"key_id": made.id, "scopes": [s.value for s in made.scopes]})
    return render(request, "admin/api_key_created.html", {"made": made},
                  section="api_keys")


@router.get("/api-keys/{key_id}/revoke", name="admin.api_key_revoke_review")
def revoke_review(request: Request, staff: Configurer, key_id: str) -> HTMLResponse:
    return render(request, "admin/api_key_revoke.html", {
        "api_key": _keys(request).get(staff.community_id, key_id),
    }, section="api_keys")


@router.post("/api-keys/{key_id}/revoke", name="admin.api_key_revoke")
def revoke(request: Request, staff: Configurer, key_id: str) -> Response:
    keys = _keys(request)
    before = keys.get(staff.community_id, key_id)
    if before.revoked_at is None:  # a second submit changes nothing and records nothing
        keys.revoke(staff.community_id, key_id)
        audit(request, staff, "api_key.revoked", target=before.name,
              detail={"key_id": key_id, "token_hint": before.token_hint})
    return redirect_to(request, "admin.api_keys", notice="key_revoked")


def _form(request: Request, values: dict[str, str], chosen: list[str],
          errors: dict[str, str] | None = None, message: str = "") -> HTMLResponse:
    return render_form(request, "admin/api_key_new.html", values, errors, message,
                       section="api_keys", context={
                           "chosen": chosen,
                           "scopes": [(s.value, SCOPE_TEXT.get(s, "")) for s in Scope]})
