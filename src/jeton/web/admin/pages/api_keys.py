"""API keys: list, create (the token shown once) and revoke (after a confirmation).

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
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import (
    Fields,
    FormValues,
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


def _keys(request: Request) -> ApiKeys:
    ctx = admin_context(request)
    return ApiKeys(ctx.store, ctx.clock)


@router.get("/api-keys", name="admin.api_keys")
def key_list(request: Request, staff: Configurer, after: Cursor = "") -> HTMLResponse:
    found = _keys(request).list(staff.community_id, limit=PAGE_SIZE,
                                starting_after=after or None)
    return render(request, "admin/api_keys.html", {
        "keys": found.data, "next_cursor": found.next_cursor or "", "first_page": not after,
    }, section="api_keys")


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
