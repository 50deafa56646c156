"""Post-pay bills on the dashboard: every member's bills, open or paid, and one bill with its
lines by service, its payment attempts' outcome and the transfer that repaid the credit line.

    GET /bills              the list, newest first (`?status=open|paid`, `?member=`)
    GET /bills/{id}         one bill
    GET /bills/{id}.csv     the same CSV the member downloads
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from jeton.core.errors import NotFound
from jeton.services.access.staff import StaffSession
from jeton.services.funding.results import BillInfo
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff, PageNotFound
from jeton.web.admin.templating import render

router = page_router()

PAGE_SIZE = 25
BillPath = Annotated[str, Path(max_length=100)]
Choice = Annotated[str, Query(max_length=100)]


@router.get("/bills", name="admin.bills")
def bill_list(request: Request, staff: CurrentStaff, status: Choice = "", member: Choice = "",
              after: Choice = "") -> HTMLResponse:
    ctx = admin_context(request)
    community = ctx.community(staff.community_id)
    status = status if status in ("open", "paid") else ""
    found = community.list_bills(member.strip() or None, status=status or None,
                                 limit=PAGE_SIZE, starting_after=after or None)
    kept = {k: v for k, v in {"status": status, "member": member.strip()}.items() if v}
    base = request.url_for("admin.bills").path
    more = f"{base}?{urlencode({**kept, 'after': found.next_cursor})}" \
        if found.next_cursor else ""
    return render(request, "admin/bills.html", {
        "bills": found.data, "filters": {"status": status, "member": member.strip()},
        "first_page": not after, "next_page": more,
        "first": f"{base}?{urlencode(kept)}" if kept else base,
        "asset": ctx.credit_asset(staff.community_id),
    }, section="bills")


@router.get("/bills/{bill_id}.csv", name="admin.bill_csv")
def bill_csv(request: Request, staff: CurrentStaff, bill_id: BillPath) -> Response:
    community = admin_context(request).community(staff.community_id)
    bill = _bill(request, staff, bill_id)
    return Response(community.bill_csv(bill_id), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{bill.number_text}.csv"'})


@router.get("/bills/{bill_id}", name="admin.bill")
def bill_page(request: Request, staff: CurrentStaff, bill_id: BillPath) -> HTMLResponse:
    return render(request, "admin/bill.html", {
        "bill": _bill(request, staff, bill_id),
        "asset": admin_context(request).credit_asset(staff.community_id),
    }, section="bills")


def _bill(request: Request, staff: StaffSession, bill_id: str) -> BillInfo:
    try:
        return admin_context(request).community(staff.community_id).get_bill(bill_id)
    except NotFound:
        raise PageNotFound("There is no such bill.") from None
