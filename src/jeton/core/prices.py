"""Price rules and quotes: what one use of a service costs a given member.

A rule is either `fixed` (so many credits per use; the quantity counts uses) or `per_unit` (so
many credits per unit of `unit_size`, e.g. 1 credit per started 1,024 bytes). A started unit is
charged in full: 3,000 bytes at 1 credit per 1,024 bytes is three units, 3 credits. Rounding up
per started unit is what people expect from metered things (a started minute is a minute) and it
keeps a price a whole number of credits without tracking fractions between charges.

The sign of a price says who pays. A positive price is charged to the member; a negative price
is paid *to* the member (a promoted download that pays 2 credits is `credits=-2`); zero is free.
All prices of one rule (the list price and every class price) have the same sign, so a rule
either charges or pays and never flips with the member's class.

How a quote is reached, in this order:

1. **Class price.** The member's classes that have a class price replace the list price; when
   several match, the lowest wins. Lowest is the best deal for the member in both directions (the
   smallest charge, or the largest payment for a negative price), so a member with a priced
   class is never worse off for holding one more. With no matching class the list price
   applies. A class price may be above the list price (a surcharge for guests): it replaces the
   list price, it does not compete with it.
2. **Units.** `units` is the quantity for `fixed`, the started units for `per_unit`;
   gross = units × unit price.
3. **Plan discount** in basis points (1 bp = 0.01 %, 10,000 bp = 100 %), on the gross total, not
   per unit: per-unit rounding would swallow any discount on a 1-credit unit. The discounted
   total is rounded *up* (ceil): the member gets at most the discount the plan states, never
   more, and what the house loses to rounding is below one credit per charge. Rounding half up
   was considered; it gives a 50 % discount on a 1-credit message away as free, which a plan that
   promised "half price" did not say. Discounts do not apply to payments to the member (a
   discount lowers what a member pays; it is not a tax on what they earn).

An optional money price (currency and minor units per use or per unit) is quoted beside the
credits, with the same units and the same discount and rounding. Class prices are credit prices
only: a class is a community's business, a money price is a public list price.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from jeton.core import limits
from jeton.core.amounts import asset_code, external_id, whole_amount
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status

BP_WHOLE = 10_000  # basis points in 100 %


class PriceKind(StrEnum):
    fixed = "fixed"  # credits per use; the quantity counts uses
    per_unit = "per_unit"  # credits per started unit of `unit_size`


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of money in a currency's minor units (cents for USD)."""

    currency: str
    amount_minor: int

    def __post_init__(self) -> None:
        asset_code(self.currency)
        whole_amount(self.amount_minor, "money amount")


@dataclass(frozen=True, slots=True)
class ClassPrice:
    """The unit price for members holding class `member_class`, replacing the list price."""

    member_class: str
    credits: int

    def __post_init__(self) -> None:
        external_id(self.member_class, "member class")
        whole_amount(self.credits, "class price")


@dataclass(frozen=True, slots=True)
class PriceRule:
    """What one use (fixed) or one unit (per_unit) of a service costs, before discounts."""

    kind: PriceKind
    credits: int  # positive: the member pays; negative: the member is paid; zero: free
    unit_size: int = 1  # per_unit only: the quantity in one unit (1,024 bytes, 1 minute)
    class_prices: tuple[ClassPrice, ...] = ()
    money: Money | None = None  # per use or per unit, like `credits`

    def __post_init__(self) -> None:
        if not isinstance(self.kind, PriceKind):
            raise InvalidRequest(f"price kind must be one of {[k.value for k in PriceKind]}, "
                                 f"got {self.kind!r}", status=Status.value_invalid)
        whole_amount(self.credits, "price")
        if type(self.unit_size) is not int or not 1 <= self.unit_size <= limits.quantity_max:
            raise InvalidRequest(
                f"unit size must be an integer 1-{limits.quantity_max}, got {self.unit_size!r}",
                status=Status.value_invalid)
        if self.kind is PriceKind.fixed and self.unit_size != 1:
            raise InvalidRequest("a fixed price has no unit size; use kind per_unit",
                                 status=Status.value_invalid)
        if len(self.class_prices) > limits.class_prices_max:
            raise InvalidRequest(f"more than {limits.class_prices_max} class prices",
                                 status=Status.value_invalid)
        names = [cp.member_class for cp in self.class_prices]
        if len(set(names)) != len(names):
            raise InvalidRequest(f"a class is priced twice: {sorted(names)}",
                                 status=Status.value_invalid)
        signs = {_sign(p) for p in self.all_credit_prices()} - {0}
        if len(signs) > 1:
            raise InvalidRequest(
                "a rule either charges the member or pays them: the list price and the class "
                "prices must not have different signs", status=Status.value_invalid)
        if self.money is not None and self.money.amount_minor < 0:
            raise InvalidRequest("a money price cannot be negative", status=Status.amount_invalid)
        if self.money is not None and self.pays_member:
            raise InvalidRequest("a rule that pays the member has no money price",
                                 status=Status.value_invalid)

    @property
    def pays_member(self) -> bool:
        """True when this rule credits the member instead of charging them."""
        return any(p < 0 for p in self.all_credit_prices())

    def all_credit_prices(self) -> list[int]:
        return [self.credits, *(cp.credits for cp in self.class_prices)]

    def unit_price_for(self, classes: Collection[str]) -> tuple[int, str | None]:
        """The unit price for a member holding `classes`, and the class it came from.

        The lowest matching class price wins (see the module docstring); ties go to the class
        name that sorts first, so the breakdown is the same whatever order classes come in.
        """
        matching = sorted((cp.credits, cp.member_class) for cp in self.class_prices
                          if cp.member_class in classes)
        if not matching:
            return self.credits, None
        credits, member_class = matching[0]
        return credits, member_class


@dataclass(frozen=True, slots=True)
class Breakdown:
    """How a quote was reached, for receipts, the dashboard and a check's answer."""

    quantity: int
    units: int  # uses (fixed) or started units (per_unit)
    unit_credits: int  # after the class price was chosen
    price_class: str | None  # the class whose price applied; None for the list price
    gross_credits: int  # units × unit_credits
    discount_bp: int  # the discount actually applied (0 when the rule pays the member)
    discount_credits: int  # gross_credits − the final credits


@dataclass(frozen=True, slots=True)
class Quote:
    credits: int  # positive: to charge the member; negative: to pay them; 0: free
    money: Money | None
    breakdown: Breakdown

    @property
    def pays_member(self) -> bool:
        return self.credits < 0


def check_quantity(value: object, what: str = "quantity") -> int:
    """A quantity of uses or of a service's unit: a whole number 0..quantity_max."""
    if type(value) is not int or not 0 <= value <= limits.quantity_max:
        raise InvalidRequest(
            f"{what} must be an integer 0-{limits.quantity_max}, got {value!r}",
            status=Status.value_invalid)
    return value


def basis_points(value: object, what: str = "discount") -> int:
    if type(value) is not int or not 0 <= value <= BP_WHOLE:
        raise InvalidRequest(f"{what} must be an integer 0-{BP_WHOLE} basis points, got {value!r}",
                             status=Status.value_invalid)
    return value


def units_for(rule: PriceRule, quantity: int) -> int:
    """Uses for a fixed price; started units for a per-unit price (3,000 bytes = 3 KiB units)."""
    if rule.kind is PriceKind.fixed:
        return quantity
    return -(-quantity // rule.unit_size)


def discounted(gross: int, discount_bp: int) -> int:
    """`gross` less `discount_bp`, rounded up: never more off than the discount states."""
    return -(-gross * (BP_WHOLE - discount_bp) // BP_WHOLE)


def quote(rule: PriceRule, quantity: int, classes: Collection[str] = (),
          discount_bp: int = 0) -> Quote:
    """What `quantity` of a service costs a member holding `classes` on a plan with `discount_bp`.

    `classes` are the member's *live* classes (`access.live_classes`); an expired class must
    not lower a price. Raises InvalidRequest for a bad quantity or discount, or when the total
    would not fit in an amount.
    """
    quantity = check_quantity(quantity)
    discount_bp = basis_points(discount_bp)
    units = units_for(rule, quantity)
    unit_credits, price_class = rule.unit_price_for(classes)
    gross = _total(units, unit_credits, "credits")
    applied_bp = discount_bp if gross > 0 else 0
    credits = discounted(gross, applied_bp) if gross > 0 else gross
    money = None
    if rule.money is not None:
        money_gross = _total(units, rule.money.amount_minor, "money")
        money = Money(rule.money.currency, discounted(money_gross, applied_bp))
    return Quote(
        credits=credits,
        money=money,
        breakdown=Breakdown(
            quantity=quantity, units=units, unit_credits=unit_credits, price_class=price_class,
            gross_credits=gross, discount_bp=applied_bp, discount_credits=gross - credits,
        ),
    )


def _total(units: int, unit_price: int, what: str) -> int:
    total = units * unit_price
    if abs(total) > limits.amount_max:
        raise InvalidRequest(
            f"{units} units at {unit_price} come to {total} {what}, over the limit of "
            f"{limits.amount_max}", status=Status.amount_too_large)
    return total


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)
