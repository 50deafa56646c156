"""The dashboard's home: the business at a glance, then who is signed in and staff activity.

The figures are `Community.overview()` (services/reports/overview.py), the very object
`GET /v1/reports/overview` returns, and each links to the page that details it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.core import currencies
from jeton.core.amounts import format_amount, parse_amount
from jeton.core.errors import InvalidRequest
from jeton.services.access.audit import list_audit
from jeton.services.access.staff import ROLE_PERMISSIONS, Permission
from jeton.services.charging import protection
from jeton.services.reports.overview import Money
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff
from jeton.web.admin.templating import format_money, render

router = page_router()

# How a role's permissions are told to the person who has them.
PERMISSION_TEXT = {
    Permission.view: "see members, reports and the audit log",
    Permission.post_credits: "grant or charge credits by hand, within your role's limit",
    Permission.configure: "change prices, packs, plans, coupons, webhooks and API keys",
    Permission.manage_staff: "add staff users and set their roles",
    Permission.operate_area: "price a leased area of the catalog and read its report",
}
RECENT_ENTRIES = 8


@dataclass(frozen=True, slots=True)
class Figure:
    key: str  # a stable name for tests and styles: the overview's field
    label: str
    value: str
    unit: str
    href: str
    link_text: str  # what the link opens, for screen readers and the eye


def money_text(amounts: list[Money]) -> str:
    """`$60.00 · €12.50`, or `0` when nothing was taken in any currency."""
    out = []
    for m in amounts:
        try:
            out.append(format_money(parse_amount(m.amount, currencies.exponent(m.currency)),
                                    m.currency))
        except InvalidRequest:
            out.append(f"{m.amount} {m.currency}")
    return " · ".join(out) or "0"


@router.get("/", name="admin.home")
def home(request: Request, staff: CurrentStaff) -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    o = ctx.community(staff.community_id, asset).overview()
    today = o.today.isoformat()
    first = (o.today - timedelta(days=o.days - 1)).isoformat()
    reports = request.url_for("admin.reports").path
    span = f"{reports}?since={first}&until={today}"
    purchases = request.url_for("admin.purchases").path
    credits = asset.code

    def amount(n: int) -> str:
        return format_amount(n, asset.scale)

    figures = [
        Figure("money_today", "Money taken today", money_text(o.money_today), "",
               f"{reports}?since={today}&until={today}#report-money_per_day", "today's money"),
        Figure("money_days", f"Money taken, last {o.days} days", money_text(o.money_days), "",
               f"{span}#report-money_per_day", "money per day"),
        Figure("credits_sold", "Credits sold", amount(o.credits_sold), credits,
               f"{span}#report-issued_by_source", "credits issued by source"),
        Figure("credits_consumed", "Credits consumed", amount(o.credits_consumed), credits,
               f"{span}#report-consumed_by_service", "credits consumed by service"),
        Figure("credits_expired", "Credits expired", amount(o.credits_expired), credits,
               f"{span}#report-per_day", "credits per day"),
        Figure("float_credits", "Paid credits outstanding", amount(o.float_credits), credits,
               f"{reports}#report-float", "the float"),
        Figure("float_money", "Their money value", money_text(o.float_money), "",
               f"{reports}#report-float", "the float"),
        Figure("members_active", f"Active members, last {o.days} days", str(o.members_active),
               "", request.url_for("admin.members").path, "members"),
        Figure("subscriptions_active", "Active subscriptions", str(o.subscriptions_active), "",
               request.url_for("admin.plans").path, "plans"),
        Figure("subscriptions_monthly_value", "Subscriptions, monthly value",
               money_text(o.subscriptions_monthly_value), "",
               request.url_for("admin.plans").path, "plans"),
        Figure("declines", f"Declined charges, last {o.days} days", str(o.declines), "",
               request.url_for("admin.declines").path, "declined charges"),
        Figure("recharges_failed", f"Failed auto-recharges, last {o.days} days",
               str(o.recharges_failed), "",
               f"{purchases}?kind=recharge&status=failed", "failed recharges"),
    ]
    allowed = [PERMISSION_TEXT[p] for p in Permission if p in ROLE_PERMISSIONS[staff.role]]
    return render(request, "admin/home.html", {
        "figures": figures,
        "overview": o,
        "allowed": allowed,
        "recent": list_audit(ctx.store, staff.community_id, limit=RECENT_ENTRIES),
        # The owner's alert: members who keep hitting a spending limit today.
        "tripping": protection.tripping_today(ctx.jeton, staff.community_id),
    }, section="home")
