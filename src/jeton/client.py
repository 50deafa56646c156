"""`jeton.Client`: a community's methods over the HTTP API, with the same names, parameters,
results and exceptions as `jeton.app.Community`, so code moves from embedded to remote by
changing the line that makes the object:

    chat = jeton.open("sqlite:///jeton.db").community("chat")      # in-process
    chat = jeton.Client("https://credits.example", "jtk_live_...")  # over HTTP

    chat.spend("alice", 3, service="files.download", idempotency_key="dl-1")

Writes require an `idempotency_key`, as in-process; it travels as the `Idempotency-Key` header,
and every retry of the call sends the same one, so a retry never doubles a write. Calls are
retried on timeouts, connection errors, 5xx, 429 and "a request with this key is in flight",
with exponential backoff and jitter, at most `max_retries` times. Errors come back as the same
`jeton.core.errors` exceptions, with the same `status` and `extra` fields.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from jeton.core import limits
from jeton.core.errors import JetonError, error_for
from jeton.core.statuses import Status
from jeton.services.api_keys import ApiKeyCreated, ApiKeyInfo
from jeton.services.results import (
    AccountInfo,
    AssetInfo,
    Balance,
    BatchItem,
    CommunityInfo,
    HoldResult,
    LotInfo,
    MemberInfo,
    Page,
    SpendRequest,
    Split,
    StatementLine,
    TransferResult,
)

M = TypeVar("M", bound=BaseModel)

_KEY_HEADER = "Idempotency-Key"
_REPLAYED_HEADER = "Idempotent-Replayed"
_PROBLEM_FIELDS = frozenset({"type", "title", "status", "detail", "code", "instance"})
_BACKOFF_BASE_S = 0.1
# The actor a Community call records when none is given; the server records the API key then.
_DEFAULT_ACTOR = "system"


class Client:
    """One community over HTTP, through one of its API keys. Thread-safe (one connection pool);
    close it, or use it as a context manager."""

    def __init__(self, base_url: str, api_key: str, *,
                 timeout: float = limits.client_timeout_s_default,
                 max_retries: int = limits.client_retries_max, asset: str = "CREDIT",
                 transport: httpx.BaseTransport | None = None) -> None:
        from jeton import __version__

        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        self.asset = asset
        self.max_retries = max_retries
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {api_key}",
                     "User-Agent": f"jeton-python/{__version__}"})

    def __repr__(self) -> str:
        return f"Client({str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- setup ----

    def info(self) -> CommunityInfo:
        return self._get("/v1/community", CommunityInfo)

    def create_asset(self, code: str, scale: int = 0, name: str = "") -> AssetInfo:
        return self._post("/v1/assets", {"code": code, "scale": scale, "name": name},
                          AssetInfo)

    def assets(self) -> list[AssetInfo]:
        return self._get("/v1/assets", Page[AssetInfo]).data

    def create_account(self, name: str, *, asset: str | None = None) -> AccountInfo:
        return self._post("/v1/accounts", {"name": name, "asset": asset or self.asset},
                          AccountInfo)

    def create_member(self, member_id: str, *, name: str = "", email: str | None = None,
                      metadata: dict[str, Any] | None = None) -> MemberInfo:
        return self._post("/v1/members", {"id": member_id, "name": name, "email": email,
                                          "metadata": metadata or {}}, MemberInfo)

    def get_member(self, member_id: str) -> MemberInfo:
        return self._get(f"/v1/members/{_seg(member_id)}", MemberInfo)

    def list_members(self, *, limit: int = limits.page_size_default,
                     starting_after: str | None = None,
                     search: str | None = None) -> Page[MemberInfo]:
        return self._get("/v1/members", Page[MemberInfo], limit=limit,
                         starting_after=starting_after, search=search)

    def set_credit_line(self, member_id: str, floor: int, *, asset: str | None = None) -> Balance:
        return self._post(f"/v1/members/{_seg(member_id)}/credit_line",
                          {"floor": floor, "asset": asset or self.asset}, Balance)

    # ---- credits ----

    def grant(self, member_id: str, amount: int, *, idempotency_key: str,
              asset: str | None = None, source: str = "grant", paid: bool = False,
              cost_minor: int = 0, cost_currency: str | None = None,
              expires_at: datetime | None = None, priority: int = 0, scope: str | None = None,
              actor: str = _DEFAULT_ACTOR, reason_code: str = "grant", memo: str = "",
              metadata: dict[str, Any] | None = None) -> TransferResult:
        body = {"member": member_id, "amount": amount, "asset": asset or self.asset,
                "source": source, "paid": paid, "cost_minor": cost_minor,
                "cost_currency": cost_currency, "expires_at": expires_at, "priority": priority,
                "scope": scope, "reason_code": reason_code, "memo": memo,
                "metadata": metadata or {}, **_actor(actor)}
        return self._post("/v1/grants", body, TransferResult, idempotency_key)

    def spend(self, member_id: str, amount: int, *, idempotency_key: str,
              asset: str | None = None, service: str | None = None,
              splits: Sequence[Split | dict[str, Any]] = (), actor: str = _DEFAULT_ACTOR,
              reason_code: str = "spend", memo: str = "",
              metadata: dict[str, Any] | None = None) -> TransferResult:
        body = {"member": member_id, "amount": amount, "asset": asset or self.asset,
                "service": service, "splits": _splits(splits), "reason_code": reason_code,
                "memo": memo, "metadata": metadata or {}, **_actor(actor)}
        return self._post("/v1/spends", body, TransferResult, idempotency_key)

    def spend_batch(self, items: Sequence[SpendRequest | dict[str, Any]], *,
                    actor: str = _DEFAULT_ACTOR) -> list[BatchItem]:
        """Each item carries its own idempotency key; the batch request gets one of its own,
        made here, so that retries of this call replay it."""
        body = {"items": [i.model_dump() if isinstance(i, SpendRequest) else dict(i)
                          for i in items], **_actor(actor)}
        return self._post("/v1/spends/batch", body, _BatchResult).data

    def transfer(self, from_member: str, to_member: str, amount: int, *, idempotency_key: str,
                 asset: str | None = None, fee: int | None = None, actor: str = _DEFAULT_ACTOR,
                 memo: str = "", metadata: dict[str, Any] | None = None) -> TransferResult:
        body = {"from_member": from_member, "to_member": to_member, "amount": amount,
                "asset": asset or self.asset, "fee": fee, "memo": memo,
                "metadata": metadata or {}, **_actor(actor)}
        return self._post("/v1/transfers", body, TransferResult, idempotency_key)

    def hold(self, member_id: str, amount: int, *, idempotency_key: str,
             asset: str | None = None, service: str | None = None,
             timeout_s: int = limits.hold_timeout_s_default, actor: str = _DEFAULT_ACTOR,
             metadata: dict[str, Any] | None = None) -> HoldResult:
        body = {"member": member_id, "amount": amount, "asset": asset or self.asset,
                "service": service, "timeout_s": timeout_s, "metadata": metadata or {},
                **_actor(actor)}
        return self._post("/v1/holds", body, HoldResult, idempotency_key)

    def capture(self, hold_id: str, amount: int, *, idempotency_key: str, final: bool = True,
                splits: Sequence[Split | dict[str, Any]] = (), actor: str = _DEFAULT_ACTOR,
                memo: str = "") -> HoldResult:
        body = {"amount": amount, "final": final, "splits": _splits(splits), "memo": memo,
                **_actor(actor)}
        return self._post(f"/v1/holds/{_seg(hold_id)}/capture", body, HoldResult,
                          idempotency_key)

    def void(self, hold_id: str, *, idempotency_key: str,
             actor: str = _DEFAULT_ACTOR) -> HoldResult:
        return self._post(f"/v1/holds/{_seg(hold_id)}/void", _actor(actor), HoldResult,
                          idempotency_key)

    def get_hold(self, hold_id: str) -> HoldResult:
        return self._get(f"/v1/holds/{_seg(hold_id)}", HoldResult)

    def reverse(self, transfer_id: str, *, idempotency_key: str, actor: str = _DEFAULT_ACTOR,
                reason_code: str = "reversal", memo: str = "") -> TransferResult:
        body = {"reason_code": reason_code, "memo": memo, **_actor(actor)}
        return self._post(f"/v1/transfers/{_seg(transfer_id)}/reverse", body, TransferResult,
                          idempotency_key)

    # ---- reads ----

    def balance(self, member_id: str, *, asset: str | None = None) -> Balance:
        return self._get(f"/v1/members/{_seg(member_id)}/balance", Balance,
                         asset=asset or self.asset)

    def account_balance(self, account: str, *, asset: str | None = None) -> Balance:
        """A system or named account: `revenue`, `breakage`, `appstore`..."""
        return self._get(f"/v1/accounts/{_seg(account)}/balance", Balance,
                         asset=asset or self.asset)

    def lots(self, member_id: str, *, asset: str | None = None,
             include_empty: bool = False) -> list[LotInfo]:
        return self._get(f"/v1/members/{_seg(member_id)}/lots", Page[LotInfo],
                         asset=asset or self.asset,
                         include_empty="true" if include_empty else "false").data

    def statement(self, member_id: str, *, asset: str | None = None,
                  limit: int = limits.page_size_default,
                  starting_after: str | None = None) -> Page[StatementLine]:
        return self._get(f"/v1/members/{_seg(member_id)}/statement", Page[StatementLine],
                         asset=asset or self.asset, limit=limit, starting_after=starting_after)

    def get_transfer(self, transfer_id: str) -> TransferResult:
        return self._get(f"/v1/transfers/{_seg(transfer_id)}", TransferResult)

    # ---- API keys (HTTP only: in-process code needs none) ----

    def create_api_key(self, name: str, scopes: Sequence[str], *,
                       idempotency_key: str | None = None) -> ApiKeyCreated:
        return self._post("/v1/api_keys", {"name": name, "scopes": list(scopes)},
                          ApiKeyCreated, idempotency_key)

    def list_api_keys(self, *, limit: int = limits.page_size_default,
                      starting_after: str | None = None) -> Page[ApiKeyInfo]:
        return self._get("/v1/api_keys", Page[ApiKeyInfo], limit=limit,
                         starting_after=starting_after)

    def revoke_api_key(self, key_id: str) -> ApiKeyInfo:
        return self._post(f"/v1/api_keys/{_seg(key_id)}/revoke", {}, ApiKeyInfo)

    # ---- the wire ----

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        query = {k: v for k, v in params.items() if v is not None}
        return self._call("GET", path, model, params=query)

    def _post(self, path: str, body: Mapping[str, Any], model: type[M],
              idempotency_key: str | None = None) -> M:
        key = idempotency_key if idempotency_key is not None else f"py-{uuid.uuid4()}"
        return self._call("POST", path, model, body=to_jsonable_python(dict(body)),
                          headers={_KEY_HEADER: key})

    def _call(self, method: str, path: str, model: type[M], *,
              params: Mapping[str, Any] | None = None, body: Any = None,
              headers: Mapping[str, str] | None = None) -> M:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, params=params, json=body,
                                              headers=headers)
            except httpx.TransportError:  # timeouts, refused or broken connections
                if attempt >= self.max_retries:
                    raise
                self._sleep(attempt, None)
                attempt += 1
                continue
            if response.is_success:
                return _parse(response, model)
            if attempt < self.max_retries and _retryable(response):
                self._sleep(attempt, response.headers.get("retry-after"))
                attempt += 1
                continue
            raise error_from(response)

    @staticmethod
    def _sleep(attempt: int, retry_after: str | None) -> None:
        delay = random.uniform(0, _BACKOFF_BASE_S * 2**attempt)  # full jitter
        if retry_after is not None and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, limits.client_backoff_s_max))


class _BatchResult(BaseModel):
    data: list[BatchItem]


def create_community(base_url: str, operator_token: str, community_id: str, name: str, *,
                     asset: str = "CREDIT", scale: int = 0, key_name: str = "admin",
                     idempotency_key: str | None = None,
                     timeout: float = limits.client_timeout_s_default) -> tuple[Client, str]:
    """Make a community with the operator's token; returns a Client on its new admin key, and
    that key's token (shown this once: keep it)."""
    from jeton.services.operator import CommunityCreated

    with Client(base_url, operator_token, timeout=timeout) as operator:
        created = operator._post("/v1/communities", {
            "id": community_id, "name": name, "asset": asset, "scale": scale,
            "key_name": key_name}, CommunityCreated, idempotency_key)
    token = created.api_key.token
    if token is None:
        raise JetonError("the community was made by an earlier request with this idempotency "
                         "key, whose answer held the key's token", status=Status.already_exists)
    return Client(base_url, token, timeout=timeout, asset=asset), token


def error_from(response: httpx.Response) -> JetonError:
    """The exception a problem response stands for (the same class as in-process)."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict) or "code" not in problem:
        status = Status.internal_error if response.status_code >= 500 else Status.value_invalid
        return JetonError(f"HTTP {response.status_code}: {response.text[:200]}", status=status)
    try:
        status = Status(problem["code"])
    except ValueError:
        return JetonError(str(problem.get("detail", "")), status=Status.declined,
                          code=problem["code"])
    extra = {k: v for k, v in problem.items() if k not in _PROBLEM_FIELDS}
    return error_for(status, str(problem.get("detail", "")), **extra)


def _retryable(response: httpx.Response) -> bool:
    if response.status_code >= 500 or response.status_code == 429:
        return True
    if response.status_code == 409:
        try:
            return bool(response.json().get("code") == Status.request_in_flight.value)
        except (ValueError, AttributeError):
            return False
    return False


def _parse(response: httpx.Response, model: type[M]) -> M:
    result = model.model_validate(response.json())
    if response.headers.get(_REPLAYED_HEADER) == "true" and "replayed" in type(result).model_fields:
        result = result.model_copy(update={"replayed": True})
    return result


def _actor(actor: str) -> dict[str, str]:
    return {} if actor == _DEFAULT_ACTOR else {"actor": actor}


def _splits(splits: Sequence[Split | dict[str, Any]]) -> list[dict[str, Any]]:
    return [s.model_dump(exclude_none=True) if isinstance(s, Split) else dict(s)
            for s in splits]


def _seg(value: str) -> str:
    """One path segment, escaped."""
    return quote(value, safe="")
