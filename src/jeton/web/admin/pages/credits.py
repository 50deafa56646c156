"""Granting or charging a member's credits by hand, with a reason and a review step.

    GET  /members/{id}/credits?kind=grant   the form (with a new idempotency key)
    POST /members/{id}/credits/review       checks the fields, shows what will happen
    POST /members/{id}/credits/edit         back from the review to the form, values kept
    POST /members/{id}/credits              posts it (funding/grants.py), then the member page

The services check the staff user's permission and their role's limit, post the transfer with
the user as its actor and write the audit record, all in one transaction; a refusal (over the
limit, not enough credits) is shown on the review page as it is. The form's key goes through
the review to the final POST, so submitting it twice posts once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from jeton.core.amounts import format_amount
from jeton.core.errors import Conflict, Declined, IdempotencyConflict, InvalidRequest
from jeton.services.access.staff import Permission, StaffSession
from jeton.services.funding import grants
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import (
    Fields,
    Key,
    Text,
    end_of_day,
    error_message,
    form_key,
    redirect_to,
)
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import require_permission
from jeton.web.admin.templating import render

router = page_router()

Poster = Annotated[StaffSession, Depends(require_permission(Permission.post_credits))]
KINDS = {"grant": "Grant", "charge": "Charge"}


@router.get("/members/{member_id}/credits", name="admin.credits_form")
def credits_form(request: Request, staff: Poster, member_id: str,
                 kind: str = "grant") -> HTMLResponse:
    values = {"kind": kind if kind in KINDS else "grant", "amount": "", "reason": "",
              "expires": "", "key": form_key()}
    return _form(request, staff, member_id, values)


@router.post("/members/{member_id}/credits/edit", name="admin.credits_edit")
def credits_edit(request: Request, staff: Poster, member_id: str, key: Key = "",
                 kind: Text = "grant", amount: Text = "", reason: Text = "",
                 expires: Text = "") -> HTMLResponse:
    values = {"kind": kind, "amount": amount, "reason": reason, "expires": expires, "key": key}
    return _form(request, staff, member_id, values)


@router.post("/members/{member_id}/credits/review", name="admin.credits_review")
def credits_review(request: Request, staff: Poster, member_id: str, key: Key = "",
                   kind: Text = "grant", amount: Text = "", reason: Text = "",
                   expires: Text = "") -> HTMLResponse:
    values = {"kind": kind, "amount": amount, "reason": reason, "expires": expires, "key": key}
    posting = _read(request, staff, member_id, values)
    if isinstance(posting, dict):
        return _form(request, staff, member_id, values, errors=posting)
    return _review(request, staff, member_id, values, posting)


@router.post("/members/{member_id}/credits", name="admin.credits_post")
def credits_post(request: Request, staff: Poster, member_id: str, key: Key = "",
                 kind: Text = "grant", amount: Text = "", reason: Text = "",
                 expires: Text = "") -> Response:
    values = {"kind": kind, "amount": amount, "reason": reason, "expires": expires, "key": key}
    posting = _read(request, staff, member_id, values)
    if isinstance(posting, dict):
        return _form(request, staff, member_id, values, errors=posting)
    ctx = admin_context(request)
    community = ctx.community(staff.community_id)
    try:
        if posting.kind == "grant":
            community.staff_grant(member_id, posting.amount, actor=staff.user,
                                  reason=posting.reason, idempotency_key=posting.key,
                                  expires_at=posting.expires_at)
        else:
            community.staff_charge(member_id, posting.amount, actor=staff.user,
                                   reason=posting.reason, idempotency_key=posting.key)
    except IdempotencyConflict:
        return _review(request, staff, member_id, values, posting, status_code=409, refusal=(
            "This form was already used for a different posting, so nothing was posted. "
            "Start again from the member's page."))
    except Declined as exc:
        return _review(request, staff, member_id, values, posting, status_code=403,
                       refusal="Not posted. " + error_message(exc))
    except (InvalidRequest, Conflict) as exc:
        return _review(request, staff, member_id, values, posting, status_code=400,
                       refusal="Not posted. " + error_message(exc))
    notice = "credits_granted" if posting.kind == "grant" else "credits_charged"
    return redirect_to(request, "admin.member", notice=notice, member_id=member_id)


class _Posting:
    """A grant or charge as the form asks for it, read and checked for shape."""

    def __init__(self, kind: str, amount: int, reason: str, expires_at: datetime | None,
                 key: str) -> None:
        self.kind = kind
        self.amount = amount
        self.reason = reason
        self.expires_at = expires_at
        self.key = key


def _read(request: Request, staff: StaffSession, member_id: str,
          values: dict[str, str]) -> _Posting | dict[str, str]:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    fields = Fields(values)
    kind = fields.text("kind")
    if kind not in KINDS:
        fields.errors["kind"] = "Choose grant or charge."
    amount = fields.amount("amount", asset.scale)
    reason = fields.text("reason", required=True, what="A reason")
    expires = fields.day("expires") if kind == "grant" else None
    expires_at = end_of_day(expires) if expires is not None else None
    if expires_at is not None and expires_at <= ctx.clock.now():
        fields.errors["expires"] = "Choose a day after today, or leave it empty."
    if not fields.text("key"):
        fields.errors["kind"] = "The form was incomplete; reload it and try again."
    if not fields.ok or amount is None:
        return fields.errors
    return _Posting(kind, amount, reason, expires_at, fields.values["key"])


def _common(request: Request, staff: StaffSession, member_id: str) -> dict[str, Any]:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    community = ctx.community(staff.community_id, asset)
    limit = next((r for r in grants.role_limits(ctx.jeton, staff.community_id)
                  if r.role == staff.role.value and r.asset == asset.code), None)
    return {"member": community.get_member(member_id), "asset": asset,
            "balance": community.balance(member_id), "limit": limit, "kinds": KINDS}


def _form(request: Request, staff: StaffSession, member_id: str, values: dict[str, str],
          errors: dict[str, str] | None = None) -> HTMLResponse:
    context = _common(request, staff, member_id)
    context.update(values=values, errors=errors or {})
    return render(request, "admin/credits_form.html", context,
                  status_code=400 if errors else 200, section="members")


def _review(request: Request, staff: StaffSession, member_id: str, values: dict[str, str],
            posting: _Posting, *, status_code: int = 200, refusal: str = "") -> HTMLResponse:
    ctx = admin_context(request)
    context = _common(request, staff, member_id)
    balance = context["balance"]
    change = posting.amount if posting.kind == "grant" else -posting.amount
    paying: list[tuple[Any, int]] = []
    short = False
    if posting.kind == "charge":
        # Whether it would be refused and the lots that would pay come from one read, so they
        # agree (the balance is another read: a spend landing in between made the page list
        # lots short of the amount under a Confirm button). What a charge may take is what
        # `staff_charge` draws: the unexpired lots that pay for any service, and the room
        # left on a credit line, not the credits kept for particular services.
        moves, available = ctx.jeton.ledger.preview_debit(
            staff.community_id, member_id, posting.amount, asset=context["asset"].code)
        lots = {lot.id: lot for lot in ctx.community(staff.community_id).lots(member_id)}
        paying = [(lots.get(move.lot_id), -move.amount) for move in moves]
        short = posting.amount > available
        if short and not refusal:
            # A charge that cannot succeed gets no Confirm button, only Change and Cancel.
            refusal = (f"The member has only {format_amount(available, context['asset'].scale)}"
                       f" {context['asset'].code} available: this charge would be refused. "
                       "Charge less, or grant first.")
    context.update(values=values, posting=posting, refusal=refusal,
                   posted_after=balance.posted + change,
                   available_after=balance.available + change, short=short, paying=paying)
    return render(request, "admin/credits_review.html", context, status_code=status_code,
                  section="members")
