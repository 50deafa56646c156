"""Price rules and quotes: what members pay for what they do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jeton.core import limits
from jeton.core.errors import InvalidRequest
from jeton.core.prices import (
    BP_WHOLE,
    ClassPrice,
    Money,
    PriceKind,
    PriceRule,
    discounted,
    quote,
    units_for,
)
from jeton.core.statuses import Status
from strategies import discounts_bp, member_classes, price_rules, quantities

DOWNLOAD = PriceRule(PriceKind.per_unit, credits=1, unit_size=1024)
VIDEO_MINUTE = PriceRule(PriceKind.per_unit, credits=20,
                         class_prices=(ClassPrice("buyer", 20), ClassPrice("seller", 10)),
                         money=Money("USD", 25))
PROMOTED = PriceRule(PriceKind.fixed, credits=-2)
AD = PriceRule(PriceKind.fixed, credits=10, money=Money("USD", 100))


def test_download_of_3000_bytes_costs_3_credits() -> None:
    q = quote(DOWNLOAD, 3000)
    assert q.credits == 3
    assert q.breakdown.units == 3
    assert q.breakdown.unit_credits == 1


@pytest.mark.parametrize(("size", "credits"), [(0, 0), (1, 1), (1024, 1), (1025, 2), (2048, 2)])
def test_every_started_kib_is_charged_in_full(size: int, credits: int) -> None:
    assert quote(DOWNLOAD, size).credits == credits


def test_seller_pays_less_for_video_minutes() -> None:
    assert quote(VIDEO_MINUTE, 3, {"buyer"}).credits == 60
    assert quote(VIDEO_MINUTE, 3, {"seller"}).credits == 30
    assert quote(VIDEO_MINUTE, 3).credits == 60  # no class: the list price


def test_member_with_several_classes_pays_the_lowest_matching_price() -> None:
    q = quote(VIDEO_MINUTE, 2, ["buyer", "seller", "unrelated"])
    assert q.credits == 20
    assert q.breakdown.price_class == "seller"


def test_class_price_replaces_the_list_price_even_when_higher() -> None:
    rule = PriceRule(PriceKind.fixed, credits=10, class_prices=(ClassPrice("guest", 15),))
    assert quote(rule, 1, {"guest"}).credits == 15


def test_promoted_download_pays_the_member_2_credits() -> None:
    q = quote(PROMOTED, 1)
    assert q.credits == -2
    assert q.pays_member


def test_discount_applies_to_the_total_not_per_unit() -> None:
    # Ten 1-credit KiB at 10 % off: 9 credits. Per unit, ceil(0.9) would leave each at 1.
    assert quote(DOWNLOAD, 10 * 1024, discount_bp=1000).credits == 9


def test_discounted_total_is_rounded_up() -> None:
    q = quote(PriceRule(PriceKind.fixed, credits=3), 1, discount_bp=5000)
    assert q.credits == 2  # 1.5 rounds up: never more off than the plan states
    assert q.breakdown.discount_credits == 1
    assert quote(PriceRule(PriceKind.fixed, credits=1), 1, discount_bp=5000).credits == 1


def test_full_discount_makes_it_free() -> None:
    assert quote(AD, 4, discount_bp=BP_WHOLE).credits == 0


def test_discount_does_not_reduce_a_payment_to_the_member() -> None:
    q = quote(PROMOTED, 3, discount_bp=5000)
    assert q.credits == -6
    assert q.breakdown.discount_bp == 0


def test_money_price_is_quoted_beside_credits_with_the_same_discount() -> None:
    q = quote(AD, 3, discount_bp=2500)
    assert q.credits == 23  # 30 less 25 % = 22.5, rounded up
    assert q.money == Money("USD", 225)
    assert quote(VIDEO_MINUTE, 4, {"seller"}).money == Money("USD", 100)  # classes: credits only


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None, limits.quantity_max + 1])
def test_bad_quantities_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequest) as err:
        quote(DOWNLOAD, bad)  # type: ignore[arg-type]
    assert err.value.status is Status.value_invalid


@pytest.mark.parametrize("bad", [-1, BP_WHOLE + 1, 2.5, False])
def test_bad_discounts_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        quote(AD, 1, discount_bp=bad)  # type: ignore[arg-type]


def test_a_total_over_the_amount_limit_is_refused() -> None:
    rule = PriceRule(PriceKind.fixed, credits=limits.amount_max)
    with pytest.raises(InvalidRequest) as err:
        quote(rule, 2)
    assert err.value.status is Status.amount_too_large


@pytest.mark.parametrize("make", [
    lambda: PriceRule(PriceKind.fixed, 5, class_prices=(ClassPrice("vip", -1),)),
    lambda: PriceRule(PriceKind.fixed, 5, unit_size=10),
    lambda: PriceRule(PriceKind.per_unit, 5, unit_size=0),
    lambda: PriceRule(PriceKind.fixed, -5, money=Money("USD", 1)),
    lambda: PriceRule(PriceKind.fixed, 5, money=Money("USD", -1)),
    lambda: PriceRule(PriceKind.fixed, True),
    lambda: PriceRule("fixed", 5),  # type: ignore[arg-type]
    lambda: PriceRule(PriceKind.fixed, 5,
                      class_prices=(ClassPrice("vip", 1), ClassPrice("vip", 2))),
])
def test_rules_that_make_no_sense_are_refused(make: object) -> None:
    with pytest.raises(InvalidRequest):
        make()  # type: ignore[operator]


@given(price_rules(), st.tuples(quantities, quantities), member_classes, discounts_bp)
def test_quote_is_monotonic_in_quantity(rule: PriceRule, qtys: tuple[int, int],
                                        classes: frozenset[str], discount_bp: int) -> None:
    low, high = sorted(qtys)
    a = quote(rule, low, classes, discount_bp)
    b = quote(rule, high, classes, discount_bp)
    if rule.pays_member:
        assert b.credits <= a.credits <= 0
    else:
        assert 0 <= a.credits <= b.credits
    if a.money is not None and b.money is not None:
        assert a.money.amount_minor <= b.money.amount_minor


@given(price_rules(), quantities, member_classes, discounts_bp)
def test_discount_is_never_more_than_stated(rule: PriceRule, qty: int,
                                            classes: frozenset[str], discount_bp: int) -> None:
    q = quote(rule, qty, classes, discount_bp)
    gross = q.breakdown.gross_credits
    assert gross == units_for(rule, qty) * q.breakdown.unit_credits
    if gross > 0:
        exact_times_bp = gross * (BP_WHOLE - discount_bp)  # the exact price × 10,000
        assert q.credits * BP_WHOLE >= exact_times_bp
        assert (q.credits - 1) * BP_WHOLE < exact_times_bp
        assert q.credits == discounted(gross, discount_bp)
    else:
        assert q.credits == gross


@given(price_rules(), quantities, member_classes)
def test_a_member_with_a_priced_class_never_pays_more_for_one_more_class(
        rule: PriceRule, qty: int, classes: frozenset[str]) -> None:
    if quote(rule, qty, classes).breakdown.price_class is None:
        return  # a first class price replaces the list price, up or down
    for extra in ("buyer", "seller", "vip"):
        assert quote(rule, qty, classes | {extra}).credits <= quote(rule, qty, classes).credits
