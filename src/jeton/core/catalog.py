"""The catalog: every service a community charges for, and every reward it pays.

A catalog is written by the owner as TOML or YAML and loaded with `load_catalog`, which checks
everything and returns all the errors at once, each with its line and a reason, as data (the
owner fixes a file in one pass, not one error per reload). A catalog with any error is not
usable: `CatalogResult.catalog` is None.

The file, in TOML (YAML has the same shape):

    [services."files.download"]
    name = "File download"
    kind = "per_unit"            # or "fixed" (the default): credits per use
    credits = 1                  # per use, or per started unit; negative pays the member
    unit_size = 1024             # per_unit only: 1 credit per started 1,024 ...
    unit = "byte"                # ... bytes (a label for people)
    class_credits = { seller = 0 }  # unit prices per class; the lowest match wins
    money = { currency = "USD", amount_minor = 2 }  # per unit too, beside the credits
    # Holders of the `library` key download without paying; other members pay the price.
    access = { level = "locked", any_of = ["key:library", "payment"] }
    # 10 KiB free a day (the allowance counts the quantity, bytes here), then the price;
    # after = "prompt" would refuse and prompt to buy instead.
    allowance = { uses = 10240, per = "day", after = "charge" }
    splits = [
      { to = "party:uploader", share_bp = 3000 },
      { to = "account:appstore", fee = 1 },
    ]

    [rewards."poll.completed"]
    name = "Poll completed"
    credits = 5
    limit = 3
    per = "day"

Beyond each value on its own, the loader checks what only the whole service shows: a service
that pays the member has no splits, no allowance and no money price; splits must fit in every
positive price of the rule (list and class prices), so a charge at list price can always be
split; a code is not both a service and a reward. A plan discount can still bring a price under
the fixed fees of a split; `splits.split` refuses that charge with `split_invalid`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, TypeVar

from jeton.core import limits
from jeton.core.access import OPEN, AccessLevel, AccessRule, Requirement
from jeton.core.achievements import NONE, SECTIONS, Achievements, parse_achievements
from jeton.core.allowances import AfterAllowance, Allowance, Period
from jeton.core.amounts import (
    asset_code,
    external_id,
    positive_amount,
    service_code,
    whole_amount,
)
from jeton.core.catalog_source import Path, Source, parse_toml, parse_yaml
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.prices import ClassPrice, Money, PriceKind, PriceRule
from jeton.core.rewards import Reward, display_name
from jeton.core.rollover import CHECKS as ROLLOVER_CHECKS
from jeton.core.rollover import PlanTerms, Rollover
from jeton.core.splits import PartKind, SplitPart, Target, check_parts, split
from jeton.core.statuses import Status

DEMO_CATALOG = "demo_catalog.toml"  # a resource of this package, read by `jeton demo`

_TOP_KEYS = frozenset({"services", "rewards", "plans", *SECTIONS})
_PLAN_KEYS = frozenset({"rollover"})
_ROLLOVER_KEYS = frozenset({"share_percent", "cap", "cycles"})
_SERVICE_KEYS = frozenset({"name", "kind", "credits", "unit_size", "unit", "class_credits",
                           "money", "access", "allowance", "splits"})
_REWARD_KEYS = frozenset({"name", "credits", "limit", "per"})
_MONEY_KEYS = frozenset({"currency", "amount_minor"})
_ACCESS_KEYS = frozenset({"level", "any_of"})
_ALLOWANCE_KEYS = frozenset({"uses", "per", "after"})
_SPLIT_KEYS = frozenset({"to", "share_bp", "fee"})

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Service:
    code: str  # `files.download`
    name: str
    price: PriceRule
    access: AccessRule = OPEN
    allowance: Allowance | None = None
    splits: tuple[SplitPart, ...] = ()
    unit: str | None = None  # what the quantity counts, for people ('byte', 'minute'); None: uses


@dataclass(frozen=True, slots=True)
class Catalog:
    services: Mapping[str, Service]
    rewards: Mapping[str, Reward]
    # Points, badges, levels and challenges (core/achievements.py): read by the awarding job,
    # never by a charge.
    achievements: Achievements = NONE
    # Terms of plans sold by the funding side, by plan id (core/rollover.py).
    plans: Mapping[str, PlanTerms] = field(default_factory=lambda: MappingProxyType({}))

    def service(self, code: str) -> Service:
        found = self.services.get(code)
        if found is None:
            raise NotFound(f"no service {code!r} in the catalog",
                           status=Status.service_not_found, service=code)
        return found

    def reward(self, code: str) -> Reward:
        found = self.rewards.get(code)
        if found is None:
            raise NotFound(f"no reward {code!r} in the catalog", status=Status.not_found,
                           reward=code)
        return found


@dataclass(frozen=True, slots=True)
class CatalogError:
    line: int  # 1-based; 0 when no line can be given
    where: str  # the path of the value: services."files.download".splits[1]
    reason: str

    def __str__(self) -> str:
        place = f"line {self.line}" if self.line else "catalog"
        return f"{place}: {self.where}: {self.reason}" if self.where else f"{place}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CatalogResult:
    catalog: Catalog | None  # None whenever there is an error
    errors: tuple[CatalogError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def unwrap(self) -> Catalog:
        """The catalog, or InvalidRequest carrying every error (`extra['errors']`)."""
        if self.catalog is None:
            lines = [str(e) for e in self.errors]
            raise InvalidRequest(f"the catalog has {len(lines)} error(s); first: {lines[0]}",
                                 status=Status.catalog_invalid, errors=lines)
        return self.catalog


def load_catalog(text: str, fmt: Literal["toml", "yaml"]) -> CatalogResult:
    """Parse and check a catalog; every error in the text is in the result, none is raised.

    (A `fmt` other than toml or yaml is the caller's bug, not the file's, and raises.)
    """
    if len(text.encode("utf-8", "surrogatepass")) > limits.catalog_bytes_max:
        return _result(None, [CatalogError(0, "", f"a catalog is at most "
                                                  f"{limits.catalog_bytes_max} bytes")])
    if fmt == "toml":
        source = parse_toml(text)
    elif fmt == "yaml":
        source = parse_yaml(text)
    else:
        raise InvalidRequest(f"catalog format must be 'toml' or 'yaml', got {fmt!r}",
                             status=Status.value_invalid)
    if source.errors:
        return _result(None, [CatalogError(line, "", reason) for line, reason in source.errors])
    checker = _Checker(source)
    catalog = checker.catalog(source.data)
    return _result(catalog, checker.errors)


def catalog_from_data(data: object) -> CatalogResult:
    """Check plain data of a catalog file's shape (a catalog stored as JSON, one built in
    Python and turned into data) exactly as `load_catalog` checks a file. Errors carry no line
    (0): the data came from no text."""
    checker = _Checker(Source(data=data))
    catalog = checker.catalog(data)
    return _result(catalog, checker.errors)


def _result(catalog: Catalog | None, errors: list[CatalogError]) -> CatalogResult:
    ordered = tuple(sorted(errors, key=lambda e: (e.line, e.where)))
    return CatalogResult(catalog=None if ordered else catalog, errors=ordered)


class _Checker:
    """Walks the data, building what is valid and collecting an error for what is not."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.errors: list[CatalogError] = []

    def fail(self, path: Path, reason: str) -> None:
        self.errors.append(CatalogError(self.source.line_of(path), _where(path), reason))

    def check(self, path: Path, make: Callable[..., T], *args: object) -> T | None:
        """`make(*args)`, or None with an error at `path` when it refuses the value."""
        try:
            return make(*args)
        except InvalidRequest as exc:
            self.fail(path, exc.detail)
            return None

    def table(self, value: object, path: Path, allowed: frozenset[str],
              what: str) -> dict[str, object] | None:
        if not isinstance(value, dict):
            self.fail(path, f"{what} must be a table, got {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.fail((*path, str(key)), f"unknown key {key!r}; expected one of "
                                             f"{', '.join(sorted(allowed))}")
        return value

    def required(self, table: dict[str, object], key: str, path: Path,
                 make: Callable[[object], T]) -> T | None:
        if key not in table:
            self.fail(path, f"{key} is required")
            return None
        return self.check((*path, key), lambda: make(table[key]))

    def optional(self, table: dict[str, object], key: str, path: Path,
                 make: Callable[[object], T], default: T) -> T | None:
        if key not in table:
            return default
        return self.check((*path, key), lambda: make(table[key]))

    # -- the catalog ---------------------------------------------------------------------------

    def catalog(self, data: object) -> Catalog | None:
        top = self.table(data, (), _TOP_KEYS, "a catalog")
        if top is None:
            return None
        sections: dict[str, dict[object, object]] = {}
        for section in ("services", "rewards"):
            raw = top.get(section, {})
            if not isinstance(raw, dict):
                self.fail((section,), f"{section} must be a table, got {_kind(raw)}")
                raw = {}
            sections[section] = raw
        services_raw, rewards_raw = sections["services"], sections["rewards"]
        count = len(services_raw) + len(rewards_raw)
        if count > limits.catalog_entries_max:
            self.fail((), f"a catalog has at most {limits.catalog_entries_max} services and "
                          f"rewards, this one has {count}")
            return None
        if count == 0 and not self.errors:
            self.fail((), "the catalog has no services and no rewards")
        services: dict[str, Service] = {}
        for code, value in services_raw.items():
            built = self.service(code, value, ("services", str(code)))
            if built is not None:
                services[built.code] = built
        rewards: dict[str, Reward] = {}
        for code, value in rewards_raw.items():
            path: Path = ("rewards", str(code))
            if code in services_raw:
                self.fail(path, f"{code!r} is already a service; a code is a service or a "
                                f"reward, not both")
            reward = self.reward(code, value, path)
            if reward is not None:
                rewards[reward.code] = reward
        achievements = parse_achievements(
            top, self.fail, services=frozenset(str(c) for c in services_raw),
            rewards=frozenset(str(c) for c in rewards_raw))
        plans = self.plans(top.get("plans", {}))
        if self.errors:
            return None
        return Catalog(services=MappingProxyType(services), rewards=MappingProxyType(rewards),
                       achievements=achievements, plans=MappingProxyType(plans))

    # -- plans ---------------------------------------------------------------------------------

    def plans(self, raw: object) -> dict[str, PlanTerms]:
        if not isinstance(raw, dict):
            self.fail(("plans",), f"plans must be a table, got {_kind(raw)}")
            return {}
        if len(raw) > limits.catalog_plans_max:
            self.fail(("plans",), f"a catalog has terms for at most {limits.catalog_plans_max} "
                                  f"plans, this one has {len(raw)}")
            return {}
        found: dict[str, PlanTerms] = {}
        for plan_id, value in raw.items():
            path: Path = ("plans", str(plan_id))
            checked = self.check(path, lambda p=plan_id: external_id(p, "plan id"))
            table = self.table(value, path, _PLAN_KEYS, "a plan")
            if table is None:
                continue
            rollover = None
            if "rollover" in table:
                rollover = self.rollover(table["rollover"], (*path, "rollover"))
                if rollover is None:
                    continue
            if checked is not None:
                found[checked] = PlanTerms(checked, rollover)
        return found

    def rollover(self, value: object, path: Path) -> Rollover | None:
        table = self.table(value, path, _ROLLOVER_KEYS, "a rollover")
        if table is None:
            return None
        figures: dict[str, int] = {}
        failed = False
        for key, check in ROLLOVER_CHECKS.items():
            if key in table:
                figure: int | None = self.check((*path, key), check, table[key])
                if figure is None:
                    failed = True
                else:
                    figures[key] = figure
        if failed:
            return None
        return self.check(path, lambda: Rollover(
            share_percent=figures.get("share_percent"), cap=figures.get("cap"),
            cycles=figures.get("cycles", 1)))

    def code(self, code: object, path: Path) -> str | None:
        def make() -> str:
            checked = service_code(code)
            if checked.endswith(".*"):
                raise InvalidRequest(f"a catalog code names one thing, not a pattern: {code!r}")
            return checked
        return self.check(path, make)

    # -- a service -----------------------------------------------------------------------------

    def service(self, code: object, value: object, path: Path) -> Service | None:
        before = len(self.errors)
        checked_code = self.code(code, path)
        table = self.table(value, path, _SERVICE_KEYS, "a service")
        if table is None:
            return None
        name = self.required(table, "name", path, display_name)
        kind = self.optional(table, "kind", path, lambda v: _choice(PriceKind, v, "price kind"),
                             PriceKind.fixed)
        credits = self.required(table, "credits", path, lambda v: whole_amount(v, "credits"))
        unit_size = self.optional(table, "unit_size", path, lambda v: _count(v, "unit_size"), 1)
        if "unit_size" in table and kind is PriceKind.fixed:
            self.fail((*path, "unit_size"), "a fixed price has no unit size; "
                                            "set kind = \"per_unit\"")
        unit = self.optional(table, "unit", path, lambda v: display_name(v, "unit"), None)
        class_prices = self.class_prices(table.get("class_credits", {}),
                                         (*path, "class_credits"))
        money = None if "money" not in table else self.money(table["money"], (*path, "money"))
        access = OPEN if "access" not in table else self.access(table["access"],
                                                                (*path, "access"))
        allowance = None if "allowance" not in table else self.allowance(
            table["allowance"], (*path, "allowance"))
        parts = self.splits(table.get("splits", []), (*path, "splits"))
        if (len(self.errors) > before or checked_code is None or name is None or kind is None
                or credits is None
                or unit_size is None or class_prices is None or access is None
                or parts is None):
            return None
        price = self.check(path, lambda: PriceRule(kind, credits, unit_size, class_prices,
                                                   money))
        if price is None:
            return None
        self.service_as_a_whole(price, allowance, parts, path)
        if len(self.errors) > before:
            return None
        return Service(code=checked_code, name=name, price=price, access=access,
                       allowance=allowance, splits=parts, unit=unit)

    def service_as_a_whole(self, price: PriceRule, allowance: Allowance | None,
                           parts: tuple[SplitPart, ...], path: Path) -> None:
        if price.pays_member:
            if parts:
                self.fail((*path, "splits"), "a service that pays the member has no splits")
            if allowance is not None:
                self.fail((*path, "allowance"),
                          "a service that pays the member has no free allowance")
            return
        for amount in sorted({p for p in price.all_credit_prices() if p > 0}):
            try:
                split(amount, parts)
            except InvalidRequest as exc:
                self.fail((*path, "splits"), f"{exc.detail}; a split must fit in every "
                                             f"positive price of the service")
                break

    def class_prices(self, value: object, path: Path) -> tuple[ClassPrice, ...] | None:
        if not isinstance(value, dict):
            self.fail(path, f"class_credits must be a table of class = credits, "
                            f"got {_kind(value)}")
            return None
        if len(value) > limits.class_prices_max:
            self.fail(path, f"at most {limits.class_prices_max} class prices")
            return None
        built = [self.check((*path, str(name)), ClassPrice, name, credits)
                 for name, credits in value.items()]
        if any(cp is None for cp in built):
            return None
        return tuple(cp for cp in built if cp is not None)

    def money(self, value: object, path: Path) -> Money | None:
        table = self.table(value, path, _MONEY_KEYS, "money")
        if table is None:
            return None
        currency = self.required(table, "currency", path, asset_code)
        amount = self.required(table, "amount_minor", path,
                               lambda v: whole_amount(v, "amount_minor"))
        if currency is None or amount is None:
            return None
        return self.check(path, lambda: Money(currency, amount))

    def access(self, value: object, path: Path) -> AccessRule | None:
        table = self.table(value, path, _ACCESS_KEYS, "access")
        if table is None:
            return None
        level = self.optional(table, "level", path,
                              lambda v: _choice(AccessLevel, v, "access level"), AccessLevel.open)
        raw = table.get("any_of", [])
        if not isinstance(raw, list):
            self.fail((*path, "any_of"), f"any_of must be a list, got {_kind(raw)}")
            return None
        needs = [self.check((*path, "any_of", i), Requirement.parse, text)
                 for i, text in enumerate(raw[:limits.access_alternatives_max + 1])]
        if level is None or any(n is None for n in needs):
            return None
        return self.check(path, lambda: AccessRule(
            level, tuple(n for n in needs if n is not None)))

    def allowance(self, value: object, path: Path) -> Allowance | None:
        table = self.table(value, path, _ALLOWANCE_KEYS, "allowance")
        if table is None:
            return None
        uses = self.required(table, "uses", path, lambda v: _count(v, "uses"))
        period = self.required(table, "per", path, lambda v: _choice(Period, v, "per"))
        after = self.optional(table, "after", path,
                              lambda v: _choice(AfterAllowance, v, "after"), AfterAllowance.charge)
        if uses is None or period is None or after is None:
            return None
        return self.check((*path, "uses"), lambda: Allowance(uses, period, after))

    def splits(self, value: object, path: Path) -> tuple[SplitPart, ...] | None:
        if not isinstance(value, list):
            self.fail(path, f"splits must be a list of parts, got {_kind(value)}")
            return None
        if len(value) > limits.split_parts_max:
            self.fail(path, f"a split has at most {limits.split_parts_max} parts")
            return None
        parts = [self.split_part(item, (*path, i)) for i, item in enumerate(value)]
        if any(p is None for p in parts):
            return None
        checked = tuple(p for p in parts if p is not None)
        try:
            check_parts(checked)
        except InvalidRequest as exc:
            self.fail(path, exc.detail)
            return None
        return checked

    def split_part(self, value: object, path: Path) -> SplitPart | None:
        table = self.table(value, path, _SPLIT_KEYS, "a split part")
        if table is None:
            return None
        target = self.required(table, "to", path, Target.parse)
        given = [k for k in ("share_bp", "fee") if k in table]
        if len(given) != 1:
            self.fail(path, "a split part has exactly one of share_bp (basis points of the "
                            "price) or fee (credits)")
            return None
        kind = PartKind.share if given[0] == "share_bp" else PartKind.fee
        value_path = (*path, given[0])
        amount = self.check(value_path, lambda: _integer(table[given[0]], given[0]))
        if target is None or amount is None:
            return None
        return self.check(value_path, lambda: SplitPart(target, kind, amount))

    # -- a reward ------------------------------------------------------------------------------

    def reward(self, code: object, value: object, path: Path) -> Reward | None:
        checked_code = self.code(code, path)
        table = self.table(value, path, _REWARD_KEYS, "a reward")
        if table is None:
            return None
        name = self.required(table, "name", path, display_name)
        credits = self.required(table, "credits", path, lambda v: positive_amount(v, "credits"))
        limit = self.required(table, "limit", path, lambda v: _count(v, "limit"))
        period = self.required(table, "per", path, lambda v: _choice(Period, v, "per"))
        if (checked_code is None or name is None or credits is None or limit is None
                or period is None):
            return None
        return self.check(path, lambda: Reward(checked_code, name, credits, limit, period))


def _choice(enum: type[E], value: object, what: str) -> E:
    for member in enum:
        if value == member.value and isinstance(value, str):
            return member
    raise InvalidRequest(f"{what} must be one of {', '.join(m.value for m in enum)}, "
                         f"got {value!r}", status=Status.value_invalid)


def _integer(value: object, what: str) -> int:
    # bool is an int in Python; `fee = true` is a typo, not one credit.
    if type(value) is not int:
        raise InvalidRequest(f"{what} must be an integer, got {_kind(value)} {value!r}",
                             status=Status.value_invalid)
    return value


def _count(value: object, what: str) -> int:
    if type(value) is not int or not 1 <= value <= limits.quantity_max:
        raise InvalidRequest(f"{what} must be an integer 1-{limits.quantity_max}, "
                             f"got {value!r}", status=Status.value_invalid)
    return value


def _kind(value: object) -> str:
    names = {dict: "a table", list: "a list", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number with a fraction", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


def _where(path: Path) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if part.replace("_", "").replace("-", "").isalnum() else f'"{part}"'
            text += f".{key}" if text else key
    return text
