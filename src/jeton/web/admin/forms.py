"""What the dashboard's write pages share: form keys, reading typed fields, redirects, audit.

A write form carries an idempotency key made when the form is rendered (`form_key`, a hidden
field `key`), so a second submit of the same form (a double click, a reload after a POST) is a
replay: the service answers with the first result and writes nothing. A page that shows a
review step carries the key through it.

Fields are read as text (`Form` values) and checked here only for shape (a number, a date);
what a value may be (a positive amount, a known currency) is the services' to say.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse

from jeton.core import limits
from jeton.core.amounts import format_amount, parse_amount
from jeton.core.currencies import currency_code, exponent
from jeton.core.errors import InvalidRequest, JetonError
from jeton.services.access.audit import record_audit_now
from jeton.services.access.staff import StaffSession
from jeton.web.admin.context import admin_context

KEY_FIELD = "key"
# One line of a form. Long text (a catalog file) is read with `FormValues`, bounded by the
# router's body limit.
Text = Annotated[str, Form(max_length=limits.memo_chars_max)]
Key = Annotated[str, Form(max_length=limits.idempotency_key_chars_max)]
_NAME_DAYS = re.compile(r"^([^:\s]+)(?::(\d{1,5}))?$")


async def _form_values(request: Request) -> dict[str, str]:
    """Every text field of the posted form (the CSRF check has read it already)."""
    form = await request.form()
    return {name: value[:limits.admin_form_bytes_max] for name, value in form.items()
            if isinstance(value, str)}


# The posted form as a dict, for pages with many fields (read once, by an async dependency, so
# the page itself stays a plain function run in the thread pool).
FormValues = Annotated[dict[str, str], Depends(_form_values)]


def form_key() -> str:
    """A fresh idempotency key for one rendering of a write form."""
    return "dash-" + secrets.token_urlsafe(18)


def staff_actor(staff: StaffSession) -> str:
    """How a staff user is named as the actor of a write whose service takes a string."""
    return f"staff:{staff.user.email}"


def redirect_to(request: Request, route: str, *, notice: str | None = None,
                query: Mapping[str, str] | None = None, **params: str) -> RedirectResponse:
    """303 to a dashboard page after a POST, with a `?notice=` code (templating.NOTICES)."""
    target = request.url_for(route, **params).path
    values = dict(query or {})
    if notice:
        values["notice"] = notice
    if values:
        target += "?" + urlencode(values)
    return RedirectResponse(target, status_code=303)


def audit(request: Request, staff: StaffSession, action: str, *, target: str = "",
          detail: Mapping[str, Any] | None = None) -> None:
    """Record a staff action done through a service that does not audit it itself."""
    ctx = admin_context(request)
    record_audit_now(ctx.store, staff.community_id, staff.user.user_id, action, target=target,
                     detail=detail)


def sentence(detail: str) -> str:
    """A service's message as a sentence: capital first, full stop last."""
    text = detail.strip()
    if not text:
        return text
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def error_message(exc: JetonError) -> str:
    """A service error for a person, with the reasons a catalog lists when it has them."""
    return sentence(exc.detail)


class Fields:
    """The text of a submitted form, read into typed values; every problem lands in `errors`
    under the field's name, so the form is shown again with each message beside its input."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = {name: value.strip() for name, value in values.items()}
        self.errors: dict[str, str] = {}

    def text(self, name: str, *, required: bool = False, what: str = "This") -> str:
        value = self.values.get(name, "")
        if required and not value:
            self.errors[name] = f"{what} is needed."
        return value

    def currency(self, name: str) -> tuple[str, int]:
        """A currency code as typed, and its decimals: 2 while the code is wrong, so that the
        amount beside it is still read and its own mistakes shown."""
        code = self.text(name, required=True, what="A currency")
        try:
            return code, exponent(currency_code(code))
        except InvalidRequest:
            self.errors[name] = "Enter a three-letter currency code, such as USD."
            return code, 2

    def amount(self, name: str, scale: int, *, required: bool = True,
               positive: bool = True) -> int | None:
        """A decimal amount typed by a person, in minor units of `scale` decimals."""
        value = self.values.get(name, "")
        if not value:
            if required:
                self.errors[name] = "Enter an amount."
            return None
        try:
            parsed = parse_amount(value, scale)
        except InvalidRequest:
            places = f"at most {scale} decimal places" if scale else "no decimals"
            self.errors[name] = f"Enter a number ({places})."
            return None
        if positive and parsed <= 0:
            self.errors[name] = "Enter an amount above zero."
            return None
        return parsed

    def integer(self, name: str, *, required: bool = False, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        value = self.values.get(name, "")
        if not value:
            if required:
                self.errors[name] = "Enter a whole number."
            return None
        if not re.fullmatch(r"-?\d{1,18}", value):
            self.errors[name] = "Enter a whole number."
            return None
        number = int(value)
        if minimum is not None and number < minimum:
            self.errors[name] = f"Enter {minimum} or more."
            return None
        if maximum is not None and number > maximum:
            self.errors[name] = f"Enter {maximum} or less."
            return None
        return number

    def day(self, name: str, *, required: bool = False) -> date | None:
        """A date from `<input type="date">` (YYYY-MM-DD)."""
        value = self.values.get(name, "")
        if not value:
            if required:
                self.errors[name] = "Enter a date."
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.errors[name] = "Enter a date as YYYY-MM-DD."
            return None

    def names_with_days(self, name: str) -> list[str | tuple[str, int]]:
        """`vip, insider:30`: class or key names, each with an optional number of days."""
        out: list[str | tuple[str, int]] = []
        for part in filter(None, (p.strip() for p in self.values.get(name, "").split(","))):
            match = _NAME_DAYS.match(part)
            if match is None:
                self.errors[name] = (f"“{part[:40]}” is not a name or NAME:DAYS "
                                     "(for example vip:30).")
                return []
            days = match.group(2)
            out.append((match.group(1), int(days)) if days else match.group(1))
        return out

    def names(self, name: str) -> list[str]:
        return [p.strip() for p in self.values.get(name, "").split(",") if p.strip()]

    @property
    def ok(self) -> bool:
        return not self.errors


def end_of_day(day: date) -> datetime:
    """An expiry typed as a date means the end of that day (UTC): the start of the next."""
    return datetime.combine(day, time.min, UTC).replace(hour=23, minute=59, second=59)


def amount_text(amount: int | None, scale: int) -> str:
    """An amount as a form shows it again."""
    return "" if amount is None else format_amount(amount, scale)


def entitlement_text(items: list[Any]) -> str:
    """Classes or keys (`Entitlement`s) as the form field writes them: `vip:30, insider`."""
    parts = []
    for item in items:
        parts.append(item.name if item.days is None else f"{item.name}:{item.days}")
    return ", ".join(parts)


def retire_or_restore(request: Request, staff: StaffSession, kind: str, target: str, *,
                      active: bool, was_active: bool, change: Callable[[], object],
                      detail: Mapping[str, Any] | None = None) -> RedirectResponse:
    """Take a pack, plan or coupon off (or put it back): `change` runs, audited as
    `<kind>.retired` or `<kind>.restored`, only when it changes something, so a second submit
    records nothing. Then back to the list (`admin.<kind>s`) with the matching notice."""
    if was_active != active:
        change()
        audit(request, staff, f"{kind}.restored" if active else f"{kind}.retired",
              target=target, detail=detail)
    return redirect_to(request, f"admin.{kind}s",
                       notice=f"{kind}_restored" if active else f"{kind}_retired")
