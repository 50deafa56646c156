"""The dashboard's home: who is signed in, what their role allows, and recent staff activity."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.services.access.audit import audit_counts_by_day, list_audit
from jeton.services.access.staff import ROLE_PERMISSIONS, Permission
from jeton.services.charging import protection
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff
from jeton.web.admin.templating import render

router = page_router()

# How a role's permissions are told to the person who has them.
PERMISSION_TEXT = {
    Permission.view: "see members, reports and the audit log",
    Permission.post_credits: "grant or charge credits by hand, within your role's limit",
    Permission.configure: "change prices, packs, plans, coupons, webhooks and API keys",
    Permission.manage_staff: "add staff users and set their roles",
}
ACTIVITY_DAYS = 14
RECENT_ENTRIES = 8


@router.get("/", name="admin.home")
def home(request: Request, staff: CurrentStaff) -> HTMLResponse:
    ctx = admin_context(request)
    activity = audit_counts_by_day(ctx.store, ctx.clock, staff.community_id, ACTIVITY_DAYS)
    chart = {
        "type": "bar",
        "label": "Staff actions",
        "labels": [day.strftime("%d %b") for day, _ in activity],
        "values": [count for _, count in activity],
    }
    allowed = [PERMISSION_TEXT[p] for p in Permission if p in ROLE_PERMISSIONS[staff.role]]
    return render(request, "admin/home.html", {
        "allowed": allowed,
        "activity": activity,
        "chart": chart,
        "recent": list_audit(ctx.store, staff.community_id, limit=RECENT_ENTRIES),
        # The owner's alert: members who keep hitting a spending limit today.
        "tripping": protection.tripping_today(ctx.jeton, staff.community_id),
    }, section="home")
