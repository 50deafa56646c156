"""A charge's royalty credits its uploader without holding the uploader's wallet across the
write (PostgreSQL and Citus, decision 0097): the wallet's lock is taken by the commit's own
round trip. Whatever would need the lock earlier sends the write down the locked path, and
nothing is lost or doubled either way."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import check_invariants

import jeton
from jeton.services.ledger import sqlspend
from jeton.services.ledger.workset import WorkSet
from jeton.store.engine import Store

ROYALTY = """
[services."files.download"]
name = "File download"
credits = 10
splits = [{ to = "party:uploader", share_bp = 3000 }]
"""
UPLOADER = {"uploader": "uma"}


@pytest.fixture
def pg(server_store: Store) -> Store:
    """PostgreSQL, then Citus."""
    return server_store


@pytest.fixture
def library(pg: Store) -> jeton.Community:
    c = jeton.Jeton(pg).create_community("Library", "library")
    c.load_catalog(ROYALTY, "toml")
    c.create_member("uma")
    for m in ("ann", "bob"):
        c.create_member(m)
        c.grant(m, 1000, idempotency_key=f"g-{m}")
    return c


def _royalty_lots(c: jeton.Community) -> list[Any]:
    return [lot for lot in c.lots("uma", include_empty=True) if lot.source == "royalty"]


def _download(c: jeton.Community, member: str, key: str) -> jeton.ChargeReceipt:
    return c.charge(member, "files.download", context=UPLOADER, idempotency_key=key)


@pytest.mark.parametrize("buyers_alert", [False, True])
def test_a_charge_waits_for_the_uploaders_wallet_only_in_its_commit(
        library: jeton.Community, pg: Store, buyers_alert: bool) -> None:
    """With the uploader's wallet locked elsewhere, a charge gets through its first round
    trip (the buyer's wallet, the key, the snapshot) and waits in the statement that credits
    the uploader; once the lock is let go it commits, and the uploader has the royalty. A
    low-balance alert of the buyer's changes nothing of that. (On Citus the wait is on the
    worker: the coordinator's view says nothing of it.)"""
    if sqlspend.is_citus(pg):
        pytest.skip("the statement waits on the worker; the coordinator sees none")
    if buyers_alert:
        library.set_low_balance_threshold("bob", 995)
    _download(library, "ann", "first")  # the uploader's wallet and royalty lot exist now
    done: list[jeton.ChargeReceipt] = []
    with pg.engine.connect() as holder, \
            pg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        holder.execute(sa.text("SELECT 1 FROM accounts WHERE community_id = 'library' AND "
                               "account_id = 'wallet:uma:CREDIT' FOR UPDATE"))
        holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        t = threading.Thread(target=lambda: done.append(_download(library, "bob", "second")))
        t.start()
        waiting = ""
        for _ in range(250):
            # Only a session the holder blocks: other tests' sessions (another worker's schema
            # in the same database) may be waiting on locks of their own meanwhile.
            waiting = watcher.execute(sa.text(
                "SELECT query FROM pg_stat_activity "
                "WHERE CAST(:holder AS integer) = ANY (pg_blocking_pids(pid))"),
                {"holder": holder_pid}).scalar() or ""
            if waiting:
                break
            time.sleep(0.02)
        holder.rollback()
        t.join(10)
    assert "WITH credited AS" in waiting  # not the first round trip's locking read
    assert done
    assert done[0].charged == 10
    assert library.balance("uma").posted == 6
    assert len(_royalty_lots(library)) == 1
    if buyers_alert:  # 1000 - 10 = 990: below 995, sent once
        alert = library.low_balance_alert("bob")
        assert alert is not None
        assert not alert.armed
    check_invariants(pg)


def test_many_buyers_pay_one_uploader_at_once_and_every_royalty_lands(
        library: jeton.Community, pg: Store) -> None:
    members = [f"m{i}" for i in range(8)]
    for m in members:
        library.create_member(m)
        library.grant(m, 1000, idempotency_key=f"g-{m}")

    def downloads(m: str) -> None:
        for n in range(10):
            _download(library, m, f"{m}-{n}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(downloads, members))
    balance = library.balance("uma")
    assert balance.posted == 8 * 10 * 3
    assert len(_royalty_lots(library)) == 1
    with pg.engine.connect() as conn:
        versions = conn.execute(sa.text(
            "SELECT account_version FROM postings WHERE community_id = 'library' AND "
            "account_id = 'wallet:uma:CREDIT' ORDER BY account_version")).scalars().all()
    assert versions == list(range(1, 81))
    check_invariants(pg)


def test_a_royalty_to_an_uploader_who_owes_on_a_credit_line_repays_it_first(
        library: jeton.Community, pg: Store) -> None:
    library.set_credit_line("uma", -20)
    library.charge("uma", "files.download", context={"uploader": "ann"},
                   idempotency_key="uma-buys")  # uma owes 10 on the line now
    assert library.balance("uma").posted == -10
    _download(library, "ann", "ann-buys")
    lots = {lot.source: lot.remaining for lot in library.lots("uma")}
    assert lots.get("overdraft", 0) == -7  # the royalty of 3 went to the debt
    assert library.balance("uma").posted == -7
    check_invariants(pg)


def test_an_uploader_with_a_low_balance_alert_is_credited_locked_and_the_alert_re_arms(
        library: jeton.Community, pg: Store) -> None:
    library.set_low_balance_threshold("uma", 5)
    library.grant("uma", 12, idempotency_key="g-uma")
    library.charge("uma", "files.download", context={"uploader": "ann"},
                   idempotency_key="uma-buys")  # 12 - 10 = 2: below 5, balance.low sent
    alert = library.low_balance_alert("uma")
    assert alert is not None
    assert not alert.armed
    _download(library, "bob", "bob-0")  # 2 + 3 = 5: back at the threshold, armed again
    alert = library.low_balance_alert("uma")
    assert alert is not None
    assert alert.armed
    locked = library._ledger.locked_credits
    assert locked.get((library.id, "wallet:uma:CREDIT"), 0) > time.monotonic()
    check_invariants(pg)


def _meanwhile(monkeypatch: pytest.MonkeyPatch, action: Any,
               wait: float = 10.0) -> list[threading.Thread]:
    """Run `action` once, from another thread, while a write credits unlocked; the write goes
    on when it is done or after `wait` seconds."""
    ran: list[threading.Thread] = []
    credit = WorkSet._credit_unlocked

    def patched(self: WorkSet, *args: Any) -> None:
        if not ran:
            t = threading.Thread(target=action)
            ran.append(t)
            t.start()
            t.join(wait)
        credit(self, *args)

    monkeypatch.setattr(WorkSet, "_credit_unlocked", patched)
    return ran


def test_two_first_royalties_racing_to_make_the_lot_share_it(
        library: jeton.Community, pg: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    library.grant("uma", 1, idempotency_key="g-uma")  # a wallet, but no royalty lot yet
    ran = _meanwhile(monkeypatch, lambda: _download(library, "bob", "bob-first"))
    _download(library, "ann", "ann-first")  # meets bob's new lot, and is done again locked
    assert ran
    assert library.balance("uma").posted == 7
    assert [lot.remaining for lot in _royalty_lots(library)] == [6]
    check_invariants(pg)


def test_a_credit_line_opened_during_the_write_sends_it_down_the_locked_path(
        library: jeton.Community, pg: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _download(library, "ann", "ann-first")
    ran = _meanwhile(monkeypatch, lambda: library.set_credit_line("uma", -50))
    receipt = _download(library, "bob", "bob-first")
    assert ran
    assert receipt.charged == 10
    assert library.balance("uma").posted == 6
    assert library.balance("uma").available == 56  # the line the other write opened
    check_invariants(pg)


def test_two_members_buying_each_others_files_at_once_both_pay_and_are_paid(
        library: jeton.Community, pg: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each charge holds its buyer's wallet and credits the other's in its commit: a deadlock,
    which PostgreSQL breaks; the write it fails is done again with both wallets locked."""
    library.grant("uma", 100, idempotency_key="g-uma")
    _download(library, "ann", "ann-0")
    library.charge("uma", "files.download", context={"uploader": "ann"}, idempotency_key="u-0")
    ran = _meanwhile(monkeypatch, lambda: library.charge(
        "uma", "files.download", context={"uploader": "ann"}, idempotency_key="u-1"), 0.3)
    _download(library, "ann", "ann-1")
    ran[0].join(10)
    assert library.balance("uma").posted == 100 - 20 + 6
    assert library.balance("ann").posted == 1000 - 20 + 6
    check_invariants(pg)


TWO_PARTIES = """
[services."files.download"]
name = "File download"
credits = 10
splits = [{ to = "party:uploader", share_bp = 3000 }, { to = "party:editor", share_bp = 1000 }]
"""


def test_one_uploader_named_twice_by_a_charge_is_credited_both_shares_in_one_lot(
        library: jeton.Community, pg: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    library.load_catalog(TWO_PARTIES, "toml")
    library.grant("uma", 1, idempotency_key="g-uma")  # a wallet, but no royalty lot yet
    credits: list[int] = []
    credit = WorkSet._credit_unlocked

    def counted(self: WorkSet, *args: Any) -> None:
        credits.append(args[2])
        credit(self, *args)

    monkeypatch.setattr(WorkSet, "_credit_unlocked", counted)
    both = {"uploader": "uma", "editor": "uma"}
    for n in range(3):  # the first makes the royalty lot; the others add to it
        receipt = library.charge("ann", "files.download", context=both,
                                 idempotency_key=f"both-{n}")
        assert receipt.charged == 10
    assert sorted(credits) == [1, 1, 1, 3, 3, 3]
    assert library.balance("uma").posted == 1 + 3 * 4
    assert [lot.remaining for lot in _royalty_lots(library)] == [12]
    check_invariants(pg)


def test_the_wallets_remembered_as_needing_their_lock_are_dropped_once_past(
        library: jeton.Community, monkeypatch: pytest.MonkeyPatch) -> None:
    from jeton.services.ledger import base

    ledger = library._ledger
    monkeypatch.setattr(base, "LOCKED_CREDITS_MAX", 2)
    ledger.locked_credits.update({("library", "wallet:a:CREDIT"): 0.0,
                                  ("library", "wallet:b:CREDIT"): 0.0})
    ledger._lock_credits_of("library", "wallet:uma:CREDIT")
    assert list(ledger.locked_credits) == [("library", "wallet:uma:CREDIT")]
    assert ledger._credit_unlocked("library", ["wallet:uma:CREDIT", "wallet:ann:CREDIT"]) == [
        "wallet:ann:CREDIT"]
