"""Members: search by id, name or email, and one member's wallet, access and history.

The member page reads only: balances, live lots in the order they would be spent, classes and
keys with their expiry, subscriptions, recent purchases and declines, and the statement with
the balance after each line. Granting or charging by hand is in `credits.py`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from jeton.core import limits
from jeton.services.access.staff import Permission, list_staff_users
from jeton.services.charging import protection
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff
from jeton.web.admin.templating import render
from jeton.web.balance_series import last_days

router = page_router()

PAGE_SIZE = 25
STATEMENT_PAGE_SIZE = 25
RECENT_MAX = 10  # purchases and declines shown on a member's page
Cursor = Annotated[str, Query(max_length=200)]
SearchText = Annotated[str, Query(max_length=limits.display_name_chars_max)]


@router.get("/members", name="admin.members")
def member_list(request: Request, staff: CurrentStaff, q: SearchText = "",
                after: Cursor = "") -> HTMLResponse:
    ctx = admin_context(request)
    community = ctx.community(staff.community_id)
    found = community.list_members(limit=PAGE_SIZE, starting_after=after or None,
                                   search=q.strip() or None)
    return render(request, "admin/members.html", {
        "q": q.strip(), "members": found.data, "next_cursor": found.next_cursor or "",
        "first_page": not after,
    }, section="members")


@router.get("/members/{member_id}", name="admin.member")
def member_page(request: Request, staff: CurrentStaff, member_id: str,
                before: Cursor = "") -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    community = ctx.community(staff.community_id, asset)
    member = community.get_member(member_id)
    statement = community.statement(member_id, limit=STATEMENT_PAGE_SIZE,
                                    starting_after=before or None)
    plans = {p.id: p for p in community.list_plans(include_inactive=True)}
    declines = community.list_events(type="charge.declined", member_id=member_id,
                                     limit=RECENT_MAX)
    series, series_max = last_days(community, member_id, ctx.clock.now())
    return render(request, "admin/member.html", {
        "series": series, "series_max": series_max, "scale": asset.scale,
        "member": member,
        "asset": asset,
        "balance": community.balance(member_id),
        "lots": community.lots(member_id),
        "holdings": community.member_holdings(member_id, live_only=False),
        "subscriptions": community.list_subscriptions(member_id),
        "plans": plans,
        "purchases": community.list_purchases(member_id, limit=RECENT_MAX).data,
        "auto_recharge": community.get_auto_recharge(member_id),
        "alert_levels": community.low_balance_levels(member_id).levels,
        "declines": declines.data,
        "statement": statement.data,
        "older": statement.next_cursor or "",
        "first_page": not before,
        "actors": _staff_names(request, staff.community_id),
        "now": ctx.clock.now(),
        "can_post": staff.can(Permission.post_credits),
        "can_configure": staff.can(Permission.configure),
        "low_balance": community.low_balance_alert(member_id),
        "freeze": community.get_wallet_freeze(member_id),
        "trips_today": protection.trips_today(ctx.jeton, staff.community_id, member_id),
    }, section="members")


def _staff_names(request: Request, community_id: str) -> dict[str, str]:
    """`staff:<user id>` (how grants name their actor) to the staff user's email."""
    users = list_staff_users(admin_context(request).store, community_id)
    return {f"staff:{u.user_id}": f"staff: {u.email}" for u in users}
