"""Hypothesis strategies shared by the tests: prices, splits, member classes.

Kept in one place so that every test draws rules the same way, and a fix to a strategy (a new
kind of price, a tighter bound) reaches every property at once.
"""

from __future__ import annotations

from hypothesis import strategies as st

from jeton.core import limits
from jeton.core.prices import BP_WHOLE, ClassPrice, Money, PriceKind, PriceRule
from jeton.core.splits import PartKind, SplitPart, Target, TargetKind

CLASS_NAMES = ("buyer", "seller", "vip", "staff", "guest")

# Prices and quantities large enough to find rounding bugs, small enough that units × price
# stays far below amount_max so every drawn quote is valid.
unit_credits = st.integers(min_value=0, max_value=10**6)
quantities = st.integers(min_value=0, max_value=10**7)
discounts_bp = st.integers(min_value=0, max_value=BP_WHOLE)
member_classes = st.frozensets(st.sampled_from(CLASS_NAMES), max_size=len(CLASS_NAMES))
prices = st.integers(min_value=0, max_value=limits.amount_max)


@st.composite
def price_rules(draw: st.DrawFn, *, pays_member: bool | None = None) -> PriceRule:
    """Any valid rule: fixed or per unit, charging or paying, with class and money prices."""
    negative = draw(st.booleans()) if pays_member is None else pays_member
    sign = -1 if negative else 1
    kind = draw(st.sampled_from(PriceKind))
    unit_size = 1 if kind is PriceKind.fixed else draw(st.integers(1, 10_000))
    names = draw(st.lists(st.sampled_from(CLASS_NAMES), unique=True, max_size=4))
    class_prices = tuple(ClassPrice(name, sign * draw(unit_credits)) for name in names)
    money = None
    if not negative and draw(st.booleans()):
        money = Money(draw(st.sampled_from(["USD", "EUR"])), draw(st.integers(0, 10**6)))
    return PriceRule(kind=kind, credits=sign * draw(unit_credits), unit_size=unit_size,
                     class_prices=class_prices, money=money)


targets = st.builds(
    Target,
    st.sampled_from(TargetKind),
    st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True),
)


@st.composite
def split_parts(draw: st.DrawFn, *, fees_max: int = 5) -> list[SplitPart]:
    """Parts with distinct targets whose shares add up to at most 100 %."""
    chosen = draw(st.lists(targets, unique_by=str, max_size=limits.split_parts_max))
    parts: list[SplitPart] = []
    bp_left = BP_WHOLE
    for target in chosen:
        if draw(st.booleans()) and bp_left > 0:
            bp = draw(st.integers(1, bp_left))
            bp_left -= bp
            parts.append(SplitPart(target, PartKind.share, bp))
        else:
            parts.append(SplitPart(target, PartKind.fee, draw(st.integers(1, fees_max))))
    return parts
