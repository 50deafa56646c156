"""Reading gamification: a member's achievements, leaderboards, recent awards, the rules.

Every read is a few index probes on what the awarding job maintains (counters, windows,
awards, leaderboard totals); none reads the journal.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.achievements import POINTS_ASSET, Achievements, Challenge, Level
from jeton.core.allowances import window_key
from jeton.core.awarding import LeaderboardPeriod, Metric, leaderboard_window
from jeton.core.badges import Badge, RuleKind, counter_of
from jeton.core.clock import from_us, to_us
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.services.gamification.results import (
    AwardInfo,
    BadgeInfo,
    ChallengeProgress,
    GamificationRules,
    Leaderboard,
    LeaderboardEntry,
    LevelInfo,
    MemberAchievements,
    PointsRuleInfo,
)
from jeton.services.gamification.rules import rules_of
from jeton.services.ledger.state import wallet_id
from jeton.store.tables.achievements import (
    achievement_awards,
    achievement_counters,
    award_cursors,
    challenge_windows,
    leaderboard_totals,
)
from jeton.store.tables.ledger import accounts, members

_RULE_WORDS = {RuleKind.uses: "uses", RuleKind.credits_spent: "credits spent",
               RuleKind.purchases: "purchases", RuleKind.rewards: "rewards",
               RuleKind.streak_days: "days in a row", RuleKind.points: "points",
               RuleKind.royalties: "credits of royalties"}
_RULE_WORD = {RuleKind.uses: "use", RuleKind.credits_spent: "credit spent",
              RuleKind.purchases: "purchase", RuleKind.rewards: "reward",
              RuleKind.streak_days: "day", RuleKind.points: "point",
              RuleKind.royalties: "credit of royalties"}


def rule_text(kind: RuleKind, threshold: int, service: str | None) -> str:
    """'100 uses of files.download', '30 days in a row'."""
    words = _RULE_WORD[kind] if threshold == 1 else _RULE_WORDS[kind]
    text = f"{threshold} {words}"
    return f"{text} of {service}" if service else text


def level_info(level: Level | None) -> LevelInfo | None:
    if level is None:
        return None
    return LevelInfo(rank=level.rank, name=level.name, points=level.points, emoji=level.emoji)


def badge_info(badge: Badge, counters: dict[str, int] | None = None,
               awarded_at_us: int | None = None) -> BadgeInfo:
    done = (counters or {}).get(counter_of(badge.kind, badge.service), 0)
    return BadgeInfo(code=badge.code, name=badge.name, description=badge.description,
                     emoji=badge.emoji, image_url=badge.image_url,
                     rule=rule_text(badge.kind, badge.threshold, badge.service),
                     progress=min(done, badge.threshold), threshold=badge.threshold,
                     awarded_at=from_us(awarded_at_us) if awarded_at_us is not None else None)


def challenge_info(c: Challenge, window: str, progress: int, completed: bool,
                   ) -> ChallengeProgress:
    return ChallengeProgress(
        code=c.code, name=c.name, description=c.description, emoji=c.emoji,
        image_url=c.image_url, goal=rule_text(c.kind, c.target, c.service), per=c.period.value,
        window=window, progress=min(progress, c.target), target=c.target, completed=completed,
        reward_credits=c.credits, reward_points=c.points, reward_badge=c.badge)


def _member_points_and_head(conn: Connection, community_id: str,
                            member_id: str) -> tuple[int, str | None]:
    """The member's points balance and how far awarding has counted, in one statement (the
    member's row, so NotFound without one)."""
    balance = sa.select(accounts.c.posted).where(
        accounts.c.community_id == community_id,
        accounts.c.account_id == wallet_id(member_id, POINTS_ASSET)).scalar_subquery()
    head = sa.select(award_cursors.c.head_transfer_id).where(
        award_cursors.c.community_id == community_id).scalar_subquery()
    row = conn.execute(sa.select(balance, head).select_from(members).where(
        members.c.community_id == community_id, members.c.member_id == member_id)).first()
    if row is None:
        raise NotFound(f"no member {member_id!r}", status=Status.member_not_found,
                       member=member_id)
    return int(row[0] or 0), row[1]


def member_achievements(conn: Connection, community_id: str, member_id: str,
                        now: datetime) -> MemberAchievements:
    """What the awarding job wrote for one member. The caller reads it in one snapshot
    (`Store.snapshot`): the job writes counters, awards, windows, the points and its cursor in
    one transaction, and one committing between two of these reads showed a badge held beside
    progress short of its goal, or points beside a balance without them."""
    balance, head = _member_points_and_head(conn, community_id, member_id)
    rules = rules_of(conn, community_id)
    k, a, w = achievement_counters.c, achievement_awards.c, challenge_windows.c
    counters = {str(r[0]): int(r[1]) for r in conn.execute(sa.select(k.counter, k.value).where(
        k.community_id == community_id, k.member_id == member_id))}
    awarded = {str(r[0]): int(r[1]) for r in conn.execute(
        sa.select(a.award_key, a.awarded_at_us).where(
            a.community_id == community_id, a.member_id == member_id,
            a.kind.in_(("badge", "challenge"))))}
    points = counters.get("points", 0)
    level = rules.level_of(points)
    following = next((lv for lv in rules.levels if lv.points > points), None)
    held = [badge_info(b, counters, awarded[f"badge:{b.code}"])
            for b in rules.badges.values() if f"badge:{b.code}" in awarded]
    others = [badge_info(b, counters) for b in rules.badges.values()
              if f"badge:{b.code}" not in awarded]
    windows = {c.code: window_key(c.period, now) for c in rules.challenges.values()}
    counts = {(str(r[0]), str(r[1])): int(r[2]) for r in conn.execute(
        sa.select(w.challenge, w.window, w.progress).where(
            w.community_id == community_id, w.member_id == member_id,
            w.window.in_(sorted(set(windows.values())) or [""])))}
    challenges = [challenge_info(c, windows[c.code], counts.get((c.code, windows[c.code]), 0),
                                 f"challenge:{c.code}:{windows[c.code]}" in awarded)
                  for c in rules.challenges.values()]
    return MemberAchievements(
        member_id=member_id, points=points, points_balance=balance,
        level=level_info(level), next_level=level_info(following),
        points_to_next_level=following.points - points if following else None,
        streak_days=_streak(counters, now), badges=held + others, challenges=challenges,
        counted_up_to=head)


def _streak(counters: dict[str, int], now: datetime) -> int:
    """The current run: a streak whose last day is before yesterday is over."""
    last = counters.get("streak.last_day")
    if last is None or to_us(now) // 86_400_000_000 - last > 1:
        return 0
    return counters.get("streak.days", 0)


def parse_board(metric: str, period: str) -> tuple[Metric, LeaderboardPeriod]:
    if metric not in Metric.__members__:
        raise NotFound(f"no leaderboard {metric!r}; there are "
                       f"{', '.join(m.value for m in Metric)}", status=Status.not_found,
                       metric=metric)
    if period not in LeaderboardPeriod.__members__:
        raise InvalidRequest(f"period must be one of "
                             f"{', '.join(p.value for p in LeaderboardPeriod)}, got {period!r}",
                             status=Status.value_invalid)
    return Metric(metric), LeaderboardPeriod(period)


def leaderboard(conn: Connection, community_id: str, metric: str, period: str, now: datetime,
                limit: int) -> Leaderboard:
    board, span = parse_board(metric, period)
    if type(limit) is not int or not 1 <= limit <= limits.leaderboard_size_max:
        raise InvalidRequest(f"limit must be 1-{limits.leaderboard_size_max}",
                             status=Status.value_invalid)
    window = leaderboard_window(span, to_us(now))
    t = leaderboard_totals.c
    rows = conn.execute(sa.select(t.member_id, t.total, members.c.name).join(
        members, sa.and_(members.c.community_id == t.community_id,
                         members.c.member_id == t.member_id)).where(
        t.community_id == community_id, t.metric == board.value, t.period == span.value,
        t.window == window, t.total > 0).order_by(t.total.desc(), t.member_id).limit(
        limit)).all()
    entries: list[LeaderboardEntry] = []
    for index, (member, total, name) in enumerate(rows):
        # Equal totals share a rank ("1, 2, 2, 4").
        rank = entries[-1].rank if entries and entries[-1].total == total else index + 1
        entries.append(LeaderboardEntry(rank=rank, member_id=member, name=name or "",
                                        total=int(total)))
    return Leaderboard(metric=board.value, period=span.value, window=window, entries=entries)


def recent_awards(conn: Connection, community_id: str, *, member_id: str | None = None,
                  limit: int = limits.page_size_default) -> list[AwardInfo]:
    a = achievement_awards.c
    stmt = sa.select(a.member_id, a.kind, a.code, a.name, a.credits, a.points,
                     a.awarded_at_us, a.source_transfer_id).where(a.community_id == community_id)
    if member_id is not None:
        stmt = stmt.where(a.member_id == member_id)
    rows = conn.execute(stmt.order_by(a.awarded_at_us.desc(), a.member_id, a.award_key)
                        .limit(min(limit, limits.page_size_max))).all()
    return [AwardInfo(member_id=r[0], kind=r[1], code=r[2], name=r[3], credits=int(r[4]),
                      points=int(r[5]), awarded_at=from_us(r[6]), transfer_id=r[7])
            for r in rows]


def rules_info(rules: Achievements, now: datetime) -> GamificationRules:
    return GamificationRules(
        points=[PointsRuleInfo(code=r.code, on=r.on.value, service=r.service, points=r.points,
                               per_credit=r.per_credit, days=r.days)
                for r in rules.points.values()],
        badges=[badge_info(b) for b in rules.badges.values()],
        levels=[li for lv in rules.levels if (li := level_info(lv)) is not None],
        challenges=[challenge_info(c, window_key(c.period, now), 0, False)
                    for c in rules.challenges.values()])
