"""Checks every provider runs on its arguments before anything is sent or stored.

All providers share them so that a request the demo provider accepts is one Stripe accepts too:
a test that passes against the double must not fail in production on input checking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.payments import limits

_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
# Provider ids are opaque tokens (`cus_…`, `pm_…`, `pi_…`): printable, no spaces.
_PROVIDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.:@+]{0,254}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A run of 13-19 digits, possibly grouped by single spaces or dashes as people type card numbers.
_DIGIT_RUN = re.compile(r"\d(?:[ \-]?\d){12,}")
_PAN_DIGITS_MIN = 13
_PAN_DIGITS_MAX = 19


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    """The arguments of `create_checkout`, checked and normalized (currency in capitals)."""

    community_id: str
    member_id: str
    purchase_id: str
    description: str
    amount_minor: int
    currency: str
    success_url: str
    cancel_url: str
    save_payment_method: bool
    customer_id: str | None


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """The arguments of `charge_saved_method`: ids, amount and currency checked (currency in
    capitals); the key, community and member as given (each provider checks those its way)."""

    customer_id: str
    payment_method_id: str
    amount_minor: int
    currency: str
    purchase_id: str
    idempotency_key: str
    community_id: str | None
    member_id: str | None


def currency_code(value: object) -> str:
    """An ISO 4217 code, returned in capitals (providers differ in the case they want)."""
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise InvalidRequest(f"currency must be a 3-letter ISO 4217 code, got {value!r}",
                             status=Status.value_invalid)
    return value.upper()


def url(value: object, what: str, chars_max: int = limits.url_chars_max) -> str:
    """An absolute http(s) URL: providers (and a member link's return) send the member's
    browser to it."""
    if not isinstance(value, str) or len(value) > chars_max or _CONTROL.search(value):
        raise InvalidRequest(f"{what} must be a URL of at most {chars_max} characters",
                             status=Status.value_invalid)
    try:
        parts = urlsplit(value)
    except ValueError:  # a host urllib cannot read ("https://[x"): not a URL either
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(f"{what} must be an absolute http(s) URL, got {value!r}",
                             status=Status.value_invalid)
    return value


def text(value: object, what: str, chars_max: int) -> str:
    """Free text that leaves Jeton (shown on a payment page, stored by a provider)."""
    if not isinstance(value, str) or not value.strip() or len(value) > chars_max:
        raise InvalidRequest(f"{what} must be 1-{chars_max} characters",
                             status=Status.value_invalid)
    if _CONTROL.search(value):
        raise InvalidRequest(f"{what} must not contain control characters",
                             status=Status.value_invalid)
    reject_card_number(value, what)
    return value


def provider_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not _PROVIDER_ID.match(value):
        raise InvalidRequest(f"{what} must be a provider id such as 'cus_123', got {value!r}",
                             status=Status.value_invalid)
    return value


def reject_card_number(value: str, what: str) -> None:
    """Refuse text that contains what looks like a card number (13-19 digits, Luhn-valid).

    Jeton must never store a card number, not even one a member or a staff member pasted into a
    note by mistake. Luhn keeps false alarms rare: one digit string in ten passes it.
    """
    for match in _DIGIT_RUN.finditer(value):
        digits = re.sub(r"\D", "", match.group())
        if _PAN_DIGITS_MIN <= len(digits) <= _PAN_DIGITS_MAX and luhn_valid(digits):
            raise InvalidRequest(
                f"{what} looks like it contains a card number; Jeton never stores card numbers",
                status=Status.value_invalid)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
