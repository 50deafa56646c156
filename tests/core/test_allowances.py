"""Free allowances and windows; rewards and their per-member limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jeton.core.allowances import AfterAllowance, Allowance, Period, use_allowance, window_key
from jeton.core.errors import InvalidRequest
from jeton.core.rewards import Reward, grant_reward
from jeton.core.statuses import Status

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CHAT = Allowance(5, Period.session, AfterAllowance.charge)
TEASER = Allowance(5, Period.session, AfterAllowance.prompt)
POLL = Reward("poll.completed", "Poll completed", credits=5, limit=3, period=Period.day)


def test_first_five_chat_messages_of_a_session_are_free() -> None:
    for used in range(5):
        use = use_allowance(CHAT, used, 1, NOW, session_id="s-1")
        assert (use.free, use.priced, use.refused) == (1, 0, False)
        assert use.window == "s-1"
    assert use.left_after == 0


def test_sixth_chat_message_is_charged() -> None:
    use = use_allowance(CHAT, 5, 1, NOW, session_id="s-1")
    assert (use.free, use.priced, use.refused) == (0, 1, False)


def test_request_across_the_allowance_is_part_free_part_charged() -> None:
    use = use_allowance(CHAT, 3, 4, NOW, session_id="s-1")
    assert (use.free, use.priced) == (2, 2)


def test_teaser_refuses_the_whole_request_past_the_allowance() -> None:
    use = use_allowance(TEASER, 4, 2, NOW, session_id="s-1")
    assert use.refused
    assert (use.free, use.priced, use.left_after) == (0, 0, 1)
    assert not use_allowance(TEASER, 4, 1, NOW, session_id="s-1").refused


def test_a_lowered_allowance_leaves_nothing_free() -> None:
    use = use_allowance(CHAT, 9, 2, NOW, session_id="s-1")
    assert (use.free, use.priced) == (0, 2)


@pytest.mark.parametrize(("period", "when", "key"), [
    (Period.day, NOW, "2026-11-21"),
    (Period.week, NOW, "2026-W47"),
    (Period.month, NOW, "2026-11"),
    # ISO weeks belong to the year of their Thursday.
    (Period.week, datetime(2027, 1, 1, tzinfo=UTC), "2026-W53"),
    (Period.week, datetime(2026, 1, 1, tzinfo=UTC), "2026-W01"),
    (Period.week, datetime(2024, 12, 30, tzinfo=UTC), "2025-W01"),
])
def test_window_keys_name_the_calendar_period(period: Period, when: datetime, key: str) -> None:
    assert window_key(period, when) == key


def test_windows_follow_the_time_zone_of_now() -> None:
    late_utc = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    paris = timezone(timedelta(hours=1))
    assert window_key(Period.day, late_utc) == "2026-11-21"
    assert window_key(Period.day, late_utc.astimezone(paris)) == "2026-11-22"


def test_session_window_is_the_session_id_and_needs_one() -> None:
    assert window_key(Period.session, NOW, "abc-123") == "abc-123"
    with pytest.raises(InvalidRequest):
        window_key(Period.session, NOW)


@pytest.mark.parametrize(("used", "qty"), [(-1, 1), (0, -1), (0, 1.0), (True, 1)])
def test_bad_counts_are_refused(used: object, qty: object) -> None:
    with pytest.raises(InvalidRequest):
        use_allowance(CHAT, used, qty, NOW, "s")  # type: ignore[arg-type]


@given(st.integers(1, 100), st.integers(0, 200), st.integers(0, 200),
       st.sampled_from(AfterAllowance))
def test_free_and_priced_units_make_up_the_request(uses: int, used: int, qty: int,
                                                   after: AfterAllowance) -> None:
    use = use_allowance(Allowance(uses, Period.day, after), used, qty, NOW)
    if use.refused:
        assert after is AfterAllowance.prompt
        assert qty > max(uses - used, 0)
    else:
        assert use.free + use.priced == qty
        assert use.free <= max(uses - used, 0)
        assert use.left_after == max(uses - used, 0) - use.free


def test_poll_reward_pays_5_credits_three_times_a_day() -> None:
    grants = [grant_reward(POLL, received, NOW) for received in range(3)]
    assert [g.credits for g in grants] == [5, 5, 5]
    assert [g.left_after for g in grants] == [2, 1, 0]
    assert {g.window for g in grants} == {"2026-11-21"}


def test_fourth_poll_of_the_day_is_refused_with_limit_exceeded() -> None:
    grant = grant_reward(POLL, 3, NOW)
    assert grant.status is Status.limit_exceeded
    assert grant.credits == 0


def test_the_next_day_is_a_new_window() -> None:
    assert grant_reward(POLL, 0, NOW + timedelta(days=1)).window == "2026-11-22"


@pytest.mark.parametrize("make", [
    lambda: Reward("poll.*", "x", 5, 3, Period.day),
    lambda: Reward("poll.completed", "", 5, 3, Period.day),
    lambda: Reward("poll.completed", "x", 0, 3, Period.day),
    lambda: Reward("poll.completed", "x", 5, 0, Period.day),
    lambda: Reward("poll.completed", "x", 5, 3, "day"),  # type: ignore[arg-type]
    lambda: Allowance(0, Period.day),
    lambda: Allowance(5, "day"),  # type: ignore[arg-type]
])
def test_rules_that_make_no_sense_are_refused(make: object) -> None:
    with pytest.raises(InvalidRequest):
        make()  # type: ignore[operator]
