"""The member's post-pay bills: the list, one bill (its lines by service and totals), paying it
on the provider's checkout, and downloading it as CSV. Only the member's own bills are shown; a
bill of someone else is "not found", like one that does not exist."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request, Response
from fastapi.responses import HTMLResponse

from jeton.core.errors import Conflict, NotFound
from jeton.services.funding.results import BillInfo
from jeton.web.member.context import Member, member_context
from jeton.web.member.pages.store import cancel_url, return_url, to_checkout
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember, PageNotFound
from jeton.web.member.templating import render

router = page_router()

BillPath = Annotated[str, Path(max_length=100)]
REASONS = {"cycle_end": "End of the billing period",
           "line_nearly_used": "Your credit line was nearly used",
           "staff": "Issued by the community"}


@router.get("/bills", name="member.bills")
def bills_page(request: Request, me: CurrentMember) -> HTMLResponse:
    listed = me.community.list_bills(me.id, limit=50).data
    return render(request, "member/bills.html", {"bills": listed}, section="bills")


@router.get("/bills/{bill_id}.csv", name="member.bill_csv")
def bill_csv(request: Request, me: CurrentMember, bill_id: BillPath) -> Response:
    bill = _own_bill(me, bill_id)
    return Response(me.community.bill_csv(bill.id), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{bill.number_text}.csv"'})


@router.get("/bills/{bill_id}", name="member.bill")
def bill_page(request: Request, me: CurrentMember, bill_id: BillPath) -> HTMLResponse:
    return _page(request, me, _own_bill(me, bill_id))


@router.post("/bills/{bill_id}/pay", name="member.pay_bill")
def pay(request: Request, me: CurrentMember, bill_id: BillPath) -> Response:
    bill = _own_bill(me, bill_id)
    ctx = member_context(request)
    try:
        checkout = me.community.pay_bill(
            bill.id, provider=ctx.jeton.payments.default_name, success_url=return_url(request),
            cancel_url=cancel_url(request, "member.bills"))
    except Conflict as exc:
        return _page(request, me, me.community.get_bill(bill.id), error=exc.detail,
                     status_code=409)
    return to_checkout(request, me, checkout, what="bill")


def _own_bill(me: Member, bill_id: str) -> BillInfo:
    try:
        bill = me.community.get_bill(bill_id)
    except NotFound:
        bill = None
    if bill is None or bill.member_id != me.id or bill.asset != me.asset.code:
        raise PageNotFound("There is no such bill on your account.")
    return bill


def _page(request: Request, me: Member, bill: BillInfo, *, error: str = "",
          status_code: int = 200) -> HTMLResponse:
    return render(request, "member/bill.html", {
        "bill": bill, "reason": REASONS.get(bill.reason, bill.reason), "error": error,
    }, section="bills", status_code=status_code)
