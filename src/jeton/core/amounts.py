"""Amounts, assets and ids as they are checked before anything is written."""

from __future__ import annotations

import re

from jeton.core import limits
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status

_ASSET_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+\-]{0,63}$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9_\-]*(\.[a-z0-9_\-]+)*(\.\*)?$")
asset_scale_max = 9


def positive_amount(value: object, what: str = "amount") -> int:
    """An amount that must be a whole number of minor units, at least 1."""
    amount = whole_amount(value, what)
    if amount <= 0:
        raise InvalidRequest(f"{what} must be at least 1 minor unit, got {amount}",
                             status=Status.amount_invalid)
    return amount


def whole_amount(value: object, what: str = "amount") -> int:
    # bool is an int in Python; True credits are a bug, not one credit.
    if type(value) is not int:
        raise InvalidRequest(f"{what} must be an integer number of minor units, got {value!r}",
                             status=Status.amount_invalid)
    if abs(value) > limits.amount_max:
        raise InvalidRequest(f"{what} {value} is over the limit of {limits.amount_max}",
                             status=Status.amount_too_large)
    return value


def asset_code(value: object) -> str:
    if not isinstance(value, str) or not _ASSET_CODE.match(value):
        raise InvalidRequest(f"asset code must be 1-16 capitals, digits or _, got {value!r}",
                             status=Status.value_invalid)
    return value


def asset_scale(value: object) -> int:
    if type(value) is not int or not 0 <= value <= asset_scale_max:
        raise InvalidRequest(f"asset scale must be an integer 0-{asset_scale_max}, got {value!r}",
                             status=Status.value_invalid)
    return value


def external_id(value: object, what: str = "id") -> str:
    """Ids chosen by the host app: members, communities."""
    if not isinstance(value, str) or not _EXTERNAL_ID.match(value):
        raise InvalidRequest(
            f"{what} must be 1-64 characters of letters, digits and . _ @ + -, starting with a "
            f"letter or digit; got {value!r}", status=Status.id_invalid)
    return value


def idempotency_key(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limits.idempotency_key_chars_max:
        raise InvalidRequest(
            f"idempotency key must be a string of 1-{limits.idempotency_key_chars_max} "
            f"characters, got {value!r}", status=Status.value_invalid)
    return value


def service_code(value: object) -> str:
    """A service code such as `files.download`; a lot scope may end in `.*`."""
    if not isinstance(value, str) or len(value) > 100 or not _SERVICE.match(value):
        raise InvalidRequest(f"service code must look like 'files.download', got {value!r}",
                             status=Status.value_invalid)
    return value


def format_amount(amount: int, scale: int) -> str:
    """Minor units as a decimal string for people: 1234 at scale 2 is '12.34'."""
    if scale == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**scale)
    return f"{sign}{whole}.{frac:0{scale}d}"


def parse_amount(text: str, scale: int) -> int:
    """A decimal string typed by a person into minor units; refuses extra precision."""
    match = re.fullmatch(r"(-?)(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        raise InvalidRequest(f"not an amount: {text!r}", status=Status.amount_invalid)
    sign, whole, frac = match.groups()
    frac = frac or ""
    if len(frac) > scale:
        raise InvalidRequest(f"{text!r} has more than {scale} decimal places",
                             status=Status.amount_invalid)
    value = int(whole) * 10**scale + int(frac.ljust(scale, "0") or "0")
    return whole_amount(-value if sign else value)
