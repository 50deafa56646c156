"""SQLite: a writer connection reuses what its own last write left (services/ledger/cache.py),
and never once anything else has written: another connection, another process, a write of its
own outside the ledger, or a write that failed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

import jeton
from conftest import check_invariants, make_sqlite_store
from jeton.core.errors import InsufficientCredits, JetonError
from jeton.services.bench.charging import CATALOG
from jeton.services.ledger.cache import WriterCache
from jeton.services.ledger.workset import WorkSet
from jeton.store.engine import WRITER_CACHE, Store
from jeton.store.tables.ledger import lots


def _community(store: Store) -> jeton.Community:
    c = jeton.Jeton(store).create_community("Cache", "cache")
    for m in ("alice", "bob"):
        c.create_member(m)
    c.grant("alice", 10, idempotency_key="seed")
    return c


def _cached_wallets(store: Store) -> set[str]:
    found: set[str] = set()
    for conn in store._writers.values():
        cache = conn.info.get(WRITER_CACHE)
        if isinstance(cache, WriterCache):
            found |= {aid for _, aid in cache.wallets}
    return found


def test_a_spend_keeps_its_wallet_for_the_next_and_the_figures_stay_exact(
        tmp_path: Path) -> None:
    store = make_sqlite_store(tmp_path / "j.db")
    c = _community(store)
    for i in range(5):
        c.spend("alice", 1, idempotency_key=f"s{i}")
    assert "wallet:alice:CREDIT" in _cached_wallets(store)
    assert c.balance("alice").posted == 5
    with pytest.raises(InsufficientCredits):
        c.spend("alice", 6, idempotency_key="too-much")
    c.spend("alice", 5, idempotency_key="the-rest")
    assert c.balance("alice").posted == 0
    check_invariants(store)
    store.dispose()


def test_a_grant_by_another_connection_is_seen_by_the_next_spend(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = make_sqlite_store(path)
    c = _community(store)
    c.spend("alice", 10, idempotency_key="all")  # the cache now says: nothing left
    other = Store(f"sqlite:///{path}")
    jeton.Jeton(other).community("cache").grant("alice", 7, idempotency_key="elsewhere")
    other.dispose()
    assert c.spend("alice", 7, idempotency_key="after").balance_after == 0
    check_invariants(store)
    store.dispose()


def test_a_grant_by_another_process_is_seen_by_the_next_spend(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = make_sqlite_store(path)
    c = _community(store)
    c.spend("alice", 10, idempotency_key="all")
    script = ("import jeton; from jeton.store.engine import Store; "
              f"s = Store('sqlite:///{path}'); "
              "jeton.Jeton(s).community('cache').grant('alice', 3, idempotency_key='proc'); "
              "s.dispose()")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert c.spend("alice", 3, idempotency_key="after").balance_after == 0
    check_invariants(store)
    store.dispose()


def test_a_freeze_made_after_a_spend_stops_the_next_one(tmp_path: Path) -> None:
    store = make_sqlite_store(tmp_path / "j.db")
    c = _community(store)
    c.spend("alice", 1, idempotency_key="before")  # the guard's answer (not frozen) is kept
    c.freeze_wallet("alice", reason="abuse", actor="staff")
    with pytest.raises(JetonError) as refused:
        c.spend("alice", 1, idempotency_key="frozen")
    assert refused.value.status.value == "wallet_frozen"
    c.unfreeze_wallet("alice", reason="cleared", actor="staff")
    assert c.spend("alice", 1, idempotency_key="again").balance_after == 8
    check_invariants(store)
    store.dispose()


def test_a_write_undone_after_its_flush_leaves_nothing_in_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_sqlite_store(tmp_path / "j.db")
    c = _community(store)
    c.spend("alice", 1, idempotency_key="warm")
    flush = WorkSet.flush

    def flush_then_fail(self: WorkSet, *, commit: bool = False) -> None:
        flush(self, commit=commit)  # the rows are written and the cache brought up to date
        raise RuntimeError("the transaction fails before its commit")

    monkeypatch.setattr(WorkSet, "flush", flush_then_fail)
    with pytest.raises(RuntimeError):
        c.spend("alice", 4, idempotency_key="undone")
    monkeypatch.setattr(WorkSet, "flush", flush)
    assert _cached_wallets(store) == set()
    assert c.balance("alice").posted == 9
    assert c.spend("alice", 9, idempotency_key="all-of-it").balance_after == 0
    check_invariants(store)
    store.dispose()


def _reads_of(store: Store, write: object) -> list[str]:
    """The SELECTs the writer connections ran for `write`."""
    assert callable(write)
    seen: list[str] = []
    raws = [conn.connection.driver_connection for conn in store._writers.values()]
    for raw in raws:
        raw.set_trace_callback(seen.append)
    try:
        write()
    finally:
        for raw in raws:
            raw.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


def test_a_royalty_keeps_the_uploaders_wallet_and_the_lots_a_credit_touches(
        tmp_path: Path) -> None:
    """The next royalty to the same uploader reads neither its wallet nor its lots again; a
    spend of the uploader's own, which drains the royalty lot, and the royalties after it find
    that lot (one royalty lot in the end) and keep every figure exact."""
    store = make_sqlite_store(tmp_path / "j.db")
    c = jeton.Jeton(store).create_community("Cache", "cache")
    c.create_account("appstore")
    for m in ("buyer", "uploader"):
        c.create_member(m)
    c.load_catalog(CATALOG, "toml")
    c.grant("buyer", 1_000, idempotency_key="seed")
    c.grant("uploader", 5, idempotency_key="seed-up", paid=True, cost_minor=50,
            cost_currency="EUR")  # a lot of its own, which no credit touches

    def charge(key: str) -> None:
        c.charge("buyer", "bench.download", 10 * 1024, context={"uploader": "uploader"},
                 idempotency_key=key)

    charge("c1")
    uploader = "wallet:uploader:CREDIT"
    assert any(aid == uploader for _, aid in _cache(store).credited)
    reads = _reads_of(store, lambda: charge("c2"))
    assert any("idempotency_keys" in r for r in reads), reads  # the write's connection is seen
    assert not [r for r in reads if "uploader" in r and ("FROM accounts" in r
                                                         or "FROM lots" in r)], reads
    assert c.balance("uploader").posted == 5 + 2 * 6  # 30 % of each 20 credits
    c.spend("uploader", 17, idempotency_key="all-of-it")  # the royalty lot drained too
    # kept as the spend left it: nothing left, the drained royalty lot still there to credit
    row, lot_rows = _cache(store).credited[("cache", uploader)]
    assert row[6] == 0
    assert [(lot[2], lot[7]) for lot in lot_rows] == [("royalty", 0)]
    for i in range(3):
        charge(f"after-{i}")
    assert c.balance("uploader").posted == 3 * 6
    assert c.balance("buyer").posted == 1_000 - 5 * 20
    with store.read() as conn:
        royalty_lots = conn.execute(sa.select(sa.func.count()).select_from(lots).where(
            lots.c.account_id == uploader, lots.c.source == "royalty")).scalar()
    assert royalty_lots == 1
    check_invariants(store)
    store.dispose()


def _cache(store: Store) -> WriterCache:
    found = [conn.info[WRITER_CACHE] for conn in store._writers.values()
             if isinstance(conn.info.get(WRITER_CACHE), WriterCache)]
    assert len(found) == 1
    return found[0]
