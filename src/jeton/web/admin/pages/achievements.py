"""The owner's gamification page: the rules in force, a leaderboard, and who earned what.

    GET /achievements?board=points&period=week&member=alice

The rules are changed by loading the catalog (the Catalog page); this page reads
`Community.achievement_rules`, `leaderboard` and `achievement_awards` (services/gamification).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from jeton.core import limits
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff
from jeton.web.admin.templating import render
from jeton.web.member.pages.achievements import BOARDS, PERIODS

router = page_router()

Choice = Annotated[str, Query(max_length=32)]
MemberFilter = Annotated[str, Query(max_length=limits.display_name_chars_max)]
AWARDS_SHOWN = 50


@router.get("/achievements", name="admin.achievements")
def achievements_page(request: Request, staff: CurrentStaff, board: Choice = "points",
                      period: Choice = "week", member: MemberFilter = "") -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    community = ctx.community(staff.community_id, asset)
    board = board if board in BOARDS else "points"
    period = period if period in PERIODS else "week"
    member = member.strip()
    return render(request, "admin/achievements.html", {
        "rules": community.achievement_rules(),
        "leaders": community.leaderboard(board, period=period,
                                         limit=limits.leaderboard_size_default),
        "awards": community.achievement_awards(member_id=member or None, limit=AWARDS_SHOWN),
        "board": board, "period": period, "member": member, "boards": BOARDS,
        "periods": PERIODS, "asset": asset,
    }, section="achievements")
