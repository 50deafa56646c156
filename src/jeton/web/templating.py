"""The Jinja2 environment every page of Jeton renders with (dashboard and member pages).

Templates live in `jeton/web/templates/`: `layout.html` is the frame every page shares (head,
skip link, landmarks, footer), `signed_in.html` adds what both areas show around a page (account
bar, side navigation, notice), `admin/` and `member/` extend it. `render_page` is the render
both areas' `render` call. Autoescape is on and undefined
names are errors. Filters: `when` (an instant in UTC), `day` and `time` (its parts),
`detail_value` (an audit detail), `amount(scale)` (minor units as a decimal), `money(currency)`
(money for people).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.core import amounts, currencies
from jeton.core.clock import ensure_utc
from jeton.core.errors import InvalidRequest

# Symbols people know at a glance; every other currency is written with its code.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


@dataclass(frozen=True, slots=True)
class NavLink:
    """One link of an area's side navigation (`signed_in.html`)."""

    label: str
    href: str
    current: bool


def render_page(request: Request, templates: jinja2.Environment, template: str,
                values: Mapping[str, Any], context: Mapping[str, Any] | None, *,
                notices: Mapping[str, str], section: str | None, status_code: int,
                headers: Mapping[str, str] | None) -> HTMLResponse:
    """Render a page of either area. Every template gets `request`, `path_for(route_name,
    **params)`, `static(path)`, `notice` (the fixed message of `notices` that `?notice=` picks,
    never text from the URL) and `section`; then the area's `values` (who is signed in, `nav`,
    `csrf_token`...), then the page's own `context`."""
    page: dict[str, Any] = {
        "request": request,
        "path_for": lambda name, **params: request.url_for(name, **params).path,
        "static": lambda path: request.url_for("static", path=path).path,
        "notice": notices.get(request.query_params.get("notice", ""), ""),
        "section": section,
        **values,
        **(context or {}),
    }
    html = templates.get_template(template).render(page)
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))


def create_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jeton.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_when
    env.filters["day"] = format_day
    env.filters["time"] = format_time
    env.filters["detail_value"] = format_detail_value
    env.filters["amount"] = format_amount
    env.filters["money"] = format_money
    return env


def format_detail_value(value: object) -> str:
    """A value from an audit record's detail, as people read it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def format_when(value: datetime | None) -> str:
    if value is None:
        return ""
    return ensure_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def format_day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = ensure_utc(value)
    return value.strftime("%Y-%m-%d")


def format_time(value: datetime | None) -> str:
    """The time of day of an instant, in UTC: `21:07 UTC`."""
    if value is None:
        return ""
    return ensure_utc(value).strftime("%H:%M UTC")


def format_amount(value: int, scale: int = 0) -> str:
    """Minor units of an asset as a decimal, with thousands separated: 12345 at 0 is 12,345."""
    text = amounts.format_amount(value, scale)
    sign = "-" if text.startswith("-") else ""
    whole, _, frac = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")


def format_money(value: int, currency: str) -> str:
    """Money in minor units for people: 6000 USD is $60.00, 6000 JPY is ¥6,000, 600 CHF is
    6.00 CHF."""
    try:
        code = currencies.currency_code(currency)
    except InvalidRequest:  # not a currency code: say the number and what came with it
        return f"{value} {currency}"
    sign = "-" if value < 0 else ""
    text = format_amount(abs(value), currencies.exponent(code))
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code}"
