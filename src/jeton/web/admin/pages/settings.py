"""The community's settings as they are now, each with a link to change it through a review
(`admin/settings_actions.py`): the sign-up bonus, transfers between members, and what each
staff role may post by hand. Every staff user reads them; only owners change them."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.services.access.staff import Permission
from jeton.services.funding import grants
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff
from jeton.web.admin.settings_actions import PERIODS, POSTING_ROLES
from jeton.web.admin.templating import render

router = page_router()


@router.get("/settings", name="admin.settings")
def settings_page(request: Request, staff: CurrentStaff) -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    community = ctx.community(staff.community_id, asset)
    limits = {r.role: r for r in grants.role_limits(ctx.jeton, staff.community_id)
              if r.asset == asset.code}
    return render(request, "admin/settings.html", {
        "asset": asset, "bonus": community.get_signup_bonus(),
        "transfers": community.get_transfer_limits(), "roles": POSTING_ROLES,
        "role_limits": limits, "periods": dict(PERIODS),
        "can_change": staff.can(Permission.configure),
    }, section="settings")
