"""`Gamification`: points, badges, levels, challenges and leaderboards of a community.

Composed by `jeton.Jeton` (its `gamification` property); `Community` and the HTTP API call it.
The awarding itself is the job `achievements.award` (awarding.py), registered here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jeton.core import limits
from jeton.services.gamification import reads
from jeton.services.gamification.awarding import Awarding
from jeton.services.gamification.results import (
    AwardInfo,
    GamificationRules,
    Leaderboard,
    MemberAchievements,
)
from jeton.services.gamification.rules import rules_of
from jeton.services.ledger.jobs import job
from jeton.services.ledger.service import Ledger

if TYPE_CHECKING:
    from jeton.app import Jeton


class Gamification:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.awarding = Awarding(ledger)

    def award(self, community_id: str) -> int:
        """Count every transfer not counted yet (what the job does); how many were counted."""
        return self.awarding.run(community_id)

    def achievements(self, community_id: str, member_id: str) -> MemberAchievements:
        with self.ledger.store.snapshot() as conn:  # one snapshot: progress agrees with awards
            return reads.member_achievements(conn, community_id, member_id,
                                             self.ledger.clock.now())

    def leaderboard(self, community_id: str, metric: str, *, period: str = "week",
                    limit: int = limits.leaderboard_size_default) -> Leaderboard:
        with self.ledger.store.read() as conn:
            return reads.leaderboard(conn, community_id, metric, period,
                                     self.ledger.clock.now(), limit)

    def awards(self, community_id: str, *, member_id: str | None = None,
               limit: int = limits.page_size_default) -> list[AwardInfo]:
        with self.ledger.store.read() as conn:
            return reads.recent_awards(conn, community_id, member_id=member_id, limit=limit)

    def rules(self, community_id: str) -> GamificationRules:
        with self.ledger.store.read() as conn:
            return reads.rules_info(rules_of(conn, community_id), self.ledger.clock.now())


@job("achievements.award", 2)
def _award(j: Jeton, community_id: str) -> int:
    return j.gamification.award(community_id)
