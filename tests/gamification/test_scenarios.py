"""Gamification, told the way a community owner tells it: members earn points for downloads,
purchases, polls, gifts and streaks, badges once, levels by lifetime points, a weekly challenge
that pays credits, and leaderboards per week, month and all time.

Every scenario runs on SQLite and on PostgreSQL (the `store` fixture) and checks the ledger's
invariants (`jeton verify`) after each step.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

import jeton
from conftest import check_invariants
from jeton.core.clock import ManualClock
from jeton.store.engine import Store
from meanwhile import write_after

UPLOADER = {"uploader": "bob"}


def _download(c: jeton.Community, member: str, key: str) -> None:
    c.charge(member, "files.download", context=UPLOADER, idempotency_key=key)


def _events(c: jeton.Community, type_: str) -> list[dict[str, object]]:
    return [e.data for e in c.list_events(type=type_).data]


def test_downloads_earn_points_a_badge_a_level_and_pay_the_uploader_on_the_board(
        library: jeton.Community, store: Store) -> None:
    library.grant("alice", 100, idempotency_key="welcome")
    for n in range(3):
        _download(library, "alice", f"dl-{n}")
    # Nothing is counted in the charge itself: the awarding job does it afterwards.
    assert library.achievements("alice").points == 0
    assert library.award_achievements() == 4  # the grant and three downloads
    check_invariants(store)

    mine = library.achievements("alice")
    assert mine.points == 15
    assert mine.points_balance == 15
    assert library.balance("alice", asset="POINTS").posted == 15
    assert mine.level is not None
    assert mine.level.name == "Reader"
    assert mine.next_level is not None
    assert mine.next_level.name == "Scholar"
    assert mine.points_to_next_level == 35
    assert mine.streak_days == 1
    held = [b.code for b in mine.badges if b.awarded_at is not None]
    assert held == ["bookworm"]
    bookworm = mine.badges[0]
    assert (bookworm.emoji, bookworm.progress, bookworm.threshold) == ("📚", 3, 3)
    challenge = mine.challenges[0]
    assert (challenge.code, challenge.window, challenge.progress, challenge.target,
            challenge.completed) == ("four-downloads", "2026-W03", 3, 4, False)

    # bob earned 3 credits of royalties per download.
    assert [(e.member_id, e.total) for e in library.leaderboard("royalties").entries] == [
        ("bob", 9)]
    assert [(e.rank, e.member_id, e.name, e.total)
            for e in library.leaderboard("credits_spent", period="month").entries] == [
        (1, "alice", "Alice", 30)]
    assert library.leaderboard("points", period="all").entries[0].total == 15

    # bob's royalties passed 5 credits: he is an author.
    assert sorted((e["member_id"], e["badge"]) for e in _events(library, "badge.awarded")) == [
        ("alice", "bookworm"), ("bob", "author")]
    reached = _events(library, "level.reached")
    assert [(e["member_id"], e["name"], e["rank"]) for e in reached] == [("alice", "Reader", 2)]

    # Running the job again counts nothing and awards nothing.
    assert library.award_achievements() == 0
    assert library.achievements("alice").points == 15
    assert len(_events(library, "badge.awarded")) == 2
    check_invariants(store)


def test_a_members_achievements_agree_while_the_awarding_job_commits(
        library: jeton.Community, store: Store) -> None:
    """A member's achievements are read in one snapshot: a batch the job awards while they
    are read is in all of them (points, balance, badges, progress) or in none, never a badge
    held beside progress short of its goal."""
    library.grant("alice", 100, idempotency_key="welcome")
    for n in range(3):
        _download(library, "alice", f"dl-{n}")
    with write_after(store, "FROM achievement_counters",
                     library.award_achievements) as awarded:
        seen = library.achievements("alice")
    assert awarded == [4]  # the batch committed after the counters were read
    held = [(b.code, b.progress) for b in seen.badges if b.awarded_at is not None]
    assert (seen.points, seen.points_balance, held) == (0, 0, [])
    assert seen.challenges[0].progress == 0
    now = library.achievements("alice")
    held = [(b.code, b.progress) for b in now.badges if b.awarded_at is not None]
    assert (now.points, now.points_balance, held) == (15, 15, [("bookworm", 3)])


def test_the_weekly_challenge_pays_credits_points_and_a_badge_once_a_week(
        library: jeton.Community, store: Store, clock: ManualClock) -> None:
    library.grant("alice", 200, idempotency_key="welcome")
    for n in range(6):
        _download(library, "alice", f"w1-{n}")
    library.award_achievements()
    check_invariants(store)
    after_week_one = library.balance("alice").posted
    # 6 downloads of 10 credits, then 15 credits for the challenge, once.
    assert after_week_one == 200 - 60 + 15
    mine = library.achievements("alice")
    done = mine.challenges[0]
    assert (done.progress, done.completed, done.reward_credits) == (4, True, 15)
    assert "weekly-reader" in [b.code for b in mine.badges if b.awarded_at is not None]
    assert mine.points == 6 * 5 + 10
    completed = _events(library, "challenge.completed")
    assert [(e["challenge"], e["window"], e["credits"]) for e in completed] == [
        ("four-downloads", "2026-W03", 15)]
    awards = library.achievement_awards(member_id="alice")
    assert {(a.kind, a.code) for a in awards} == {
        ("badge", "bookworm"), ("badge", "weekly-reader"), ("challenge", "four-downloads"),
        ("level", "2")}

    # Next week the challenge starts again from zero and pays again.
    clock.advance(timedelta(days=7))
    assert library.achievements("alice").challenges[0].progress == 0
    for n in range(4):
        _download(library, "alice", f"w2-{n}")
    library.award_achievements()
    assert library.balance("alice").posted == after_week_one - 40 + 15
    assert [e["window"] for e in _events(library, "challenge.completed")] == [
        "2026-W04", "2026-W03"]
    # The badge the challenge gives is held once.
    assert len([e for e in _events(library, "badge.awarded")
                if e["badge"] == "weekly-reader"]) == 1
    # This week's board counts this week only.
    assert library.leaderboard("credits_spent").entries[0].total == 40
    assert library.leaderboard("credits_spent", period="all").entries[0].total == 100
    check_invariants(store)


def test_a_first_purchase_a_poll_a_gift_and_a_streak_earn_their_points(
        library: jeton.Community, store: Store, clock: ManualClock) -> None:
    pack = library.create_pack("Starter", credits=50, price_minor=500)
    checkout = library.buy_pack("carol", pack.id, provider="offline", idempotency_key="buy",
                                success_url="https://library.test/ok",
                                cancel_url="https://library.test/no")
    library.record_offline_payment(checkout.purchase_id, reference="check 7")
    library.reward("carol", "poll.completed", idempotency_key="poll-1")
    library.grant("alice", 40, idempotency_key="welcome")
    library.transfer("alice", "carol", 7, idempotency_key="gift")
    library.award_achievements()
    check_invariants(store)
    mine = library.achievements("carol")
    assert mine.points == 20 + 3 + 7
    assert [b.code for b in mine.badges if b.awarded_at is not None] == ["supporter"]

    # A charge on three days in a row: the streak rule pays 25 points on the third.
    for day in range(3):
        library.charge("carol", "chat.message", idempotency_key=f"chat-{day}")
        library.award_achievements()
        clock.advance(timedelta(days=1))
    assert library.achievements("carol").points == 30 + 25
    assert library.achievements("carol").streak_days == 3
    clock.advance(timedelta(days=2))
    assert library.achievements("carol").streak_days == 0  # the run is over
    check_invariants(store)


def test_staff_charges_and_refunds_earn_nothing(library: jeton.Community, store: Store) -> None:
    library.grant("alice", 50, idempotency_key="welcome")
    receipt = library.charge("alice", "files.download", context=UPLOADER, idempotency_key="d1")
    library.staff_charge("alice", 5, actor="owner", reason="correction",
                         idempotency_key="staff-1")
    assert receipt.transfer_id is not None
    library.refund_charge(receipt.transfer_id, idempotency_key="r1", reason="broken file")
    library.award_achievements()
    mine = library.achievements("alice")
    assert mine.points == 5  # the download counted once; the refund takes no points back
    assert library.leaderboard("credits_spent").entries[0].total == 10
    check_invariants(store)


def test_awarding_runs_racing_each_other_and_the_charges_count_each_transfer_once(
        library: jeton.Community, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from jeton.core import limits

    chargers = ["alice", "carol", "dave", "erin"]
    # Each downloads the files of an uploader of their own: concurrent royalties to one
    # uploader are the ledger's affair (and on PostgreSQL they can lose a lot update today,
    # which `jeton verify` reports; see the report of this change), not the awarding's.
    uploaders = {m: f"up-{m}" for m in chargers}
    for member in [*chargers[2:], *uploaders.values()]:
        library.create_member(member)
    for member in chargers:
        library.grant(member, 1000, idempotency_key=f"welcome-{member}")
    errors: list[BaseException] = []
    stop = threading.Event()

    def charges(member: str) -> None:
        try:
            for n in range(15):
                library.charge(member, "files.download", idempotency_key=f"{member}-{n}",
                               context={"uploader": uploaders[member]})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def awarding() -> None:
        try:
            while not stop.is_set():
                library.award_achievements()
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=charges, args=(m,)) for m in chargers]
    jobs = [threading.Thread(target=awarding) for _ in range(3)]
    for t in writers + jobs:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in jobs:
        t.join()
    assert errors == []
    # A charge whose id the fast path passed before it committed is counted by the sweep, once
    # no transaction can still be open below the horizon. Every writer has finished here, so
    # the horizon may be now.
    monkeypatch.setattr(limits, "webhook_fanout_lag_ms", 0)
    library.award_achievements()
    for member in chargers:
        mine = library.achievements(member)
        # 15 downloads: 75 points, and the weekly challenge's 10 once.
        assert mine.points == 15 * 5 + 10
        assert library.balance(member, asset="POINTS").posted == mine.points
        assert library.balance(member).posted == 1000 - 150 + 15
    royalties = library.leaderboard("royalties", period="all").entries
    assert sorted((e.member_id, e.total) for e in royalties) == [
        (up, 15 * 3) for up in sorted(uploaders.values())]
    spent = library.leaderboard("credits_spent", period="all").entries
    assert sorted((e.member_id, e.total) for e in spent) == [(m, 150) for m in chargers]
    assert len(_events(library, "challenge.completed")) == 4
    check_invariants(store)


def test_a_catalog_with_a_wrong_rule_is_refused_whole_with_its_line(
        library: jeton.Community) -> None:
    from .conftest import LIBRARY

    broken = LIBRARY.replace('service = "poll.completed"', 'service = "poll.done"').replace(
        "days = 3", "days = 1")
    with pytest.raises(jeton.InvalidRequest) as refused:
        library.load_catalog(broken, "toml")
    assert refused.value.status is jeton.Status.catalog_invalid
    errors = {(e["line"], e["where"]) for e in refused.value.extra["errors"]}
    lines = LIBRARY.splitlines()
    poll = next(n for n, text in enumerate(lines, 1) if 'service = "poll.completed"' in text)
    days = next(n for n, text in enumerate(lines, 1) if "days = 3" in text)
    assert errors == {(poll, "points.polls.service"), (days, "points.regular.days")}
    # Nothing changed: the rules in force are the ones loaded before.
    assert sorted(r.code for r in library.achievement_rules().points) == [
        "downloads", "gifts", "polls", "purchases", "regular"]


def test_a_transfer_that_commits_after_the_cursor_passed_its_id_is_counted_by_the_sweep(
        library: jeton.Community, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from jeton.core import limits
    from jeton.store.tables.achievements import award_cursors

    library.grant("alice", 100, idempotency_key="welcome")
    library.award_achievements()
    late = library.charge("alice", "files.download", context=UPLOADER, idempotency_key="late")
    assert late.transfer_id is not None
    # As if the fast path had read past this id while its transaction was still open.
    with store.write() as conn:
        conn.execute(award_cursors.update().where(
            award_cursors.c.community_id == library.id).values(
            head_transfer_id=late.transfer_id + "~"))
    _download(library, "alice", "after")
    library.award_achievements()
    assert library.achievements("alice").points == 5  # only the later one, for now
    # Once the horizon is past it (no transaction stays open that long), the sweep finds it.
    monkeypatch.setattr(limits, "webhook_fanout_lag_ms", 0)
    library.award_achievements()
    assert library.achievements("alice").points == 10
    library.award_achievements()
    assert library.achievements("alice").points == 10
    check_invariants(store)


def test_the_worker_awards_and_the_host_app_gets_badge_awarded_as_a_webhook(
        j: jeton.Jeton, library: jeton.Community, store: Store) -> None:
    from jeton.services.ops.worker import run_due

    endpoint = library.create_webhook_endpoint("http://127.0.0.1:9/hooks",
                                               event_types=["badge.awarded", "level.reached"])
    library.grant("alice", 100, idempotency_key="welcome")
    for n in range(3):
        _download(library, "alice", f"dl-{n}")
    # Two passes, as the worker's loop makes them: within one pass the jobs run in the order
    # their modules registered, which depends on what the process imported first.
    done = run_due(j, force=True, only={"achievements.award"})
    assert done["achievements.award"] == 4
    run_due(j, force=True, only={"webhooks.fan_out"})
    deliveries = library.list_webhook_deliveries(endpoint_id=endpoint.id).data
    types = sorted(library.get_event(d.event_id).type for d in deliveries)
    assert types == ["badge.awarded", "badge.awarded", "level.reached"]  # alice's and bob's
    check_invariants(store)
