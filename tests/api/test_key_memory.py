"""The HTTP API remembers a checked key for a few seconds (decision 0030), and checks it again
ahead of that time, off the request's path (decision 0102)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import sqlalchemy as sa

import jeton
from api.conftest import LiveServer
from jeton.api import auth as auth_module
from jeton.api.auth import Principal, authenticate
from jeton.api.problems import HttpProblem
from jeton.core import limits
from jeton.core.clock import SystemClock
from jeton.core.statuses import Status
from jeton.services.access import api_keys as keys_module
from jeton.services.access.api_keys import ApiKeys, KeyHolder
from jeton.store.engine import Store
from jeton.store.tables.api import api_keys


@pytest.fixture
def keys(tmp_path: Path) -> tuple[ApiKeys, str]:
    store = Store(f"sqlite:///{tmp_path / 'keys.db'}")
    store.create_schema()
    jeton.Jeton(store).create_community("Chat", community_id="chat")
    made = ApiKeys(store, SystemClock()).create("chat", name="backend", scopes=["admin"],
                                                created_by="test")
    assert made.token is not None
    return ApiKeys(store, SystemClock()), made.token


def _revoke_elsewhere(store: Store) -> None:
    """Revoke every key as another process would: only the row changes."""
    with store.write() as conn:
        conn.execute(api_keys.update().values(revoked_at_us=1))


def test_a_key_revoked_here_stops_at_once(keys: tuple[ApiKeys, str]) -> None:
    api, token = keys
    holder = api.authenticate_remembered(token)
    assert holder is not None
    assert api.remembered(token) == holder
    # Revoked through another instance of this process (the dashboard's, say).
    ApiKeys(api.store, SystemClock()).revoke("chat", holder.key_id)
    assert api.remembered(token) is None
    assert api.authenticate_remembered(token) is None


def test_a_key_revoked_elsewhere_stops_within_the_memory_time(
        keys: tuple[ApiKeys, str], monkeypatch: pytest.MonkeyPatch) -> None:
    api, token = keys
    holder = api.authenticate_remembered(token)
    assert holder is not None
    _revoke_elsewhere(api.store)
    assert api.authenticate_remembered(token) == holder  # still remembered
    later = time.monotonic() + limits.api_key_cache_s + 0.1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert api.remembered(token) is None
    assert api.authenticate_remembered(token) is None
    assert api.authenticate(token) is None
    with api.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one() == 1


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    now = time.monotonic() + seconds
    monkeypatch.setattr(time, "monotonic", lambda: now)


def test_a_key_past_a_third_of_its_time_is_due_to_be_checked_again(
        keys: tuple[ApiKeys, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Under steady use the key is checked again ahead of its time and stays remembered: no
    request waits on the database for it (decision 0102)."""
    api, token = keys
    holder = api.authenticate_remembered(token)
    assert holder is not None
    assert api.recall(token) == (holder, False)  # fresh: nothing to do
    _later(monkeypatch, limits.api_key_cache_s * 0.3)
    assert api.recall(token) == (holder, False)
    _later(monkeypatch, limits.api_key_cache_s * 0.4)
    assert api.recall(token) == (holder, True)
    assert api.check(token) == holder
    assert api.recall(token) == (holder, False)  # remembered anew, for a whole time again
    _later(monkeypatch, limits.api_key_cache_s * 0.9)  # past the first memory's end
    assert api.remembered(token) == holder


def test_a_key_revoked_elsewhere_is_forgotten_when_checked_again(
        keys: tuple[ApiKeys, str], monkeypatch: pytest.MonkeyPatch) -> None:
    api, token = keys
    assert api.authenticate_remembered(token) is not None
    _revoke_elsewhere(api.store)
    _later(monkeypatch, limits.api_key_cache_s * 0.6)
    assert api.recall(token)[1]
    assert api.check(token) is None
    assert api.recall(token) == (None, False)
    assert api.authenticate_remembered(token) is None


def _unreachable(_token: str) -> None:
    raise sa.exc.OperationalError("SELECT", {}, Exception("the database is down"))


def test_a_failed_check_leaves_the_key_to_its_time(
        keys: tuple[ApiKeys, str], monkeypatch: pytest.MonkeyPatch) -> None:
    api, token = keys
    holder = api.authenticate_remembered(token)
    _later(monkeypatch, limits.api_key_cache_s * 0.6)
    assert api.recall(token) == (holder, True)
    monkeypatch.setattr(api, "authenticate", _unreachable)
    with pytest.raises(sa.exc.OperationalError):
        api.check(token)
    assert api.recall(token) == (holder, True)  # until its time runs out; the next may try


def test_a_check_ahead_of_time_that_fails_is_logged_and_the_key_answers_still(
        keys: tuple[ApiKeys, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    api, token = keys
    holder = api.authenticate_remembered(token)
    monkeypatch.setattr(api, "authenticate", _unreachable)
    # Time moves for the keys' module only: the event loop's own clock must run.
    monkeypatch.setattr(keys_module, "time", SimpleNamespace(
        monotonic=lambda: time.monotonic() + limits.api_key_cache_s * 0.6))
    ctx = SimpleNamespace(operator_token=None, keys=api)

    async def twice() -> list[Principal]:
        first = await authenticate(ctx, f"Bearer {token}")  # type: ignore[arg-type]
        # the check it started in the background fails; wait for it to end
        await asyncio.gather(*auth_module._CHECKING.values(), return_exceptions=True)
        return [first, await authenticate(ctx, f"Bearer {token}")]  # type: ignore[arg-type]

    assert [p.key for p in asyncio.run(twice())] == [holder, holder]
    assert "checking an API key failed" in caplog.text


def test_the_api_checks_a_key_again_while_answering_from_memory(
        live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past a third of its time a remembered key still answers at once, and the check that follows
    in the background forgets it if it was revoked elsewhere: the next requests are refused."""
    headers = {"Authorization": f"Bearer {live_server.api_key}"}
    with httpx.Client(base_url=live_server.base_url, headers=headers, timeout=10) as http:
        assert http.post("/v1/ping", json={"message": "hi"}).status_code == 200
        _revoke_elsewhere(live_server.jeton.store)
        shift = limits.api_key_cache_s * 0.55  # past a third of its time, 2.25 s left
        monkeypatch.setattr(keys_module, "time", SimpleNamespace(
            monotonic=lambda: time.monotonic() + shift))
        assert http.post("/v1/ping", json={"message": "hi"}).status_code == 200  # from memory
        # Refused well before the memory would have run out by itself.
        deadline = time.monotonic() + (limits.api_key_cache_s - shift) * 2 / 3
        while http.post("/v1/ping", json={"message": "hi"}).status_code == 200:
            assert time.monotonic() < deadline, "the key was not checked again ahead of time"
            time.sleep(0.05)
        assert http.post("/v1/ping", json={"message": "hi"}).status_code == 401


def test_requests_meeting_a_key_not_remembered_share_one_check(
        keys: tuple[ApiKeys, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """When a key's memory has run out, the requests of a process that meet it at once wait for
    one check of it instead of each reading it on a worker thread (decision 0102)."""
    api, token = keys
    checks: list[str] = []
    check = api.authenticate

    def slow_check(t: str) -> KeyHolder | None:
        checks.append(t)
        time.sleep(0.2)  # a check slowed by a busy process: the others arrive meanwhile
        return check(t)

    monkeypatch.setattr(api, "authenticate", slow_check)
    ctx = SimpleNamespace(operator_token=None, keys=api)

    async def burst(n: int) -> list[Principal]:
        return await asyncio.gather(*(authenticate(ctx, f"Bearer {token}")  # type: ignore[arg-type]
                                      for _ in range(n)))

    principals = asyncio.run(burst(20))
    assert len(checks) == 1
    assert {p.key for p in principals} == {api.remembered(token)} != {None}
    _later(monkeypatch, limits.api_key_cache_s + 0.1)  # forgotten again: the next burst too
    _revoke_elsewhere(api.store)

    async def refused(n: int) -> list[BaseException | Principal]:
        return await asyncio.gather(*(authenticate(ctx, f"Bearer {token}")  # type: ignore[arg-type]
                                      for _ in range(n)), return_exceptions=True)

    answers = asyncio.run(refused(20))
    assert len(checks) == 2
    assert all(isinstance(a, HttpProblem) and a.status == Status.unauthenticated for a in answers)


def test_a_request_meeting_a_key_forgotten_during_its_check_waits_for_that_check(
        keys: tuple[ApiKeys, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A check ahead of time is under way when the key's memory runs out: the requests that meet
    it then wait for that check rather than starting another (decision 0102)."""
    api, token = keys
    checks: list[str] = []
    check = api.authenticate

    def slow_check(t: str) -> KeyHolder | None:
        checks.append(t)
        time.sleep(0.2)
        return check(t)

    assert api.authenticate_remembered(token) is not None
    monkeypatch.setattr(api, "authenticate", slow_check)
    ctx = SimpleNamespace(operator_token=None, keys=api)
    shift = [limits.api_key_cache_s * 0.6]  # due to be checked again
    monkeypatch.setattr(keys_module, "time", SimpleNamespace(
        monotonic=lambda: time.monotonic() + shift[0]))

    async def due_then_forgotten(n: int) -> list[Principal]:
        first = await authenticate(ctx, f"Bearer {token}")  # type: ignore[arg-type]
        shift[0] = limits.api_key_cache_s + 0.1  # the memory runs out during the check
        rest = await asyncio.gather(*(authenticate(ctx, f"Bearer {token}")  # type: ignore[arg-type]
                                      for _ in range(n)))
        return [first, *rest]

    principals = asyncio.run(due_then_forgotten(20))
    assert len(checks) == 1
    assert {p.key for p in principals} == {api.remembered(token)} != {None}
