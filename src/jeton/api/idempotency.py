"""`Idempotency-Key` on every POST (services/ledger/http_idempotency.py: where each state lives).

- same key, same request, answered: the same status and body again, with
  `Idempotent-Replayed: true`;
- same key, another request (method, path, query or JSON body): 422 `idempotency-conflict`;
- same key while the first is still running: 409 `request-in-flight` with `Retry-After`;
- no header, on a POST that moves credits or money (`KEY_REQUIRED`): 400 `value-invalid`,
  nothing done (a retry of such a request could do it twice);
- no header on another POST (creating a pack, a webhook endpoint, ...): the server makes a key
  for the handler (returned in the `Idempotency-Key` response header) and keeps nothing: a
  retry of such a request is a new request.

A replay's body says `"replayed": true` where the answer has that field, as its
`Idempotent-Replayed` header does; the rest of the body is the first answer's.

The handler gets the key (`key: IdempotencyKey`) and passes it to the service, whose write claims
it again in its own transaction: the HTTP record saves the work and answers byte for byte, the
ledger's record makes the effect happen once even when the HTTP record is lost to a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from jeton.api.auth import IDEMPOTENCY_KEY_STATE, Principal
from jeton.api.context import ApiContext
from jeton.api.problems import HttpProblem
from jeton.core import limits
from jeton.core.canonical import canonical_json
from jeton.core.errors import IdempotencyConflict, InvariantViolation
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.ledger.http_idempotency import OPERATOR_SPACE, Answer, Outcome

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Visible ASCII, no space at either end (HTTP trims them), 1-255 characters.
KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
_KEY = re.compile(KEY_PATTERN)
# POSTs that move credits or money (docs/api/README.md lists them; a test holds each to
# a route). Without a key, a client's retry after a lost answer would move them twice.
KEY_REQUIRED = frozenset({
    "/v1/grants", "/v1/spends", "/v1/spends/batch", "/v1/transfers",
    "/v1/transfers/{transfer_id}/reverse", "/v1/transfers/{transfer_id}/refund",
    "/v1/holds", "/v1/holds/{hold_id}/capture", "/v1/holds/{hold_id}/void",
    "/v1/charges", "/v1/metered", "/v1/metered/{hold_id}/finish", "/v1/rewards",
    "/v1/staff_grants", "/v1/staff_charges", "/v1/coupons/{code}/redeem",
    "/v1/purchases", "/v1/purchases/{purchase_id}/offline_payment",
    "/v1/purchases/{purchase_id}/refund", "/v1/purchases/{purchase_id}/refund_as_credits",
    "/v1/subscriptions", "/v1/test_clock/advance",
})
# POSTs whose handler is one ledger write under the same key, answering the write's own result:
# the ledger keeps that answer in the write's transaction (its idempotency key), and a replay
# of the key returns it, flagged. For these the HTTP layer keeps no second copy, so such a POST
# is one write, not two (decision 0038). Nor is anything read before the handler: a request
# that reuses the key of another route's kept answer is refused by the write itself, which
# finds the marker that answer left among the ledger's keys (decision 0086).
LEDGER_KEYED = frozenset({
    "/v1/charges", "/v1/metered", "/v1/spends", "/v1/grants", "/v1/holds",
    "/v1/holds/{hold_id}/capture", "/v1/holds/{hold_id}/void", "/v1/transfers",
    "/v1/transfers/{transfer_id}/reverse"})
_REPLAYED_BODY = b'"replayed":true'
_STATE_KEY = IDEMPOTENCY_KEY_STATE
_STATE_REPLAY_BODY = "idempotency_replay_body"

Handler = Callable[[Request], Awaitable[Response]]


async def _key_of(request: Request) -> str:  # async: no worker thread for a getattr
    key = getattr(request.state, _STATE_KEY, None)
    if not isinstance(key, str):
        raise InvariantViolation("IdempotencyKey was asked for outside a POST of an ApiRoute")
    return key


# The key a POST handler passes to the service: the client's, or one the server made.
IdempotencyKey = Annotated[str, Depends(_key_of)]


def keep_for_replay(request: Request, model: BaseModel) -> None:
    """Keep `model` as the answer to replay instead of the response itself: for answers that
    carry a secret shown once (a new API key's token), which must not be stored."""
    setattr(request.state, _STATE_REPLAY_BODY, model.model_dump_json().encode())


_NOT_JSON = object()


def parsed_json(body: bytes) -> Any:
    """The body's JSON value, or `_NOT_JSON`."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to be read
        return _NOT_JSON


def path_and_query(scope: Scope) -> tuple[str, str]:
    """`request.url.path` and `request.url.query` read off the scope, as Starlette's `URL`
    makes them (the path with `?`, `#` and `\\` escaped), without building the URL: every POST
    names its path in its digest."""
    path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return path, scope.get("query_string", b"").decode()


def request_digest(method_path: str, query: str, body: bytes, parsed: Any = _NOT_JSON) -> str:
    """What makes two requests the same: method, path, query, and the body as JSON values (so
    that key order and spacing do not count), or its bytes when it is not JSON. `parsed` is the
    body's value when the caller has read it already (`parsed_json`)."""
    if parsed is _NOT_JSON:
        parsed = parsed_json(body)
    try:
        canonical = (body if parsed is _NOT_JSON else
                     canonical_json(parsed).encode())
    except (ValueError, RecursionError):  # nested too deep to be written back
        canonical = body
    h = hashlib.sha256()
    for part in (method_path.encode(), query.encode(), canonical):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


async def run_idempotent(ctx: ApiContext, request: Request, principal: Principal,
                         handler: Handler) -> Response:
    # Read the body here, before FastAPI does: a body over the size limit is then answered as
    # what it is (413) rather than as a body FastAPI could not parse (400).
    body = await request.body()
    key = request.headers.get(KEY_HEADER)
    route = request.scope.get("route")
    if key is None and getattr(route, "path", None) in KEY_REQUIRED:
        raise HttpProblem(Status.value_invalid, f"this request moves credits or money: send an "
                          f"{KEY_HEADER} header (any unique string, the same on every retry)",
                          http_status=400, field=KEY_HEADER)
    if key is None:
        key = f"auto-{new_id()}"
        setattr(request.state, _STATE_KEY, key)
        response = await handler(request)
        response.headers[KEY_HEADER] = key
        return response
    if len(key) > limits.idempotency_key_chars_max or not _KEY.fullmatch(key):
        raise HttpProblem(Status.value_invalid, f"{KEY_HEADER} must be 1-"
                          f"{limits.idempotency_key_chars_max} visible ASCII characters")
    setattr(request.state, _STATE_KEY, key)
    space = principal.community_id or OPERATOR_SPACE
    path, query = path_and_query(request.scope)
    method_path = f"{request.method} {path}"
    parsed = parsed_json(body)
    if parsed is not _NOT_JSON:
        # The route reads the same body as JSON next: Starlette keeps a request's parsed
        # JSON on the request (`Request.json()`), so it is parsed once, here.
        request._json = parsed
    digest = request_digest(method_path, query, body, parsed)
    store = ctx.idempotency
    ledger_keeps = getattr(route, "path", None) in LEDGER_KEYED
    # A ledger route's claim reads nothing, and on SQLite the claim's read is a point read of
    # microseconds: both on the event loop, without a worker thread's hop (and there it never
    # waits for another copy of the key, whose claim, on this loop too, finished first).
    claim = (await run_in_threadpool(store.claim, space, key, method_path, digest)
             if store.claim_blocks and not ledger_keeps
             else store.claim(space, key, method_path, digest, ledger_keeps=ledger_keeps))
    if claim.outcome is Outcome.mismatch:
        used_for = (claim.earlier if claim.earlier != method_path
                    else f"{method_path} with another body")
        raise IdempotencyConflict(f"{KEY_HEADER} {key!r} was already used for a different "
                                  f"request ({used_for}); a new request needs a new key",
                                  key=key)
    if claim.outcome is Outcome.in_flight:
        raise HttpProblem(Status.request_in_flight, f"a request with {KEY_HEADER} {key!r} is "
                          "still running; retry later to get its answer",
                          headers={"Retry-After": "1"})
    if claim.outcome is Outcome.replay:
        if claim.answer is None:
            raise InvariantViolation("a replayed idempotency key has no answer")
        return _replay(key, claim.answer)
    if ledger_keeps:
        answered = False
        try:
            response = await handler(request)
            answered = 200 <= response.status_code < 300
        finally:
            store.release(space, key, method_path, digest, answered)
        response.headers[KEY_HEADER] = key
        if _answers_a_replay(getattr(response, "body", b"")):
            response.headers[REPLAYED_HEADER] = "true"
        return response
    answer: Answer | None = None
    try:
        response = await handler(request)
        kept = getattr(request.state, _STATE_REPLAY_BODY, None) or getattr(response, "body", None)
        if 200 <= response.status_code < 300 and isinstance(kept, bytes):
            answer = Answer(response.status_code,
                            response.headers.get("content-type", "application/json"),
                            kept.decode())
    finally:
        with anyio.CancelScope(shield=True):
            first = await run_in_threadpool(store.finish, space, key, method_path, digest, answer)
    if first is not None:  # another server process answered this request first: send its answer
        return _replay(key, first)
    response.headers[KEY_HEADER] = key
    return response


def _answers_a_replay(body: bytes) -> bool:
    """The answer is the ledger's stored one: its own `replayed` field says so (not a
    `"replayed"` somewhere inside, in metadata say). Parsed only when the text is there."""
    if _REPLAYED_BODY not in body:
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("replayed") is True


def _replay(key: str, answer: Answer) -> Response:
    return Response(content=_replayed_body(answer), status_code=answer.status_code,
                    media_type=answer.content_type,
                    headers={KEY_HEADER: key, REPLAYED_HEADER: "true"})


def _replayed_body(answer: Answer) -> str:
    """The first answer's body, saying it is a replay where it has a `replayed` field."""
    if "json" not in answer.content_type or '"replayed"' not in answer.body:
        return answer.body
    try:
        body = json.loads(answer.body)
    except ValueError:
        return answer.body
    if isinstance(body, dict) and body.get("replayed") is False:
        body["replayed"] = True
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return answer.body
