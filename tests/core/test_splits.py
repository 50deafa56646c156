"""Splits and royalties: the credits of one charge divided between accounts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jeton.core.errors import InvalidRequest
from jeton.core.prices import BP_WHOLE
from jeton.core.splits import (
    REVENUE,
    PartKind,
    SplitPart,
    Target,
    TargetKind,
    fees_total,
    shares_bp,
    split,
)
from jeton.core.statuses import Status
from strategies import prices, split_parts

UPLOADER = Target(TargetKind.party, "uploader")
APPSTORE = Target(TargetKind.account, "appstore")
DOWNLOAD_SPLIT = [SplitPart.share(UPLOADER, 3000), SplitPart.fee(APPSTORE, 1)]


def test_download_pays_uploader_30_percent_appstore_1_and_revenue_the_rest() -> None:
    assert split(10, DOWNLOAD_SPLIT) == [(UPLOADER, 3), (APPSTORE, 1), (REVENUE, 6)]


def test_royalty_is_rounded_down_and_the_crumbs_go_to_revenue() -> None:
    # 30 % of 3 credits is 0.9: the uploader gets 0, never more than 30 %.
    assert split(3, DOWNLOAD_SPLIT) == [(APPSTORE, 1), (REVENUE, 2)]
    assert split(7, DOWNLOAD_SPLIT) == [(UPLOADER, 2), (APPSTORE, 1), (REVENUE, 4)]


def test_price_without_parts_goes_to_revenue() -> None:
    assert split(5, []) == [(REVENUE, 5)]


def test_zero_price_has_nothing_to_split() -> None:
    assert split(0, DOWNLOAD_SPLIT) == []


def test_a_part_to_revenue_merges_with_the_remainder() -> None:
    parts = [SplitPart.share(REVENUE, 1000), SplitPart.share(UPLOADER, 5000)]
    assert split(10, parts) == [(REVENUE, 5), (UPLOADER, 5)]


def test_the_default_target_can_be_chosen() -> None:
    pool = Target(TargetKind.account, "prize_pool")
    assert split(4, [], default=pool) == [(pool, 4)]


def test_shares_over_100_percent_are_refused() -> None:
    parts = [SplitPart.share(UPLOADER, 6000), SplitPart.share(APPSTORE, 5000)]
    with pytest.raises(InvalidRequest) as err:
        split(100, parts)
    assert err.value.status is Status.split_invalid


def test_fees_over_the_price_are_refused() -> None:
    with pytest.raises(InvalidRequest) as err:
        split(2, [SplitPart.fee(APPSTORE, 2), SplitPart.share(UPLOADER, 5000)])
    assert err.value.status is Status.split_invalid
    assert err.value.extra == {"price": 2, "required": 3}


def test_a_target_named_twice_is_refused() -> None:
    with pytest.raises(InvalidRequest) as err:
        split(10, [SplitPart.fee(APPSTORE, 1), SplitPart.share(APPSTORE, 1000)])
    assert err.value.status is Status.split_invalid


@pytest.mark.parametrize("price", [-1, 1.0, True])
def test_only_whole_non_negative_prices_are_split(price: object) -> None:
    with pytest.raises(InvalidRequest):
        split(price, DOWNLOAD_SPLIT)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [
    lambda: SplitPart.share(UPLOADER, 0),
    lambda: SplitPart.share(UPLOADER, BP_WHOLE + 1),
    lambda: SplitPart.fee(UPLOADER, 0),
    lambda: SplitPart.fee(UPLOADER, True),
    lambda: Target.parse("uploader"),
    lambda: Target.parse("bank:uploader"),
    lambda: Target.parse("party:"),
])
def test_malformed_parts_are_refused(make: object) -> None:
    with pytest.raises(InvalidRequest) as err:
        make()  # type: ignore[operator]
    assert err.value.status in (Status.split_invalid, Status.id_invalid)


def test_targets_read_and_print_the_same() -> None:
    assert Target.parse("party:uploader") == UPLOADER
    assert str(APPSTORE) == "account:appstore"


@given(prices, split_parts())
def test_splits_always_sum_to_the_price_and_are_never_negative(
        price: int, parts: list[SplitPart]) -> None:
    taken = sum(p.value if p.kind is PartKind.fee else price * p.value // BP_WHOLE
                for p in parts)
    if price > 0 and taken > price:  # refused exactly when the parts cannot be honoured
        with pytest.raises(InvalidRequest) as err:
            split(price, parts)
        assert err.value.status is Status.split_invalid
        assert fees_total(parts) + price * shares_bp(parts) // BP_WHOLE > price
        return
    result = split(price, parts)
    assert sum(amount for _, amount in result) == price
    assert all(amount > 0 for _, amount in result)
    assert len({t for t, _ in result}) == len(result)


@given(st.integers(0, 10**12), split_parts())
def test_each_share_is_its_percentage_rounded_down(price: int, parts: list[SplitPart]) -> None:
    try:
        result = dict(split(price, parts))
    except InvalidRequest:
        return
    if price == 0:
        assert result == {}
        return
    for part in parts:
        if part.target == REVENUE:  # also takes the remainder
            continue
        got = result.get(part.target, 0)
        if part.kind is PartKind.fee:
            assert got == part.value
        else:
            exact_times_bp = price * part.value
            assert got * BP_WHOLE <= exact_times_bp < (got + 1) * BP_WHOLE
