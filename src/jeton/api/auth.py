"""Who is calling, and may they: API keys with scopes, and the operator's token.

Every route of the API declares what it needs with one parameter, and gets the caller:

    @router.post("/spends", status_code=201)
    def spend(body: SpendBody, caller: Annotated[Caller, requires(Scope.charges_write)],
              key: IdempotencyKey) -> TransferResult: ...

`ApiRoute` (routing.py) reads that declaration, checks the `Authorization: Bearer` token and the
scope before anything else runs (and before an idempotency key is claimed), and refuses to build
a route that declares none. A key only ever reaches its own community: every read and write is
made through `caller.community`, so another community's objects are simply not found (404).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from jeton.api.context import ApiContext, api_context
from jeton.api.problems import HttpProblem
from jeton.app import Community
from jeton.core.errors import InvariantViolation
from jeton.core.statuses import Status
from jeton.services.access.api_keys import ApiKeys, KeyHolder, Scope, token_digest

OPERATOR: Literal["operator"] = "operator"
Requirement = Scope | Literal["operator"]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="jeton"'}
_log = logging.getLogger(__name__)

api_key_scheme = HTTPBearer(
    scheme_name="ApiKey", auto_error=False,
    description="A community's API key: `Authorization: Bearer jtk_live_...`.")
operator_scheme = HTTPBearer(
    scheme_name="OperatorToken", auto_error=False,
    description="The operator's token (JETON_OPERATOR_TOKEN): creates communities.")


@dataclass(frozen=True, slots=True)
class Principal:
    """A checked credential: a community's key, or the operator (`key` is None)."""

    key: KeyHolder | None

    @property
    def community_id(self) -> str | None:
        return self.key.community_id if self.key else None

    @property
    def rate_key(self) -> str:
        """Whose bucket a request takes from."""
        return f"key:{self.key.key_id}" if self.key else OPERATOR


# Where `run_idempotent` leaves a POST's idempotency key on the request's state.
IDEMPOTENCY_KEY_STATE = "idempotency_key"


@dataclass(frozen=True, slots=True)
class Caller:
    """What a route gets from `requires(...)`: who calls, and the community they act on."""

    principal: Principal
    ctx: ApiContext
    posted_key: str | None = None  # a POST's idempotency key (see `idempotency_key`)

    @property
    def key(self) -> KeyHolder:
        if self.principal.key is None:
            raise InvariantViolation("a community route was reached with the operator token")
        return self.principal.key

    @property
    def community(self) -> Community:
        return Community(self.ctx.jeton, self.key.community_id)

    @property
    def idempotency_key(self) -> str:
        """A POST's idempotency key, as `key: IdempotencyKey` gives it, without a dependency of
        its own: FastAPI spends tens of microseconds on each dependency of a request, which
        the busiest route (`POST /v1/charges`) saves this way."""
        if self.posted_key is None:
            raise InvariantViolation("an idempotency key was asked for outside a POST of an "
                                     "ApiRoute")
        return self.posted_key

    def actor(self, on_behalf_of: str | None = None) -> str:
        """The audit's `actor`: always the key; the host app may add who it acted for."""
        who = "operator" if self.principal.key is None else f"api_key:{self.key.key_id}"
        return f"{who}/{on_behalf_of}" if on_behalf_of else who


async def authenticate(ctx: ApiContext, authorization: str | None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HttpProblem(Status.unauthenticated,
                          "send the API key as `Authorization: Bearer <key>`", headers=_CHALLENGE)
    if ctx.operator_token and hmac.compare_digest(token.encode(), ctx.operator_token.encode()):
        return Principal(None)
    holder, due = ctx.keys.recall(token)  # most requests: no database, no thread
    if holder is None:
        # Shielded: a request that goes away (its client hung up) does not cancel the check
        # the others wait for.
        holder = await asyncio.shield(_check(ctx.keys, token))
    elif due:  # ahead of its time, off this request's path
        _check(ctx.keys, token)
    if holder is None:
        raise HttpProblem(Status.unauthenticated, "the API key is not valid or was revoked",
                          headers=_CHALLENGE)
    return Principal(holder)


# The checks of keys under way, by store and token digest: one at a time per key in a process,
# whether it started ahead of the key's time or because a request met a key no longer
# remembered; every request that meets the key forgotten meanwhile waits for that one check
# (decision 0102). The map also keeps each task until it ends (the event loop keeps only a weak
# reference to a task).
_CHECKING: dict[tuple[str, str], asyncio.Task[KeyHolder | None]] = {}


def _check(keys: ApiKeys, token: str) -> asyncio.Task[KeyHolder | None]:
    """The check of `token`'s key under way in this event loop, started if there is none."""
    loop = asyncio.get_running_loop()
    flight = (keys.store.url, token_digest(token))
    task = _CHECKING.get(flight)
    if task is None or task.get_loop() is not loop:  # a test's other event loop: its own check
        task = _CHECKING[flight] = loop.create_task(run_in_threadpool(keys.check, token))
        task.add_done_callback(partial(_landed, flight))
    return task


def _landed(flight: tuple[str, str], task: asyncio.Task[KeyHolder | None]) -> None:
    if _CHECKING.get(flight) is task:
        del _CHECKING[flight]
    error = None if task.cancelled() else task.exception()
    if error is not None:  # a request waiting for it answers 500; a key remembered stays so
        _log.warning("checking an API key failed; a key still remembered stays so until its "
                     "time runs out", exc_info=error)


def authorize(principal: Principal, requirement: Requirement, operator_enabled: bool) -> None:
    if requirement == OPERATOR:
        if principal.key is not None:
            detail = ("this needs the operator token, not a community's API key"
                      if operator_enabled else
                      "the operator API is off: set JETON_OPERATOR_TOKEN on the server")
            raise HttpProblem(Status.scope_missing, detail)
        return
    if principal.key is None:
        raise HttpProblem(Status.scope_missing, "the operator token only creates communities; "
                          "use one of the community's API keys")
    if not principal.key.may(requirement):
        raise HttpProblem(Status.scope_missing, f"this needs an API key with the "
                          f"{requirement.value!r} scope (or 'admin')", scope=requirement.value)


class Requires:
    """The dependency `requires()` makes. `ApiRoute` has checked the caller before it runs."""

    def __init__(self, requirement: Requirement) -> None:
        self.requirement = requirement

    def caller(self, request: Request) -> Caller:
        principal = getattr(request.state, "principal", None)
        if not isinstance(principal, Principal):
            raise InvariantViolation("requires() ran on a route that is not an ApiRoute")
        key = getattr(request.state, IDEMPOTENCY_KEY_STATE, None)
        return Caller(principal, api_context(request), key if isinstance(key, str) else None)


# The bearer schemes only describe the token in the OpenAPI document; ApiRoute has checked it.
# The dependencies are async only so that FastAPI runs them inline, not on a worker thread.
class _RequiresKey(Requires):
    async def __call__(self, request: Request, _credentials: Annotated[
            HTTPAuthorizationCredentials | None, Security(api_key_scheme)]) -> Caller:
        return self.caller(request)


class _RequiresOperator(Requires):
    async def __call__(self, request: Request, _credentials: Annotated[
            HTTPAuthorizationCredentials | None, Security(operator_scheme)]) -> Caller:
        return self.caller(request)


def requires(requirement: Requirement) -> Any:
    """Declare what a route needs: a scope, or `OPERATOR`. Use as the `Caller` parameter's
    annotation: `caller: Annotated[Caller, requires(Scope.members_read)]`."""
    if requirement == OPERATOR:
        return Depends(_RequiresOperator(requirement))
    return Depends(_RequiresKey(Scope(requirement)))
