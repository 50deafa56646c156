"""`render` for the member pages, and what every member template gets.

Templates live in `jeton/web/templates/member/` and extend `member/base.html` (itself on the
shared `layout.html`). Every template gets: `me` (the `Member`, or None when no session),
`nav` (the sections), `csrf_token`, `path_for(route_name, **params)`, `static(path)`,
`notice` (a fixed message picked by `?notice=`, never text from the URL), `section`, `scale`
(the credit asset's decimals) and `asset` (its code).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.core.errors import JetonError
from jeton.web.member.context import (
    Member,
    bind_member,
    load_member,
    member_context,
    member_of,
    session_of,
)
from jeton.web.templating import NavLink, render_page

# Messages a redirect may ask for with `?notice=<code>`.
NOTICES: Mapping[str, str] = {
    "coupon_redeemed": "The coupon was redeemed. What it gives is in your balance below.",
    "transfer_sent": "The credits were sent.",
    "subscribed": "You are subscribed. The plan's credits are in your balance.",
    "subscription_canceled": "Your subscription will end at the close of the current period. "
                             "Credits you already have stay until they expire.",
    "subscription_ended": "Your subscription has ended.",
    "recharge_saved": "Your auto-recharge settings were saved.",
    "alerts_saved": "Your low-balance alerts were saved.",
    "checkout_canceled": "The payment was canceled. Nothing was charged.",
    "purchase_unknown": "We could not find that payment. Your recent purchases are below.",
}


@dataclass(frozen=True, slots=True)
class NavItem:
    section: str
    label: str
    route: str


NAV: tuple[NavItem, ...] = (
    NavItem("home", "Overview", "member.home"),
    NavItem("store", "Buy credits", "member.store"),
    NavItem("plans", "Plans", "member.plans"),
    NavItem("recharge", "Auto-recharge", "member.recharge"),
    NavItem("coupon", "Redeem a coupon", "member.coupon"),
    NavItem("transfer", "Send credits", "member.transfer"),
    NavItem("achievements", "Achievements", "member.achievements"),
    NavItem("bills", "Bills", "member.bills"),
)


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           status_code: int = 200, section: str | None = None,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    ctx = member_context(request)
    me = _member(request)
    values = {
        "me": me,
        "nav": [NavLink(item.label, request.url_for(item.route).path, item.section == section)
                for item in NAV] if me is not None else [],
        "csrf_token": me.session.csrf_token if me is not None else "",
        "scale": me.asset.scale if me is not None else 0,
        "asset": me.asset.code if me is not None else "",
    }
    return render_page(request, ctx.templates, template, values, context, notices=NOTICES,
                       section=section, status_code=status_code, headers=headers)


def _member(request: Request) -> Member | None:
    """The request's member: the one the page asked for, or (for an error page raised before
    the page ran) the session's, if it still stands for one."""
    found = member_of(request)
    if found is not None:
        return found
    session = session_of(request)
    if session is None:
        return None
    try:
        found = load_member(member_context(request), session)
    except JetonError:
        return None
    bind_member(request, found)
    return found
