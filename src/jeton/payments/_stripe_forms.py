"""Stripe's request format for the fake: form decoding, parameter checks, error answers.

Stripe takes `application/x-www-form-urlencoded` bodies with nested keys
(`line_items[0][price_data][currency]=usd`), refuses unknown parameters, and answers errors as
`{"error": {"type", "message", "code", "param", ...}}`. Kept apart from the fake's behaviour so
that each reads on its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# The parameters each create call accepts; Stripe refuses any other with a 400.
ALLOWED_PARAMS = {
    "customer": {"email", "name", "description", "metadata", "expand"},
    "checkout.session": {
        "mode", "success_url", "cancel_url", "line_items", "client_reference_id", "customer",
        "customer_email", "metadata", "payment_intent_data", "expires_at", "expand",
    },
    "payment_intent": {
        "amount", "currency", "customer", "payment_method", "confirm", "off_session",
        "metadata", "description", "setup_future_usage", "payment_method_types",
        "automatic_payment_methods", "return_url", "expand",
    },
    "refund": {"payment_intent", "charge", "amount", "metadata", "reason", "expand"},
}


class Fail(Exception):
    """A Stripe error answer: raise it anywhere in a request; the fake sends it as the body."""

    def __init__(self, http_status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, **more: Any) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.body = {"error": {"type": type_, "message": message, "code": code, "param": param,
                               **more}}
        self.events: list[dict[str, Any]] = []

    def with_events(self, events: list[dict[str, Any]]) -> Fail:
        """Attach the events made before the failure (a declined payment still has one)."""
        self.events = events
        return self


def decode_form(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Nest Stripe's form keys: `line_items[0][price_data][currency]=usd` becomes
    `{"line_items": [{"price_data": {"currency": "usd"}}]}`. Values stay strings."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        if not parts[0] or any(not p for p in parts[1:-1]):
            raise Fail(400, f"Invalid parameter name: {key}", param=key)
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise Fail(400, f"Invalid parameter name: {key}", param=key)
            node = child
        last = parts[-1] or str(len(node))  # `expand[]=x` appends
        if isinstance(node.get(last), dict):
            raise Fail(400, f"Invalid parameter name: {key}", param=key)
        node[last] = value
    nested = _listify(root)
    if not isinstance(nested, dict):  # only numeric top-level names: not a Stripe request
        raise Fail(400, "Invalid parameter names.")
    return nested


def _listify(node: dict[str, Any]) -> Any:
    converted = {k: _listify(v) if isinstance(v, dict) else v for k, v in node.items()}
    if converted and all(re.fullmatch(r"\d+", k) for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def only_known(params: Mapping[str, Any], kind: str) -> None:
    for name in params:
        if name not in ALLOWED_PARAMS[kind]:
            raise Fail(400, f"Received unknown parameter: {name}", code="parameter_unknown",
                        param=name)


def required(params: Mapping[str, Any], name: str, where: str | None = None) -> str:
    value = params.get(name)
    param = f"{where}[{name}]" if where else name
    if not isinstance(value, str) or not value:
        raise Fail(400, f"Missing required param: {param}.", code="parameter_missing",
                    param=param)
    return value


def integer(params: Mapping[str, Any], name: str, where: str | None = None, *,
             minimum: int) -> int:
    raw = required(params, name, where)
    param = f"{where}[{name}]" if where else name
    if not re.fullmatch(r"-?\d{1,18}", raw) or int(raw) < minimum:
        raise Fail(400, f"Invalid integer: {raw}", code="parameter_invalid_integer",
                    param=param)
    return int(raw)


def boolean(params: Mapping[str, Any], name: str) -> bool:
    raw: object = params.get(name, "false")
    if raw not in ("true", "false"):
        raise Fail(400, f"Invalid boolean: {raw}", param=name)
    return raw == "true"


def metadata(value: object) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise Fail(400, "Invalid metadata: a flat map of strings is required.",
                    param="metadata")
    return {k: v for k, v in value.items() if v != ""}  # Stripe: an empty value unsets a key
