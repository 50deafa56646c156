"""What one thing a member did earns, under a community's gamification rules (issue 17).

Pure domain, no I/O. The awarding job (services/gamification/awarding.py) turns each new
transfer of the journal into activities (a charge, a reward, a purchase, a transfer received, a
royalty), loads the progress of the members concerned, and calls `apply` for each activity in
transfer order. `apply` raises the member's counters, and answers the awards the activity
earned and what it adds to each leaderboard. Each award has a key that is unique per member
(`badge:<code>`, `level:<rank>`, `challenge:<code>:<window>`); the job stores awards under that
key, so nothing is ever awarded twice.

Counters (one integer each, per member):
- `uses:*`, `uses:<service>`: charges; `spent:*`, `spent:<service>`: credits spent in them;
- `rewards:*`, `rewards:<reward>`: rewards received; `purchases`: purchases completed;
- `received`: credits received from other members; `royalties`: credits received as a share
  of other members' charges;
- `streak.days`, `streak.last_day`: the run of consecutive UTC days with a charge, and its last
  day (days since 1970-01-01);
- `points`: points earned over the member's lifetime; `level`: the rank of the highest level
  reached (0: none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from jeton.core.achievements import Achievements, Challenge, Trigger
from jeton.core.allowances import Period, window_key
from jeton.core.badges import RuleKind, earned
from jeton.core.clock import from_us

DAY_US = 86_400_000_000


class ActivityKind(StrEnum):
    charge = "charge"
    reward = "reward"
    purchase = "purchase"
    transfer_received = "transfer_received"
    royalty = "royalty"


class Metric(StrEnum):
    """What a leaderboard ranks members by."""

    points = "points"
    credits_spent = "credits_spent"
    royalties = "royalties"


class LeaderboardPeriod(StrEnum):
    week = "week"
    month = "month"
    all = "all"


@dataclass(frozen=True, slots=True)
class Activity:
    transfer_id: str
    member_id: str
    kind: ActivityKind
    at_us: int  # business time of the transfer
    code: str | None = None  # the service charged or the reward received
    credits: int = 0  # credits spent, received or earned (never negative)
    asset: str = "CREDIT"  # the credits' asset (a challenge's credits are paid in it)


@dataclass(slots=True)
class MemberProgress:
    counters: dict[str, int] = field(default_factory=dict)
    windows: dict[tuple[str, str], int] = field(default_factory=dict)  # (challenge, window)
    held: set[str] = field(default_factory=set)  # award keys the member holds
    changed_counters: set[str] = field(default_factory=set)
    changed_windows: set[tuple[str, str]] = field(default_factory=set)

    def add(self, counter: str, amount: int) -> None:
        self.counters[counter] = self.counters.get(counter, 0) + amount
        self.changed_counters.add(counter)

    def set(self, counter: str, value: int) -> None:
        self.counters[counter] = value
        self.changed_counters.add(counter)


@dataclass(frozen=True, slots=True)
class Award:
    key: str  # unique per member: badge:<code>, level:<rank>, challenge:<code>:<window>
    kind: str  # badge, level, challenge
    code: str  # the badge or challenge code, or the level's rank
    name: str
    credits: int = 0  # a challenge's credits
    points: int = 0  # a challenge's points


@dataclass(slots=True)
class Outcome:
    points: int = 0  # points this activity earned (rules and challenges together)
    point_rules: dict[str, int] = field(default_factory=dict)  # rule or challenge -> points
    awards: list[Award] = field(default_factory=list)
    totals: dict[Metric, int] = field(default_factory=dict)  # leaderboard increments


def leaderboard_window(period: LeaderboardPeriod, at_us: int) -> str:
    """'2026-W47', '2026-11' or 'all': the leaderboard an instant counts in."""
    if period is LeaderboardPeriod.all:
        return "all"
    return window_key(Period(period.value), from_us(at_us))


def apply(rules: Achievements, progress: MemberProgress, activity: Activity) -> Outcome:
    """Count `activity` into `progress` and say what it earned (see the module doc)."""
    out = Outcome()
    streak_reached = _count(progress, activity)
    for rule in rules.points.values():
        points = _points_of(rule.on, rule.service, rule.per_credit, rule.days, rule.points,
                            activity, streak_reached)
        if points:
            out.point_rules[rule.code] = out.point_rules.get(rule.code, 0) + points
            out.points += points
    for challenge in rules.challenges.values():
        _challenge(rules, challenge, progress, activity, out)
    if out.points:
        progress.add("points", out.points)
    for badge in rules.badges.values():
        key = f"badge:{badge.code}"
        if key not in progress.held and earned(badge, progress.counters):
            progress.held.add(key)
            out.awards.append(Award(key, "badge", badge.code, badge.name))
    level = rules.level_of(progress.counters.get("points", 0))
    if level is not None and level.rank > progress.counters.get("level", 0):
        progress.set("level", level.rank)
        if level.points > 0:  # a level from zero points is where everyone starts, not reached
            out.awards.append(Award(f"level:{level.rank}", "level", str(level.rank),
                                    level.name))
    if activity.kind is ActivityKind.charge and activity.credits:
        out.totals[Metric.credits_spent] = activity.credits
    if activity.kind is ActivityKind.royalty and activity.credits:
        out.totals[Metric.royalties] = activity.credits
    if out.points:
        out.totals[Metric.points] = out.points
    return out


def _count(progress: MemberProgress, a: Activity) -> int:
    """Raise the counters; the streak length when this activity made the streak longer."""
    if a.kind is ActivityKind.charge:
        for scope in ("*", a.code or "*") if a.code else ("*",):
            progress.add(f"uses:{scope}", 1)
            progress.add(f"spent:{scope}", a.credits)
        day = a.at_us // DAY_US
        last = progress.counters.get("streak.last_day")
        if last is not None and day <= last:
            return 0  # the same day (or an earlier business time): the streak is unchanged
        days = progress.counters.get("streak.days", 0) + 1 if last == day - 1 else 1
        progress.set("streak.days", days)
        progress.set("streak.last_day", day)
        return days
    if a.kind is ActivityKind.reward:
        for scope in ("*", a.code or "*") if a.code else ("*",):
            progress.add(f"rewards:{scope}", 1)
    elif a.kind is ActivityKind.purchase:
        progress.add("purchases", 1)
    elif a.kind is ActivityKind.transfer_received:
        progress.add("received", a.credits)
    elif a.kind is ActivityKind.royalty:
        progress.add("royalties", a.credits)
    return 0


_TRIGGER_OF = {ActivityKind.charge: Trigger.charge, ActivityKind.reward: Trigger.reward,
               ActivityKind.purchase: Trigger.purchase,
               ActivityKind.transfer_received: Trigger.transfer_received}


def _points_of(on: Trigger, service: str | None, per_credit: bool, days: int, points: int,
               a: Activity, streak_reached: int) -> int:
    if on is Trigger.streak:
        return points if streak_reached and streak_reached % days == 0 else 0
    if _TRIGGER_OF.get(a.kind) is not on:
        return 0
    if service is not None and a.code != service:
        return 0
    return points * a.credits if per_credit else points


_GOAL_OF = {RuleKind.uses: ActivityKind.charge, RuleKind.credits_spent: ActivityKind.charge,
            RuleKind.purchases: ActivityKind.purchase, RuleKind.rewards: ActivityKind.reward}


def _challenge(rules: Achievements, c: Challenge, progress: MemberProgress, a: Activity,
               out: Outcome) -> None:
    if _GOAL_OF.get(c.kind) is not a.kind or (c.service is not None and a.code != c.service):
        return
    step = a.credits if c.kind is RuleKind.credits_spent else 1
    if step <= 0:
        return
    window = window_key(c.period, from_us(a.at_us))
    slot = (c.code, window)
    progress.windows[slot] = progress.windows.get(slot, 0) + step
    progress.changed_windows.add(slot)
    key = f"challenge:{c.code}:{window}"
    if progress.windows[slot] < c.target or key in progress.held:
        return
    progress.held.add(key)
    out.awards.append(Award(key, "challenge", c.code, c.name, credits=c.credits,
                            points=c.points))
    if c.points:
        out.point_rules[f"challenge:{c.code}"] = c.points
        out.points += c.points
    if c.badge is not None:
        badge = f"badge:{c.badge}"
        if badge not in progress.held:
            progress.held.add(badge)
            out.awards.append(Award(badge, "badge", c.badge, rules.badges[c.badge].name))
