"""Lists across members: purchases, transfers, declined charges, subscriptions and holds in
flight, searchable and paged, and one transfer with its postings and lots
(services/reports/activity.py and standing.py).

Every row links to its member and, where there is one, to the transfer. Filters travel in the
query string, so a page of results is a link an owner can share or bookmark.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from jeton.core import limits
from jeton.services.reports import activity, standing
from jeton.store.tables.funding import PURCHASE_KINDS, PURCHASE_STATUSES, SUBSCRIPTION_STATUSES
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff
from jeton.web.admin.templating import render

router = page_router()

PAGE_SIZE = 25
Cursor = Annotated[str, Query(max_length=200)]
SearchText = Annotated[str, Query(max_length=limits.display_name_chars_max)]
Choice = Annotated[str, Query(max_length=32)]
GROUP_LABELS = {"charge": "Charges", "grant": "Grants", "refund": "Refunds (reversals)",
                "transfer": "Transfers between members", "expiry": "Expiry"}


def _pages(base: str, filters: dict[str, str], next_cursor: str | None) -> dict[str, str]:
    """The first and next page's links, keeping the filters."""
    kept = {k: v for k, v in filters.items() if v}
    first = f"{base}?{urlencode(kept)}" if kept else base
    more = f"{base}?{urlencode({**kept, 'after': next_cursor})}" if next_cursor else ""
    return {"first": first, "next": more}


def _only(value: str, allowed: tuple[str, ...] | list[str]) -> str:
    """A filter's value if it is one we offer; anything else means no filter."""
    return value if value in allowed else ""


@router.get("/purchases", name="admin.purchases")
def purchase_list(request: Request, staff: CurrentStaff, q: SearchText = "", status: Choice = "",
                  provider: Choice = "", kind: Choice = "", after: Cursor = "") -> HTMLResponse:
    ctx = admin_context(request)
    providers = activity.purchase_providers(ctx.store, staff.community_id)
    filters = {"q": q.strip(), "status": _only(status, PURCHASE_STATUSES),
               "provider": _only(provider, providers), "kind": _only(kind, PURCHASE_KINDS)}
    found = activity.search_purchases(
        ctx.store, staff.community_id, search=filters["q"] or None,
        status=filters["status"] or None, provider=filters["provider"] or None,
        kind=filters["kind"] or None, limit=PAGE_SIZE, starting_after=after or None)
    return render(request, "admin/purchases.html", {
        "filters": filters, "purchases": found.data, "first_page": not after,
        "pages": _pages(request.url_for("admin.purchases").path, filters, found.next_cursor),
        "statuses": PURCHASE_STATUSES, "providers": providers, "kinds": PURCHASE_KINDS,
        "asset": ctx.credit_asset(staff.community_id),
    }, section="purchases")


@router.get("/transfers", name="admin.transfers")
def transfer_list(request: Request, staff: CurrentStaff, q: SearchText = "", kind: Choice = "",
                  after: Cursor = "") -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    filters = {"q": q.strip(), "kind": _only(kind, list(activity.TRANSFER_GROUPS))}
    found = activity.search_transfers(
        ctx.store, staff.community_id, asset.code, search=filters["q"] or None,
        group=filters["kind"] or None, limit=PAGE_SIZE, starting_after=after or None)
    return render(request, "admin/transfers.html", {
        "filters": filters, "transfers": found.data, "first_page": not after,
        "pages": _pages(request.url_for("admin.transfers").path, filters, found.next_cursor),
        "groups": GROUP_LABELS, "asset": asset,
    }, section="transfers")


@router.get("/transfers/{transfer_id}", name="admin.transfer")
def transfer_page(request: Request, staff: CurrentStaff, transfer_id: str) -> HTMLResponse:
    ctx = admin_context(request)
    detail = activity.transfer_detail(ctx.store, staff.community_id, transfer_id)
    return render(request, "admin/transfer.html", {
        "detail": detail, "t": detail.transfer, "asset": ctx.credit_asset(staff.community_id),
    }, section="transfers")


@router.get("/declines", name="admin.declines")
def decline_list(request: Request, staff: CurrentStaff, q: SearchText = "",
                 after: Cursor = "") -> HTMLResponse:
    ctx = admin_context(request)
    filters = {"q": q.strip()}
    found = activity.search_declines(ctx.store, staff.community_id, search=filters["q"] or None,
                                     limit=PAGE_SIZE, starting_after=after or None)
    return render(request, "admin/declines.html", {
        "filters": filters, "declines": found.data, "first_page": not after,
        "pages": _pages(request.url_for("admin.declines").path, filters, found.next_cursor),
        "asset": ctx.credit_asset(staff.community_id),
    }, section="transfers")


@router.get("/subscriptions", name="admin.subscriptions")
def subscription_list(request: Request, staff: CurrentStaff, q: SearchText = "",
                      status: Choice = "", plan: Choice = "", after: Cursor = "") -> HTMLResponse:
    ctx = admin_context(request)
    community = ctx.community(staff.community_id)
    plans = {p.id: p.name for p in community.list_plans(include_inactive=True)}
    filters = {"q": q.strip(), "status": _only(status, SUBSCRIPTION_STATUSES),
               "plan": _only(plan, list(plans))}
    found = standing.search_subscriptions(
        ctx.store, staff.community_id, search=filters["q"] or None,
        status=filters["status"] or None, plan_id=filters["plan"] or None, limit=PAGE_SIZE,
        starting_after=after or None)
    return render(request, "admin/subscriptions.html", {
        "filters": filters, "subscriptions": found.data, "first_page": not after,
        "pages": _pages(request.url_for("admin.subscriptions").path, filters, found.next_cursor),
        "statuses": SUBSCRIPTION_STATUSES, "plans": plans,
    }, section="subscriptions")


@router.get("/holds", name="admin.holds")
def hold_list(request: Request, staff: CurrentStaff, q: SearchText = "",
              after: Cursor = "") -> HTMLResponse:
    ctx = admin_context(request)
    filters = {"q": q.strip()}
    found = standing.search_holds(ctx.store, staff.community_id, search=filters["q"] or None,
                                  limit=PAGE_SIZE, starting_after=after or None)
    return render(request, "admin/holds.html", {
        "filters": filters, "holds": found.data, "first_page": not after,
        "pages": _pages(request.url_for("admin.holds").path, filters, found.next_cursor),
        "asset": ctx.credit_asset(staff.community_id), "now": ctx.clock.now(),
    }, section="transfers")
