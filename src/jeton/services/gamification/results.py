"""What gamification answers: a member's achievements, leaderboards, awards and the rules.

Pydantic models like the other domains' results, so the HTTP API serialises them and
`jeton.Client` parses them back into the very same classes. Points are whole numbers of the
community's `POINTS` asset; credits are in the minor unit of its credit asset.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from jeton.services.ledger.results import Result


class BadgeInfo(Result):
    """A badge of the catalog; `awarded_at` is set when the member holds it."""

    code: str
    name: str
    description: str = ""
    emoji: str = ""
    image_url: str = ""
    rule: str  # for people: '100 uses of files.download'
    progress: int = 0  # the member's count towards the rule (capped at the threshold)
    threshold: int
    awarded_at: datetime | None = None


class LevelInfo(Result):
    rank: int  # 1: the first level
    name: str
    points: int  # lifetime points from which it is held
    emoji: str = ""


class ChallengeProgress(Result):
    """A challenge in its current window: how far the member is and whether it is done."""

    code: str
    name: str
    description: str = ""
    emoji: str = ""
    image_url: str = ""
    goal: str  # for people: '10 uses of files.download'
    per: str  # day, week, month
    window: str  # '2026-W47'
    progress: int
    target: int
    completed: bool
    reward_credits: int = 0
    reward_points: int = 0
    reward_badge: str | None = None


class MemberAchievements(Result):
    """`GET /v1/members/{id}/achievements`: points, level, badges and challenges of a member.

    Counted by the awarding job from the journal, so a charge shows here once the job ran
    (`jeton worker` runs it every few seconds); `counted_up_to` is the newest transfer counted.
    """

    member_id: str
    points: int  # points earned over the member's lifetime
    points_balance: int  # points in the member's POINTS wallet now
    level: LevelInfo | None = None
    next_level: LevelInfo | None = None
    points_to_next_level: int | None = None
    streak_days: int = 0
    badges: list[BadgeInfo] = Field(default_factory=list)  # held first, then the others
    challenges: list[ChallengeProgress] = Field(default_factory=list)
    counted_up_to: str | None = None


class LeaderboardEntry(Result):
    rank: int
    member_id: str
    name: str = ""
    total: int


class Leaderboard(Result):
    """`GET /v1/leaderboards/{metric}?period=week`: members by a total of the period."""

    metric: str  # points, credits_spent, royalties
    period: str  # week, month, all
    window: str  # '2026-W47', '2026-11' or 'all'
    entries: list[LeaderboardEntry] = Field(default_factory=list)


class AwardInfo(Result):
    """A badge, level or completed challenge a member earned (the dashboard's list)."""

    member_id: str
    kind: str  # badge, level, challenge
    code: str
    name: str
    credits: int = 0
    points: int = 0
    awarded_at: datetime
    transfer_id: str  # the transfer whose counting earned it


class PointsRuleInfo(Result):
    code: str
    on: str
    service: str | None = None
    points: int
    per_credit: bool = False
    days: int = 0


class GamificationRules(Result):
    """The points rules, badges, levels and challenges of the active catalog."""

    points: list[PointsRuleInfo] = Field(default_factory=list)
    badges: list[BadgeInfo] = Field(default_factory=list)
    levels: list[LevelInfo] = Field(default_factory=list)
    challenges: list[ChallengeProgress] = Field(default_factory=list)
