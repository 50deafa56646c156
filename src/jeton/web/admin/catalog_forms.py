"""The catalog service form: one service's fields to and from a catalog entry.

The catalog is versioned whole (services/charging/catalogs.py): the dashboard edits one service by
taking the active catalog as data (the shape of a catalog file), putting the edited entry in or
taking one out, and checking the result exactly as a file is checked (`catalog_from_data`). The
form covers what owners change by hand: name, price, unit, class prices, money price, access
and free allowance. A service's splits are kept as they are; they change through a catalog file.
"""

from __future__ import annotations

from typing import Any

from jeton.core.access import AccessLevel
from jeton.core.allowances import AfterAllowance, Period
from jeton.core.amounts import format_amount
from jeton.core.catalog import Catalog, CatalogError, catalog_from_data
from jeton.core.catalog_data import service_to_data
from jeton.core.currencies import exponent
from jeton.core.errors import InvalidRequest
from jeton.core.prices import PriceKind
from jeton.services.charging.results import CatalogInfo
from jeton.web.admin.forms import Fields
from jeton.web.templating import format_money

SERVICE_FIELDS = ("code", "name", "price_kind", "credits", "unit_size", "unit", "class_credits",
                  "money_amount", "money_currency", "access_level", "any_of",
                  "allowance_uses", "allowance_per", "allowance_after")
PRICE_KINDS = [(PriceKind.fixed.value, "Fixed: credits per use"),
               (PriceKind.per_unit.value, "Per unit: credits per started unit")]
ACCESS_LEVELS = [(AccessLevel.open.value, "Open: every member may use it"),
                 (AccessLevel.locked.value, "Locked: shown to all, usable with one of the below"),
                 (AccessLevel.hidden.value, "Hidden: shown and usable only with a class or key")]
PERIODS = [("", "No free allowance")] + [(p.value, f"per {p.value}") for p in Period]
AFTER = [(AfterAllowance.charge.value, "then charge the price"),
         (AfterAllowance.prompt.value, "then refuse and prompt to buy")]


def catalog_data(info: CatalogInfo) -> dict[str, Any]:
    """The active catalog as a catalog file's data (services and rewards by code)."""
    return {
        "services": {s.code: dict(s.definition) for s in info.services if not s.retired},
        "rewards": {r.code: {"name": r.name, "credits": r.credits, "limit": r.limit,
                             "per": r.per} for r in info.rewards if not r.retired},
    }


def build_catalog(data: dict[str, Any]) -> tuple[Catalog | None, list[CatalogError]]:
    result = catalog_from_data({k: v for k, v in data.items() if v})
    return result.catalog, list(result.errors)


def form_values(code: str, entry: dict[str, Any] | None, scale: int) -> dict[str, str]:
    """A catalog entry as the service form shows it (empty for a new service)."""
    values = {name: "" for name in SERVICE_FIELDS} | {
        "code": code, "price_kind": PriceKind.fixed.value, "access_level": AccessLevel.open.value,
        "allowance_after": AfterAllowance.charge.value, "money_currency": "USD"}
    if entry is None:
        return values
    money = entry.get("money") or {}
    access = entry.get("access") or {}
    allowance = entry.get("allowance") or {}
    values.update(
        name=str(entry.get("name", "")), price_kind=str(entry.get("kind", "fixed")),
        credits=format_amount(int(entry.get("credits", 0)), scale),
        unit_size=str(entry.get("unit_size", "")), unit=str(entry.get("unit") or ""),
        class_credits=", ".join(f"{name}={format_amount(int(value), scale)}"
                                for name, value in (entry.get("class_credits") or {}).items()),
        access_level=str(access.get("level", "open")),
        any_of=", ".join(str(r) for r in access.get("any_of", [])),
        allowance_uses=str(allowance.get("uses", "")),
        allowance_per=str(allowance.get("per", "")),
        allowance_after=str(allowance.get("after", "charge")),
    )
    if money:
        currency = str(money.get("currency", "USD"))
        values.update(money_currency=currency,
                      money_amount=format_amount(int(money.get("amount_minor", 0)),
                                                 _places(currency)))
    return values


def read_entry(fields: Fields, scale: int, splits: list[Any] | None) -> dict[str, Any]:
    """The catalog entry the form describes. Problems of shape land in `fields.errors`; what
    the values may be is checked afterwards with the whole catalog."""
    entry: dict[str, Any] = {"name": fields.text("name", required=True, what="A name")}
    kind = fields.text("price_kind") or PriceKind.fixed.value
    if kind not in {k for k, _ in PRICE_KINDS}:
        fields.errors["price_kind"] = "Choose how the price counts."
    if kind == PriceKind.per_unit.value:
        entry["kind"] = kind
    entry["credits"] = fields.amount("credits", scale, positive=False) or 0
    if kind == PriceKind.per_unit.value:
        entry["unit_size"] = fields.integer("unit_size", required=True, minimum=1) or 1
    if unit := fields.text("unit"):
        entry["unit"] = unit
    prices = _class_prices(fields, scale)
    if prices:
        entry["class_credits"] = prices
    money_text = fields.text("money_amount")
    if money_text:
        currency, places = fields.currency("money_currency")
        amount = fields.amount("money_amount", places)
        if amount is not None:
            entry["money"] = {"currency": currency.upper(), "amount_minor": amount}
    level = fields.text("access_level") or AccessLevel.open.value
    if level not in {k for k, _ in ACCESS_LEVELS}:
        fields.errors["access_level"] = "Choose who may use it."
    elif level != AccessLevel.open.value:
        entry["access"] = {"level": level, "any_of": fields.names("any_of")}
    per = fields.text("allowance_per")
    if per:
        uses = fields.integer("allowance_uses", required=True, minimum=1)
        allowance: dict[str, Any] = {"uses": uses or 1, "per": per}
        after = fields.text("allowance_after") or AfterAllowance.charge.value
        if after != AfterAllowance.charge.value:
            allowance["after"] = after
        entry["allowance"] = allowance
    if splits:
        entry["splits"] = splits
    return entry


def _class_prices(fields: Fields, scale: int) -> dict[str, int]:
    """`vip=10, buyer=20`: a price per member class."""
    out: dict[str, int] = {}
    for part in fields.names("class_credits"):
        name, sep, value = part.partition("=")
        sub = Fields({"price": value})
        price = sub.amount("price", scale, positive=False)
        if not sep or not name.strip() or price is None:
            fields.errors["class_credits"] = (f"“{part[:40]}” is not CLASS=PRICE "
                                              "(for example vip=10).")
            return {}
        out[name.strip()] = price
    return out


def _places(currency: str) -> int:
    try:
        return exponent(currency)
    except InvalidRequest:
        return 2


def price_text(entry: dict[str, Any], scale: int) -> str:
    """A service's price as a catalog entry writes it, in words: `3 per 1024 byte, vip 1`."""
    credits = format_amount(int(entry.get("credits", 0)), scale)
    text = credits
    if entry.get("kind") == "per_unit":
        text += f" per {entry.get('unit_size', 1)} {entry.get('unit') or 'unit'}"
    classes = entry.get("class_credits") or {}
    if classes:
        text += ", " + ", ".join(f"{name} {format_amount(int(v), scale)}"
                                 for name, v in sorted(classes.items()))
    money = entry.get("money")
    if money:
        text += f" (or {format_money(int(money['amount_minor']), str(money['currency']))})"
    return text


def price_changes(info: CatalogInfo, new: Catalog | None, codes: list[str],
                  scale: int) -> list[tuple[str, str, str]]:
    """(service, old price, new price) for each of `codes` (the services a change updates)
    whose price differs; the rest of a service's change (name, access) is not a price."""
    if new is None:
        return []
    old = catalog_data(info)["services"]
    out = []
    for code in codes:
        if code in old and code in new.services:
            before = price_text(old[code], scale)
            after = price_text(service_to_data(new.services[code]), scale)
            if before != after:
                out.append((code, before, after))
    return out
