"""Sending credits to another member: the form, a review step, then the transfer.

The review shows only what the member typed (the recipient's id), never anything about the
recipient: these pages show no member's data but the signed-in member's own. The form key made
with the review page is the transfer's idempotency key, so confirming twice sends once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from jeton.core import limits
from jeton.core.amounts import format_amount
from jeton.core.errors import Declined, InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.services.funding import member_transfers
from jeton.web.member.context import Member, member_context
from jeton.web.member.forms import (
    Fields,
    FormKey,
    Text,
    error_message,
    form_key,
    redirect_to,
    write_key,
)
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember
from jeton.web.member.templating import render

router = page_router()

MemoText = Annotated[str, Form(max_length=200)]


@router.get("/transfer", name="member.transfer")
def transfer_page(request: Request, me: CurrentMember,
                  to: Annotated[str, Query(max_length=limits.external_id_chars_max)] = "",
                  amount: Annotated[str, Query(max_length=40)] = "",
                  memo: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    return _form(request, me, {"to": to, "amount": amount, "memo": memo})


@router.post("/transfer", name="member.transfer_review")
def review(request: Request, me: CurrentMember, to: Text = "", amount: Text = "",
           memo: MemoText = "") -> Response:
    fields = Fields({"to": to, "amount": amount, "memo": memo})
    recipient = fields.text("to", required=True, what="The recipient's member id")
    value = fields.amount("amount", me.asset.scale)
    if recipient and recipient == me.id:
        fields.errors["to"] = "You cannot send credits to yourself."
    elif recipient:
        try:
            me.community.get_member(recipient)
        except (NotFound, InvalidRequest):
            fields.errors["to"] = "There is no member with that id."
    if not fields.ok or value is None:
        return _form(request, me, fields.values, fields.errors, status_code=400)
    fee = member_transfers.transfer_fee(member_context(request).jeton, me.session.community_id,
                                        value, me.asset.code)
    available = me.community.balance(me.id).available
    return render(request, "member/transfer_review.html", {
        "to": recipient, "amount": value, "amount_text": format_amount(value, me.asset.scale),
        "memo": fields.values["memo"], "fee": fee, "total": value + fee,
        "available": available, "short": value + fee > available, "key": form_key(),
    }, section="transfer")


@router.post("/transfer/confirm", name="member.transfer_confirm")
def confirm(request: Request, me: CurrentMember, key: FormKey, to: Text = "",
            amount: Text = "", memo: MemoText = "") -> Response:
    fields = Fields({"to": to, "amount": amount, "memo": memo})
    value = fields.amount("amount", me.asset.scale)
    recipient = fields.text("to", required=True)
    if not fields.ok or value is None or recipient == me.id:
        return _form(request, me, fields.values, fields.errors, status_code=400)
    try:
        me.community.transfer(me.id, recipient, value,
                              idempotency_key=write_key(me, "transfer", key), actor=me.actor,
                              memo=fields.values["memo"])
    except NotFound:
        fields.errors["to"] = "There is no member with that id."
        return _form(request, me, fields.values, fields.errors, status_code=400)
    except (Declined, InvalidRequest) as exc:
        return _form(request, me, fields.values, message=_refusal(me, exc), status_code=409)
    return redirect_to(request, "member.home", notice="transfer_sent")


def _refusal(me: Member, exc: Declined | InvalidRequest) -> str:
    """Why a transfer was refused, for the member: not enough credits, or over a limit."""
    if exc.status is Status.insufficient_credits:
        return ("You do not have enough credits for this transfer and its fee. Nothing was "
                "sent.")
    limit, used = exc.extra.get("limit"), exc.extra.get("used")
    if exc.status is Status.limit_exceeded and isinstance(limit, int) and isinstance(used, int):
        left = format_amount(max(limit - used, 0), me.asset.scale)
        return (f"That is over your transfer limit: you can send {left} more for now. "
                "Nothing was sent.")
    return f"{error_message(exc)} Nothing was sent."


def _form(request: Request, me: Member, values: dict[str, str],
          errors: dict[str, str] | None = None, *, message: str = "",
          status_code: int = 200) -> HTMLResponse:
    return render(request, "member/transfer.html", {
        "values": values, "errors": errors or {}, "message": message,
        "limits": me.community.get_transfer_limits(),
        "available": me.community.balance(me.id).available,
    }, section="transfer", status_code=status_code)
