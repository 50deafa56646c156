"""Badges read from a catalog's `badges` table, and when a member has earned one."""

from __future__ import annotations

from jeton.core.badges import Badge, Progress, RuleKind, earned, parse_badges


def test_badges_an_owner_writes_are_read_with_their_rules() -> None:
    badges, errors = parse_badges({
        "bookworm": {"name": "Bookworm", "emoji": "📚", "description": "100 downloads",
                     "rule": {"uses": 100, "service": "files.download"}},
        "first-purchase": {"name": "Supporter", "rule": {"purchases": 1}},
        "streak-30": {"name": "Regular", "rule": {"streak_days": 30}},
    })
    assert errors == []
    assert badges[0] == Badge(code="bookworm", name="Bookworm", kind=RuleKind.uses,
                              threshold=100, service="files.download",
                              description="100 downloads", emoji="📚")
    assert [b.kind for b in badges[1:]] == [RuleKind.purchases, RuleKind.streak_days]


def test_every_error_is_reported_and_no_badge_is_kept() -> None:
    badges, errors = parse_badges({
        "no name": {"rule": {"uses": 0}},
        "two-rules": {"name": "Both", "rule": {"uses": 1, "purchases": 1}},
        "scoped-streak": {"name": "S", "rule": {"streak_days": 3, "service": "chat.message"}},
        "typo": {"name": "T", "rul": {"uses": 1}},
    })
    assert badges == []
    where = [(e.where, e.reason) for e in errors]
    assert ('badges."no name"', "a badge code is 1-64 letters, digits, '.', '_' or '-'") in where
    assert ('badges."no name".name', "a badge needs a name") in where
    assert ('badges."no name".rule.uses', "must be a whole number 1-1000000000") in where
    assert any(w == 'badges."two-rules".rule' and "exactly one" in r for w, r in where)
    assert ('badges."scoped-streak".rule.service',
            "a streak_days rule counts every service") in where
    assert ('badges."typo"', "unknown keys: rul") in where


def test_a_badge_is_earned_when_the_member_s_progress_meets_its_rule() -> None:
    bookworm = Badge("bookworm", "Bookworm", RuleKind.uses, 3, service="files.download")
    spender = Badge("spender", "Spender", RuleKind.credits_spent, 50)
    progress = Progress(uses={"files.download": 2, "chat.message": 9},
                        credits_spent={"files.download": 30, "chat.message": 19})
    assert not earned(bookworm, progress)
    assert not earned(spender, progress)
    progress.uses["files.download"] += 1
    progress.credits_spent["chat.message"] += 1
    assert earned(bookworm, progress)
    assert earned(spender, progress)
    assert earned(Badge("first", "First", RuleKind.purchases, 1), Progress(purchases=1))
    assert not earned(Badge("r", "Regular", RuleKind.streak_days, 30), Progress(streak_days=29))
