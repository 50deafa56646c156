"""Currencies as Jeton records money: an ISO 4217 code and its minor-unit exponent.

Money is recorded in the ledger as an asset named by its currency code (`USD/2`), so the asset's
scale must be the currency's exponent: 6000 USD minor units are $60.00, 6000 JPY are ¥6000.
"""

from __future__ import annotations

import re

from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status

_CODE = re.compile(r"^[A-Z]{3}$")

# ISO 4217 currencies whose minor unit is not the cent. Every other code has two decimals.
_EXPONENTS = {
    # no minor unit
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # thousandths
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}


def currency_code(value: object) -> str:
    """A three-letter ISO 4217 code, in capitals."""
    if not isinstance(value, str) or not _CODE.match(value.upper()):
        raise InvalidRequest(f"currency must be a 3-letter ISO 4217 code, got {value!r}",
                             status=Status.value_invalid)
    return value.upper()


def exponent(code: str) -> int:
    """Decimal places of the currency's minor unit: 2 for USD, 0 for JPY, 3 for KWD."""
    return _EXPONENTS.get(currency_code(code), 2)
