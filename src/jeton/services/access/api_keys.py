"""API keys: what a host app presents to the HTTP API, each for one community with scopes.

A key is a random token shown once when it is made:

    jtk_live_<community id, base64url>.<43 characters of randomness>

A key of a community in test mode (its clock is a test clock) starts `jtk_test_` instead, so
whoever reads a token, in code or in a log, sees which kind of community it moves credits in.

The community part lets the server find the key by its primary key's leading column (no lookup
across communities, which a distributed store would fan out to every shard); the random part
(256 bits) is what makes it secret. The store keeps only the SHA-256 digest of the whole token:
a fast hash is enough because nobody can guess 256 random bits, and a slow one (argon2) would
cost every request tens of milliseconds (docs/decisions/0022-api-keys.md).

Scopes say what a key may do; `admin` may do everything. The list is `Scope`, here and nowhere
else: the API's routes, the CLI and the dashboard all read it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import amounts, limits
from jeton.core.clock import Clock, from_us, to_us
from jeton.core.errors import InvalidRequest, NotFound, error_for
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.ledger import clocks
from jeton.services.ledger.results import Page, Result
from jeton.store.engine import Store
from jeton.store.tables.api import api_keys
from jeton.store.tables.ledger import communities

TOKEN_PREFIX = "jtk_live_"  # noqa: S105 (what a token starts with, not a secret)
TEST_TOKEN_PREFIX = "jtk_test_"  # noqa: S105 (the same, for a community in test mode)
_PREFIX_CHARS = len(TOKEN_PREFIX)  # of both prefixes: where the community part starts
_SECRET_BYTES = 32
_S = 1_000_000


class Scope(StrEnum):
    """What an API key may do. Every route of the API requires exactly one of these."""

    admin = "admin"  # everything below, and the community's setup (assets, accounts)
    members_read = "members:read"  # members, their balances, lots and statements
    members_write = "members:write"  # create members
    charges_write = "charges:write"  # spends (charges), single and batched
    credits_write = "credits:write"  # grants, transfers, reversals, credit lines
    holds_write = "holds:write"  # holds: create, capture, void
    reports_read = "reports:read"  # the community, assets, accounts, transfers, holds
    webhooks_write = "webhooks:write"  # webhook endpoints
    keys_write = "keys:write"  # API keys (never more scopes than the key making them)


class ApiKeyInfo(Result):
    id: str
    name: str
    scopes: list[Scope]
    token_hint: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKeyInfo):
    """A new key with its token: the only time the token is ever shown. `None` when the key was
    made earlier by a request with the same idempotency key (the token cannot be shown again)."""

    token: str | None


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """The key a request presented, once checked."""

    community_id: str
    key_id: str
    scopes: frozenset[Scope]

    def may(self, scope: Scope) -> bool:
        return Scope.admin in self.scopes or scope in self.scopes


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def community_of_token(token: str) -> str | None:
    """The community a token names, or None when it is not shaped like one of ours."""
    if not token.startswith((TOKEN_PREFIX, TEST_TOKEN_PREFIX)) or len(token) > 200:
        return None
    encoded, dot, secret = token[_PREFIX_CHARS:].partition(".")
    if not dot or not encoded or not secret:
        return None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _new_token(community_id: str, *, test_mode: bool) -> str:
    encoded = base64.urlsafe_b64encode(community_id.encode()).decode().rstrip("=")
    prefix = TEST_TOKEN_PREFIX if test_mode else TOKEN_PREFIX
    return f"{prefix}{encoded}.{secrets.token_urlsafe(_SECRET_BYTES)}"


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    scopes = set()
    for value in values:
        try:
            scopes.add(Scope(value))
        except ValueError:
            raise InvalidRequest(f"unknown scope {value!r}; scopes are "
                                 f"{', '.join(s.value for s in Scope)}",
                                 status=Status.value_invalid) from None
    if not scopes:
        raise InvalidRequest("a key needs at least one scope", status=Status.value_invalid)
    return frozenset(scopes)


class ApiKeys:
    """API keys of every community in one store. Thread-safe; share one per process."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def create(self, community_id: str, *, name: str, scopes: Iterable[str], created_by: str,
               granter: KeyHolder | None = None,
               idempotency_key: str | None = None) -> ApiKeyCreated:
        """A new key. `granter` is the key asking for it (None: the operator or the CLI); a key
        never makes one with a scope it does not have itself."""
        wanted = parse_scopes(scopes)
        if granter is not None and not all(granter.may(s) for s in wanted):
            missing = sorted(s.value for s in wanted if not granter.may(s))
            raise error_for(Status.scope_missing,
                            f"a key cannot give scopes it does not have: {', '.join(missing)}")
        if not isinstance(name, str) or len(name) > limits.display_name_chars_max:
            raise InvalidRequest(f"name must be at most {limits.display_name_chars_max} "
                                 "characters", status=Status.value_invalid)
        if idempotency_key is not None:
            amounts.idempotency_key(idempotency_key)
        now_us = to_us(self.clock.now())

        def tx(conn: Connection) -> ApiKeyCreated:
            _require_community(conn, community_id)
            token = _new_token(community_id, test_mode=clocks.is_test_mode(conn, community_id))
            row = {"community_id": community_id, "key_id": new_id(), "name": name,
                   "scopes": " ".join(sorted(s.value for s in wanted)),
                   "token_sha256": token_digest(token), "token_hint": _hint(token),
                   "created_by": created_by[:200], "idempotency_key": idempotency_key,
                   "created_at_us": now_us, "last_used_at_us": None, "revoked_at_us": None}
            if idempotency_key is not None:
                earlier = conn.execute(sa.select(api_keys).where(
                    api_keys.c.community_id == community_id,
                    api_keys.c.idempotency_key == idempotency_key)).mappings().first()
                if earlier is not None:
                    return ApiKeyCreated(**_info(earlier).model_dump(), token=None)
            count = conn.execute(sa.select(sa.func.count()).select_from(api_keys).where(
                api_keys.c.community_id == community_id)).scalar_one()
            if count >= limits.api_keys_per_community_max:
                raise error_for(Status.limit_exceeded, "a community has at most "
                                f"{limits.api_keys_per_community_max} keys")
            conn.execute(api_keys.insert().values(**row))
            return ApiKeyCreated(**_info(row).model_dump(), token=token)

        return self.store.run_write(tx)

    def find(self, community_id: str, idempotency_key: str) -> ApiKeyInfo | None:
        """The key a request with this idempotency key made, if one did."""
        with self.store.read() as conn:
            row = conn.execute(sa.select(api_keys).where(
                api_keys.c.community_id == community_id,
                api_keys.c.idempotency_key == idempotency_key)).mappings().first()
        return None if row is None else _info(row)

    def get(self, community_id: str, key_id: str) -> ApiKeyInfo:
        with self.store.read() as conn:
            row = conn.execute(sa.select(api_keys).where(
                api_keys.c.community_id == community_id,
                api_keys.c.key_id == key_id)).mappings().first()
        if row is None:
            raise NotFound(f"no API key {key_id!r}", status=Status.not_found)
        return _info(row)

    def list(self, community_id: str, *, limit: int = limits.page_size_default,
             starting_after: str | None = None) -> Page[ApiKeyInfo]:
        """Keys oldest first (ids are time-ordered), revoked ones included."""
        if type(limit) is not int or not 1 <= limit <= limits.page_size_max:
            raise InvalidRequest(f"limit must be 1-{limits.page_size_max}",
                                 status=Status.value_invalid)
        stmt = sa.select(api_keys).where(api_keys.c.community_id == community_id)
        if starting_after:
            stmt = stmt.where(api_keys.c.key_id > starting_after)
        with self.store.read() as conn:
            rows = conn.execute(stmt.order_by(api_keys.c.key_id).limit(limit + 1)).mappings().all()
        data = [_info(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)

    def revoke(self, community_id: str, key_id: str) -> ApiKeyInfo:
        """Stop a key from working, for good: at once in this process, within `api_key_cache_s` in
        the other server processes. Revoking a revoked key changes nothing."""
        now_us = to_us(self.clock.now())

        def tx(conn: Connection) -> None:
            found = conn.execute(sa.select(api_keys.c.revoked_at_us).where(
                api_keys.c.community_id == community_id,
                api_keys.c.key_id == key_id)).first()
            if found is None:
                raise NotFound(f"no API key {key_id!r}", status=Status.not_found)
            if found[0] is None:
                conn.execute(api_keys.update().where(
                    api_keys.c.community_id == community_id,
                    api_keys.c.key_id == key_id).values(revoked_at_us=now_us))

        self.store.run_write(tx)
        for cached, (holder, _) in list(_REMEMBERED.items()):
            if cached[0] == self.store.url and holder.key_id == key_id:
                _REMEMBERED.pop(cached, None)
        return self.get(community_id, key_id)

    def remembered(self, token: str) -> KeyHolder | None:
        """The key behind `token` if it was checked in the last `api_key_cache_s` (no I/O)."""
        hit = _REMEMBERED.get((self.store.url, token_digest(token)))
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def authenticate_remembered(self, token: str) -> KeyHolder | None:
        """`authenticate`, remembered for `api_key_cache_s`. Revoking a key forgets it in this
        process at once (decision 0030)."""
        holder = self.remembered(token)
        if holder is not None:
            return holder
        return self.check(token)

    def recall(self, token: str) -> tuple[KeyHolder | None, bool]:
        """`remembered`, and whether the key is due to be checked again (`check`): once a
        third of its time has gone, ahead of its memory running out, so that under steady use a
        key is never forgotten and no request waits on its check (decision 0102). Who checks,
        and that one check runs at a time, is the caller's to arrange (`api/auth.py`)."""
        hit = _REMEMBERED.get((self.store.url, token_digest(token)))
        left = hit[1] - time.monotonic() if hit is not None else 0.0
        if hit is None or left <= 0:
            return None, False
        return hit[0], left <= limits.api_key_cache_s * _CHECK_AGAIN_WITH_LEFT

    def check(self, token: str) -> KeyHolder | None:
        """Check the key behind `token` now: remember it anew for a whole `api_key_cache_s`, or
        forget it when it was revoked or removed. A failed check (the database unreachable)
        raises and changes nothing: a key still remembered stays so until its time runs out."""
        holder = self.authenticate(token)
        digest = token_digest(token)
        if holder is None:
            _REMEMBERED.pop((self.store.url, digest), None)
            return None
        if len(_REMEMBERED) >= limits.api_key_cache_entries_max:
            _REMEMBERED.clear()
        _REMEMBERED[(self.store.url, digest)] = (holder, time.monotonic() + limits.api_key_cache_s)
        return holder

    def authenticate(self, token: str) -> KeyHolder | None:
        """The live key behind `token`, or None. Notes when it was used, once a minute at most."""
        community_id = community_of_token(token)
        if community_id is None:
            return None
        digest = token_digest(token)
        with self.store.read() as conn:
            row = conn.execute(sa.select(api_keys.c.key_id, api_keys.c.scopes,
                                         api_keys.c.last_used_at_us, api_keys.c.revoked_at_us)
                               .where(api_keys.c.community_id == community_id,
                                      api_keys.c.token_sha256 == digest)).first()
        # The lookup is by digest: its timing could only tell an attacker about digests, which
        # they cannot steer, never about the token itself.
        if row is None or row[3] is not None:
            return None
        key_id, scopes, last_used_us, _ = row
        now_us = to_us(self.clock.now())
        if last_used_us is None or now_us - last_used_us >= limits.api_key_touch_s * _S:
            self._touch(community_id, key_id, now_us)
        return KeyHolder(community_id, key_id,
                         frozenset(Scope(s) for s in scopes.split() if s in _SCOPE_VALUES))

    def _touch(self, community_id: str, key_id: str, now_us: int) -> None:
        def tx(conn: Connection) -> None:
            conn.execute(api_keys.update().where(
                api_keys.c.community_id == community_id, api_keys.c.key_id == key_id,
                sa.or_(api_keys.c.last_used_at_us.is_(None),
                       api_keys.c.last_used_at_us < now_us)).values(last_used_at_us=now_us))

        self.store.run_write(tx)


_SCOPE_VALUES = frozenset(s.value for s in Scope)
# Keys the HTTP API checked lately: (store URL, token digest) -> (the key, until when).
_REMEMBERED: dict[tuple[str, str], tuple[KeyHolder, float]] = {}
# A remembered key is checked again once this share of its time is left: two thirds, so a
# check slowed by a busy process (seconds, seen under load) still ends before the memory does.
_CHECK_AGAIN_WITH_LEFT = 2 / 3


def _hint(token: str) -> str:
    return f"{token[:_PREFIX_CHARS]}…{token[-4:]}"


def _info(row: RowMapping | Mapping[str, Any]) -> ApiKeyInfo:
    def when(us: int | None) -> datetime | None:
        return None if us is None else from_us(us)

    return ApiKeyInfo(id=row["key_id"], name=row["name"],
                      scopes=sorted(Scope(s) for s in row["scopes"].split() if s in _SCOPE_VALUES),
                      token_hint=row["token_hint"], created_by=row["created_by"],
                      created_at=from_us(row["created_at_us"]),
                      last_used_at=when(row["last_used_at_us"]),
                      revoked_at=when(row["revoked_at_us"]))


def _require_community(conn: Connection, community_id: str) -> None:
    found = conn.execute(sa.select(communities.c.community_id).where(
        communities.c.community_id == community_id)).first()
    if found is None:
        raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)
