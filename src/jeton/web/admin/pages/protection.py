"""Freezing or unfreezing a member's wallet from the member page, with a reason and a review.

    GET  /members/{id}/freeze          the form: freeze (or unfreeze, when frozen) and why
    POST /members/{id}/freeze/review   checks the reason, shows what will stop or start again
    POST /members/{id}/freeze/edit     back from the review to the form, reason kept
    POST /members/{id}/freeze          does it (charging/protection.py), then the member page

The service checks the staff user's permission (post credits: owners and moderators) and
writes the audit record and the `wallet.frozen` / `wallet.unfrozen` event in one transaction.
Freezing is a state, not a posting: sending the confirmation twice freezes once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from jeton.core.errors import JetonError
from jeton.services.access.staff import Permission, StaffSession
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import Fields, Text, error_message, redirect_to
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import require_permission
from jeton.web.admin.templating import render

router = page_router()

Poster = Annotated[StaffSession, Depends(require_permission(Permission.post_credits))]
ACTIONS = {"freeze": "Freeze", "unfreeze": "Unfreeze"}


@router.get("/members/{member_id}/freeze", name="admin.freeze_form")
def freeze_form(request: Request, staff: Poster, member_id: str) -> HTMLResponse:
    state = _community(request, staff).get_wallet_freeze(member_id)
    values = {"action": "unfreeze" if state.frozen else "freeze", "reason": ""}
    return _page(request, staff, member_id, "admin/freeze_form.html", values)


@router.post("/members/{member_id}/freeze/edit", name="admin.freeze_edit")
def freeze_edit(request: Request, staff: Poster, member_id: str, action: Text = "freeze",
                reason: Text = "") -> HTMLResponse:
    return _page(request, staff, member_id, "admin/freeze_form.html",
                 {"action": action, "reason": reason})


@router.post("/members/{member_id}/freeze/review", name="admin.freeze_review")
def freeze_review(request: Request, staff: Poster, member_id: str, action: Text = "freeze",
                  reason: Text = "") -> HTMLResponse:
    values = {"action": action, "reason": reason}
    errors = _check(values)
    if errors:
        return _page(request, staff, member_id, "admin/freeze_form.html", values, errors=errors)
    return _page(request, staff, member_id, "admin/freeze_review.html", values)


@router.post("/members/{member_id}/freeze", name="admin.freeze_post")
def freeze_post(request: Request, staff: Poster, member_id: str, action: Text = "freeze",
                reason: Text = "") -> Response:
    values = {"action": action, "reason": reason}
    errors = _check(values)
    if errors:
        return _page(request, staff, member_id, "admin/freeze_form.html", values, errors=errors)
    community = _community(request, staff)
    act = community.freeze_wallet if action == "freeze" else community.unfreeze_wallet
    try:
        act(member_id, reason=reason.strip(), actor=staff.user)
    except JetonError as exc:
        return _page(request, staff, member_id, "admin/freeze_review.html", values,
                     status_code=400, refusal="Nothing was changed. " + error_message(exc))
    notice = "wallet_frozen" if action == "freeze" else "wallet_unfrozen"
    return redirect_to(request, "admin.member", notice=notice, member_id=member_id)


def _check(values: dict[str, str]) -> dict[str, str]:
    fields = Fields(values)
    if fields.text("action") not in ACTIONS:
        fields.errors["reason"] = "The form was incomplete; reload it and try again."
    fields.text("reason", required=True, what="A reason")
    return fields.errors


def _community(request: Request, staff: StaffSession) -> Any:
    return admin_context(request).community(staff.community_id)


def _page(request: Request, staff: StaffSession, member_id: str, template: str,
          values: dict[str, str], *, errors: dict[str, str] | None = None,
          status_code: int | None = None, refusal: str = "") -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    community = ctx.community(staff.community_id, asset)
    context = {"member": community.get_member(member_id), "asset": asset,
               "balance": community.balance(member_id),
               "freeze": community.get_wallet_freeze(member_id), "actions": ACTIONS,
               "values": values, "errors": errors or {}, "refusal": refusal}
    return render(request, template, context,
                  status_code=status_code or (400 if errors else 200), section="members")
