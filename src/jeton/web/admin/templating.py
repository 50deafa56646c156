"""Jinja2 for the dashboard: one environment, one `render` every page calls.

Templates live in `jeton/web/templates/admin/` and extend `admin/base.html`. Every template
gets: `staff` (the signed-in session or None), `nav` (the links this user sees), `csrf_token`,
`path_for(route_name, **params)`, `static(path)`, `notice` (a fixed message picked by the
`?notice=` code, never text from the URL), `community_id` and `section` (the current one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.services.access.staff import SessionStage
from jeton.web.admin.context import admin_context, session_of
from jeton.web.admin.nav import nav_links

# The environment and its filters (when, day, amount, money, detail_value) are shared with the
# member pages: jeton/web/templating.py.
from jeton.web.templating import (
    create_environment,
    format_amount,
    format_day,
    format_detail_value,
    format_money,
    format_when,
    render_page,
)

__all__ = ["NOTICES", "create_environment", "format_amount", "format_day",
           "format_detail_value", "format_money", "format_when", "render",
           "render_form"]

# Messages a redirect may ask for with `?notice=<code>`.
NOTICES: Mapping[str, str] = {
    "signed_out": "You are signed out.",
    "area_service_saved": "The service was saved: its price applies from the next charge.",
    "session_ended": "Your session has ended. Please sign in again.",
    "staff_created": "The staff user was created.",
    "role_changed": "The role was changed.",
    "user_disabled": "The staff user was disabled and signed out everywhere.",
    "user_enabled": "The staff user was enabled.",
    "totp_reset": "Two-step sign-in was turned off for that user; they can enroll again.",
    "totp_enabled": "Two-step sign-in is on. You will be asked for a code at each sign-in.",
    "credits_granted": "The credits were granted.",
    "credits_charged": "The credits were charged.",
    "wallet_frozen": "The wallet is frozen: the member can no longer spend, send or buy credits.",
    "wallet_unfrozen": "The wallet is no longer frozen.",
    "pack_created": "The pack is on sale.",
    "pack_retired": "The pack was retired: members no longer see it. It is kept for history.",
    "pack_restored": "The pack is on sale again.",
    "plan_retired": "The plan was retired: members can no longer subscribe. Subscriptions go on.",
    "plan_restored": "The plan is offered again.",
    "plan_created": "The plan was created.",
    "coupon_created": "The coupon was created.",
    "coupon_retired": "The code was retired: it can no longer be redeemed. It is kept for "
                      "history.",
    "coupon_restored": "The code can be redeemed again.",
    "affiliate_saved": "The affiliate program was saved.",
    "catalog_loaded": "The new catalog version is active.",
    "catalog_unchanged": "That catalog is the active one already; nothing was changed.",
    "service_saved": "The service was saved in a new catalog version.",
    "service_retired": "The service was retired in a new catalog version. It is kept for "
                       "history.",
    "endpoint_disabled": "The endpoint was disabled; its pending deliveries were abandoned.",
    "endpoint_enabled": "The endpoint was enabled; it receives events from now on.",
    "delivery_resent": "The delivery will be sent again at once.",
    "purchase_refunded": "The purchase was refunded.",
    "charge_refunded": "The charge was refunded: the credits are back in the member's wallet.",
    "subscription_canceled": "The subscription was canceled.",
    "auto_recharge_saved": "Auto-recharge was saved.",
    "low_balance_saved": "The low-balance alert was saved.",
    "settings_saved": "The settings were saved.",
    "key_budget_set": "The key's budget was saved. It counts from now on.",
    "key_revoked": "The API key was revoked. Requests with it are refused from now on.",
}


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           status_code: int = 200, section: str | None = None,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    ctx = admin_context(request)
    session = session_of(request)
    staff = session if session is not None and session.stage is SessionStage.full else None
    values = {
        "staff": staff,
        "nav": nav_links(request, staff, section) if staff is not None else [],
        "csrf_token": session.csrf_token if session is not None else "",
        "community_id": staff.community_id if staff is not None else ctx.community_id,
    }
    return render_page(request, ctx.templates, template, values, context, notices=NOTICES,
                       section=section, status_code=status_code, headers=headers)


def render_form(request: Request, template: str, values: Mapping[str, str],
                errors: Mapping[str, str] | None = None, message: str = "", *, section: str,
                context: Mapping[str, Any] | None = None) -> HTMLResponse:
    """A write form, shown again with 400 when it comes back with `errors` (beside each field)
    or a `message` (the service's refusal)."""
    return render(request, template, {
        "values": values, "errors": errors or {}, "message": message, **(context or {}),
    }, status_code=400 if errors or message else 200, section=section)
