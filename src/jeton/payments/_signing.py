"""Timestamped HMAC-SHA256 signatures in the `t=<unix seconds>,v1=<hex>` header format.

This is the scheme Stripe uses for its `Stripe-Signature` header: the signed message is
`<t>.<raw body>`. The local fake of Stripe signs with it (the real SDK then verifies), and the
offline and demo providers sign their own events with it so that every provider's events go
through one verified `parse_webhook` path.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from jeton.payments.errors import SignatureInvalid

SCHEME = "v1"


def signature_header(payload: bytes, secret: str, timestamp_s: int) -> str:
    return f"t={timestamp_s},{SCHEME}={_mac(payload, secret, timestamp_s)}"


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    now_s: float,
    tolerance_s: int,
    provider: str,
) -> None:
    """Raise `SignatureInvalid` unless `header` signs `payload` with `secret`, recently enough.

    Timestamps too far in the future are refused as well as old ones: a signer whose clock runs
    ahead would otherwise mint events that stay replayable for longer than the tolerance.
    """
    if not header:
        raise SignatureInvalid("the webhook has no signature header", provider=provider)
    timestamp_s: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp_s = int(value)
            except ValueError:
                raise SignatureInvalid("the signature timestamp is not a number",
                                       provider=provider) from None
        elif key == SCHEME:
            signatures.append(value)
    if timestamp_s is None or not signatures:
        raise SignatureInvalid(f"the signature header needs t= and {SCHEME}=", provider=provider)
    expected = _mac(payload, secret, timestamp_s)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureInvalid("the signature does not match the payload", provider=provider)
    if abs(now_s - timestamp_s) > tolerance_s:
        raise SignatureInvalid(
            f"the signature timestamp is more than {tolerance_s} s away from now",
            provider=provider)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name`, matched case-insensitively (HTTP header names are)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _mac(payload: bytes, secret: str, timestamp_s: int) -> str:
    message = str(timestamp_s).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
