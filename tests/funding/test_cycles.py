"""Billing cycles: month-end clamping from the anchor, and the cycle that contains an instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jeton.core.cycles import Cycle, add_months, cycle_bounds, cycle_index, cycle_start, parse_cycle
from jeton.core.errors import InvalidRequest


def at(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def test_a_january_31_anchor_clamps_to_february_then_returns_to_the_31st() -> None:
    anchor = at(2026, 1, 31, 9)
    starts = [cycle_start(anchor, Cycle.monthly, n) for n in range(5)]
    assert starts == [at(2026, 1, 31, 9), at(2026, 2, 28, 9), at(2026, 3, 31, 9),
                      at(2026, 4, 30, 9), at(2026, 5, 31, 9)]


def test_february_has_29_days_in_a_leap_year() -> None:
    assert cycle_start(at(2028, 1, 31), Cycle.monthly, 1) == at(2028, 2, 29)
    assert add_months(at(2027, 1, 30), 1) == at(2027, 2, 28)


def test_a_yearly_plan_bought_on_february_29_renews_on_the_28th_then_the_29th() -> None:
    anchor = at(2028, 2, 29)
    assert [cycle_start(anchor, Cycle.yearly, n) for n in range(5)] == [
        at(2028, 2, 29), at(2029, 2, 28), at(2030, 2, 28), at(2031, 2, 28), at(2032, 2, 29)]


def test_quarterly_and_semiannual_cycles_count_months_from_the_anchor() -> None:
    anchor = at(2026, 11, 30)
    assert cycle_bounds(anchor, Cycle.quarterly, 0) == (at(2026, 11, 30), at(2027, 2, 28))
    assert cycle_bounds(anchor, Cycle.quarterly, 1) == (at(2027, 2, 28), at(2027, 5, 30))
    assert cycle_bounds(anchor, Cycle.semiannual, 1) == (at(2027, 5, 30), at(2027, 11, 30))


def test_weekly_cycles_are_seven_days() -> None:
    anchor = at(2026, 3, 1, 12)
    assert cycle_bounds(anchor, Cycle.weekly, 2) == (at(2026, 3, 15, 12), at(2026, 3, 22, 12))


def test_the_cycle_of_an_instant() -> None:
    anchor = at(2026, 1, 31, 9)
    assert cycle_index(anchor, Cycle.monthly, at(2026, 1, 31, 8)) == -1
    assert cycle_index(anchor, Cycle.monthly, at(2026, 1, 31, 9)) == 0
    assert cycle_index(anchor, Cycle.monthly, at(2026, 2, 28, 8)) == 0
    assert cycle_index(anchor, Cycle.monthly, at(2026, 2, 28, 9)) == 1
    assert cycle_index(anchor, Cycle.monthly, at(2026, 3, 31, 8)) == 1
    assert cycle_index(anchor, Cycle.yearly, at(2031, 1, 1)) == 4


def test_an_unknown_cycle_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        parse_cycle("fortnightly")


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
                    timezones=st.just(UTC)),
       st.sampled_from(list(Cycle)),
       st.integers(min_value=0, max_value=10 * 366 * 24))
def test_every_instant_after_the_anchor_is_in_exactly_the_cycle_cycle_index_names(
        anchor: datetime, cycle: Cycle, hours: int) -> None:
    when = anchor + timedelta(hours=hours)
    n = cycle_index(anchor, cycle, when)
    start, end = cycle_bounds(anchor, cycle, n)
    assert start <= when < end
    assert end > start
