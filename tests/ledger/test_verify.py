"""`jeton verify` on a journal of any length: it reads the journal a page at a time, checks the
seal chain across pages, and sees one snapshot of a community however the writes go on."""

from __future__ import annotations

import sqlite3
import time
import tracemalloc

import pytest
import sqlalchemy as sa

import jeton
from jeton.core.ids import id_floor
from jeton.services.ledger import journal, verify
from jeton.store.engine import Store
from jeton.store.tables.ledger import transfers

PAGE = 40  # rows a page in these tests: a few dozen transfers span many pages


@pytest.fixture
def shop(jeton_app: jeton.Jeton, monkeypatch: pytest.MonkeyPatch) -> jeton.Community:
    monkeypatch.setattr(verify, "PAGE_ROWS", PAGE)
    c = jeton_app.create_community("Shop", community_id="shop")
    for member in ("ann", "ben"):
        c.create_member(member)
        c.grant(member, 10_000, idempotency_key=f"g-{member}")
    return c


def _spends(c: jeton.Community, n: int, tag: str) -> None:
    for start in range(0, n, 1000):
        results = c.spend_batch([{"member": ("ann", "ben")[i % 2], "amount": 1,
                                  "idempotency_key": f"{tag}-{i}"}
                                 for i in range(start, min(n, start + 1000))])
        assert {r.status for r in results} == {"ok"}


def _peak_bytes(store: Store) -> int:
    tracemalloc.start()
    try:
        assert verify.verify_community(store, "shop") == []
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_verify_needs_the_same_memory_for_a_journal_six_times_as_long(
        shop: jeton.Community, store: Store) -> None:
    _spends(shop, 150, "a")
    verify.verify_community(store, "shop")  # statements compiled and cached before counting
    short = _peak_bytes(store)
    _spends(shop, 750, "b")  # 900 spends: 902 transfers, 1,804 postings, 1,802 lot moves
    long = _peak_bytes(store)
    # Holding the journal (as verify did) took about six times the memory here; a page at a
    # time takes about the same for both.
    assert long < 1.5 * short, (short, long)


def test_a_tampered_transfer_is_named_with_the_seal_that_covers_it(
        shop: jeton.Community, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "_SEAL_BATCH", 70)  # seals that start and end mid-page
    _spends(shop, 300, "a")
    sealed = journal.seal(store, "shop", up_to=id_floor(int(time.time() * 1000) + 3_600_000))
    assert sealed == 302
    _spends(shop, 30, "b")  # past the last seal: hashed, not sealed
    assert verify.verify_community(store, "shop") == []
    with store.read() as conn:
        ids = list(conn.execute(sa.text(
            "SELECT transfer_id FROM transfers WHERE community_id = 'shop' "
            "ORDER BY transfer_id")).scalars())
    assert len(ids) == 332
    tampered = ids[150]  # the 151st transfer: in seal 3 (transfers 141 to 210)
    with store.write() as conn:  # past the journal's own guard, as a tamperer would be
        if store.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS transfers_no_update")
        else:
            conn.exec_driver_sql("SET LOCAL citus.enable_unsafe_triggers = on")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS transfers_append_only ON transfers")
        conn.execute(sa.text("UPDATE transfers SET memo = 'edited' WHERE community_id = 'shop' "
                             "AND transfer_id = :t"), {"t": tampered})
    found = [(v.check, v.subject) for v in verify.verify_community(store, "shop")]
    assert found == [("hash", tampered)]  # its seal still matches: the seal chains stored hashes
    with store.write() as conn:
        conn.execute(sa.text("UPDATE transfers SET hash = :h WHERE community_id = 'shop' "
                             "AND transfer_id = :t"), {"h": "0" * 64, "t": tampered})
    found = [(v.check, v.subject) for v in verify.verify_community(store, "shop")]
    assert found == [("hash", tampered), ("seal_chain", "seal 3")]


def test_every_check_sees_one_snapshot_while_writes_go_on(
        shop: jeton.Community, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spend that commits between two checks of a community is seen by neither (it was not
    there when the first read began)."""
    _spends(shop, 10, "a")
    counted: list[int] = []

    def count(conn: sa.Connection, community_id: str) -> list[verify.Violation]:
        counted.append(conn.execute(sa.text(
            "SELECT count(*) FROM transfers WHERE community_id = :c"),
            {"c": community_id}).scalar_one())
        return []

    monkeypatch.setattr(verify, "_CHECKS", [("count", count), *verify._CHECKS,
                                            ("count again", count)])
    spent: list[str] = []

    def progress(step: str, _problems: int) -> None:
        if step == "shop: hashes and seals":  # after the first checks read, before the rest
            spent.append(shop.spend("ann", 1, idempotency_key="meanwhile").id)

    assert verify.verify_community(store, "shop", progress) == []
    assert len(spent) == 1
    assert counted == [12, 12]
    assert verify.verify_community(store, "shop") == []  # the next snapshot sees it
    assert counted[-1] == 13


def test_journal_rows_that_name_nothing_are_named(shop: jeton.Community, store: Store) -> None:
    """A transfer's asset, a posting's transfer and account and a lot move's transfer: foreign
    keys on SQLite, on PostgreSQL checked by `jeton verify` alone (decision 0124)."""
    _spends(shop, 3, "a")
    with store.read() as conn:
        real = conn.execute(sa.text("SELECT transfer_id FROM transfers WHERE community_id = "
                                    "'shop' ORDER BY transfer_id LIMIT 1")).scalar_one()
    names = [c.name for c in transfers.c]
    orphan = ", ".join({"transfer_id": "'t-orphan'", "asset": "'GHOST'",
                        "idempotency_key": "NULL"}.get(n, n) for n in names)
    statements = [
        f"INSERT INTO transfers ({', '.join(names)}) SELECT {orphan} FROM transfers "
        f"WHERE community_id = 'shop' AND transfer_id = '{real}'",
        "INSERT INTO postings (community_id, transfer_id, account_id, amount) "
        "VALUES ('shop', 't-none', 'revenue:CREDIT', 1)",
        "INSERT INTO postings (community_id, transfer_id, account_id, amount) "
        f"VALUES ('shop', '{real}', 'wallet:nobody:CREDIT', 1)",
        "INSERT INTO posting_lots (community_id, transfer_id, lot_id, account_id, amount) "
        "VALUES ('shop', 't-none', 'l-none', 'wallet:ann:CREDIT', 1)",
    ]
    if store.dialect == "sqlite":  # the database refuses each; a tool with its keys off may not
        for statement in statements:
            with pytest.raises(sa.exc.IntegrityError), store.write() as conn:
                conn.exec_driver_sql(statement)
        raw = sqlite3.connect(store.engine.url.database or "")
        with raw:
            for statement in statements:
                raw.execute(statement)
        raw.close()
    else:
        with store.write() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    found = sorted((v.subject, v.detail) for v in verify.verify_community(store, "shop")
                   if v.check == "reference")
    assert found == sorted([
        ("t-orphan", "transfer without its asset: GHOST"),
        ("t-none", "posting without its transfer: revenue:CREDIT"),
        (real, "posting without its account: wallet:nobody:CREDIT"),
        ("t-none", "lot move without its transfer: l-none"),
    ])
