"""A member's achievements: level and points, badges, challenges, and the leaderboard.

    GET /achievements?board=points&period=week

Everything comes from `Community.achievements` and `Community.leaderboard` (services/
gamification), which read what the awarding job keeps: the page never reads the journal.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.core.awarding import LeaderboardPeriod, Metric
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember
from jeton.web.member.templating import render

router = page_router()

BOARDS = {Metric.points.value: "Points", Metric.credits_spent.value: "Credits spent",
          Metric.royalties.value: "Royalties earned"}
PERIODS = {LeaderboardPeriod.week.value: "This week", LeaderboardPeriod.month.value: "This month",
           LeaderboardPeriod.all.value: "All time"}


@router.get("/achievements", name="member.achievements")
def achievements_page(request: Request, me: CurrentMember, board: str = "points",
                      period: str = "week") -> HTMLResponse:
    board = board if board in BOARDS else "points"
    period = period if period in PERIODS else "week"
    mine = me.community.achievements(me.id)
    leaders = me.community.leaderboard(board, period=period)
    level_share = 100
    if mine.next_level is not None:
        start = mine.level.points if mine.level is not None else 0
        span = max(mine.next_level.points - start, 1)
        level_share = min(100, max(0, (mine.points - start) * 100 // span))
    return render(request, "member/achievements.html", {
        "mine": mine, "leaders": leaders, "board": board, "period": period,
        "boards": BOARDS, "periods": PERIODS, "level_share": level_share,
        "held": [b for b in mine.badges if b.awarded_at is not None],
        "to_earn": [b for b in mine.badges if b.awarded_at is None],
    }, section="achievements")
