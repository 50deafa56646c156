"""The HTTP API remembers a checked key for a few seconds (decision 0030)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import jeton
from jeton.core import limits
from jeton.core.clock import SystemClock
from jeton.services.access.api_keys import ApiKeys
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
    with api.store.write() as conn:  # as another process would: only the row changes
        conn.execute(api_keys.update().values(revoked_at_us=1))
    assert api.authenticate_remembered(token) == holder  # still remembered
    later = time.monotonic() + limits.api_key_cache_s + 0.1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert api.remembered(token) is None
    assert api.authenticate_remembered(token) is None
    assert api.authenticate(token) is None
    with api.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar_one() == 1
