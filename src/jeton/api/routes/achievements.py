"""Gamification: a member's achievements, leaderboards, awards and the rules in force.

Points, badges, levels and challenges are counted from the journal by the awarding job
(`jeton worker`, every two seconds), so a charge shows here a moment after it succeeded.
A leaderboard that does not exist answers 404 `not-found`; a bad period 422 `value-invalid`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from jeton.api.auth import Caller, requires
from jeton.api.params import MemberId
from jeton.api.routing import api_router, problem_responses
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.gamification.results import (
    AwardInfo,
    GamificationRules,
    Leaderboard,
    MemberAchievements,
)

router = api_router(tags=["achievements"])


@router.get("/members/{member_id}/achievements", responses=problem_responses(404))
def get_achievements(member_id: MemberId,
                     caller: Annotated[Caller, requires(Scope.members_read)],
                     ) -> MemberAchievements:
    """Lifetime points, points balance, level and the next one, the streak, badges (held
    first, with when) and the challenges of the current window with their progress."""
    return caller.community.achievements(member_id)


@router.get("/leaderboards/{metric}", responses=problem_responses(404, 422))
def get_leaderboard(
        metric: str, caller: Annotated[Caller, requires(Scope.members_read)],
        period: Annotated[str, Query(description="week, month or all")] = "week",
        limit: Annotated[int, Query(ge=1, le=limits.leaderboard_size_max)] =
        limits.leaderboard_size_default) -> Leaderboard:
    """Members ranked by `points`, `credits_spent` or `royalties` in the current week (ISO,
    from Monday, UTC), calendar month or all time; equal totals share a rank."""
    return caller.community.leaderboard(metric, period=period, limit=limit)


@router.get("/achievements/awards")
def list_awards(caller: Annotated[Caller, requires(Scope.reports_read)],
                member_id: Annotated[str | None, Query(max_length=200)] = None,
                limit: Annotated[int, Query(ge=1, le=limits.page_size_max)] =
                limits.page_size_default) -> list[AwardInfo]:
    """Badges, levels and challenges earned, newest first (of one member when named)."""
    return caller.community.achievement_awards(member_id=member_id, limit=limit)


@router.get("/achievements/rules")
def get_rules(caller: Annotated[Caller, requires(Scope.reports_read)]) -> GamificationRules:
    """The points rules, badges, levels and challenges of the active catalog."""
    return caller.community.achievement_rules()
