"""The OpenAPI document (3.1, at `/openapi.json`), completed with what every route shares.

Routes declare their own results and their particular errors (`problem_responses(402)`); this
adds, to every operation under `/v1`, the errors any of them may answer, all as
`application/problem+json` with the `Problem` schema, and to every POST the `Idempotency-Key`
header and the headers of its answer.
"""

from __future__ import annotations

from typing import Any

from jeton.api.idempotency import KEY_HEADER, KEY_PATTERN, KEY_REQUIRED, REPLAYED_HEADER
from jeton.api.problems import MEDIA_TYPE, Problem
from jeton.core import limits

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Errors every /v1 operation may answer, with what they mean there.
_COMMON = {
    "400": "The request could not be read (a malformed body or header).",
    "401": "No API key, or one that is not valid or was revoked.",
    "403": "The key lacks the scope this needs, or a limit was reached.",
    "404": "Not found in the key's community.",
    "413": f"The body is over {limits.api_body_bytes_max} bytes.",
    "422": "The request is not valid; `errors` says where.",
    "429": "Over the key's rate limit; retry after `Retry-After` seconds.",
    "500": "A bug; the server's log has the details.",
}
_POST_ONLY = {"409": "A request with this `Idempotency-Key` is still running "
                     "(retry after `Retry-After`), or the request conflicts with the stored "
                     "state."}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                "schema": {"type": "string"}}}
_KEY_PARAMETER = {
    "name": KEY_HEADER, "in": "header", "required": False,
    "description": "Makes the POST safe to retry: the same key and request get the same answer "
                   "(with `Idempotent-Replayed: true`), the same key with another request a "
                   "422, a key still in use a 409. Required where the POST moves credits or "
                   "money (400 without); elsewhere a request without one is not protected.",
    "schema": {"type": "string", "minLength": 1,
               "maxLength": limits.idempotency_key_chars_max, "pattern": KEY_PATTERN},
}
_ANSWER_HEADERS = {
    KEY_HEADER: {"description": "The idempotency key of the request (made by the server when "
                                "the request had none).", "schema": {"type": "string"}},
    REPLAYED_HEADER: {"description": "`true` when this is the kept answer of an earlier "
                                     "request with the same key.",
                      "schema": {"type": "string", "enum": ["true"]}},
}


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            # Operations without a credential (a provider's signed webhook) declare their own.
            if path.startswith("/v1/") and operation.get("security"):
                for code, description in _COMMON.items():
                    responses.setdefault(code, {"description": description})
                responses["422"] = {"description": _COMMON["422"]}
                if method == "post":
                    for code, description in _POST_ONLY.items():
                        responses.setdefault(code, {"description": description})
                    _add_key_parameter(operation, required=path in KEY_REQUIRED)
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    response["content"] = {MEDIA_TYPE: {"schema": _PROBLEM_REF}}
                    if code in ("409", "429", "503"):
                        response.setdefault("headers", {}).update(_RETRY_AFTER)
                elif (method == "post" and code.startswith("2") and path.startswith("/v1/")
                      and operation.get("security")):
                    response.setdefault("headers", {}).update(_ANSWER_HEADERS)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    _exact_bounds(schema)
    return schema


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
# FastAPI's OpenAPI model types bounds as floats: 2**62 - 1 comes out as 4.611686018427388e+18,
# one above what the server accepts. Jeton's bounds are integers, and the large ones are the
# limits of core/limits.py; each float is put back to the integer it was made from.
_LARGE_LIMITS = {float(v): v for v in vars(limits).values()
                 if isinstance(v, int) and not isinstance(v, bool)}
_LARGE_LIMITS.update({-k: -v for k, v in _LARGE_LIMITS.items()})


def _exact_bounds(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float):
                exact = _LARGE_LIMITS.get(value)
                if exact is not None:
                    node[key] = exact
                elif value.is_integer() and abs(value) < 2**53:
                    node[key] = int(value)
            else:
                _exact_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _exact_bounds(item)


def _add_key_parameter(operation: dict[str, Any], *, required: bool) -> None:
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    if not any(p.get("name") == KEY_HEADER for p in parameters):
        parameters.append({**_KEY_PARAMETER, "required": required})
