"""The ledger's SQL functions do what core does: the spend order (`jeton_draw_lots` against
`core.lots.plan_draw`) and the transfer hash (`jeton_transfer_hash` against
`core.transfers.transfer_hash`).

`core.lots.plan_draw` is the specification. Hypothesis fills a wallet with lots of every kind
(scoped and not, priorities, expiring, expired, paid and free, empty, a credit line owing) and
asks both for the same amount and service: the draws must be the same lots, in the same order,
for the same amounts. Run on PostgreSQL and on a Citus coordinator, where the function is a
distributed one and the call runs on the community's worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jeton
from conftest import SERVERS, drop_pg_store, make_pg_store
from jeton.core import lots as lotlib
from jeton.core.transfers import HEADER_FIELDS, transfer_hash
from jeton.store.engine import Store

NOW_US = 1_800_000_000_000_000
WALLET = "wallet:ann:CREDIT"
SCOPES = [None, "video.minute", "video.*", "video", "files.download", "files.*", "v.*", "*"]
SERVICES = [None, "video.minute", "video.call", "files.download", "video", "chat.message"]

# Ids of mixed case and digits: a collation that is not code point order would sort them
# differently from Python (`b` < `B` in most locales, `B` < `b` in Python).
lot_ids = st.text(alphabet="aAbBzZ09-", min_size=1, max_size=6)


@st.composite
def lot_rows(draw: st.DrawFn) -> dict[str, Any]:
    expires = draw(st.one_of(st.none(), st.integers(min_value=-3, max_value=3)))
    return {
        "remaining": draw(st.integers(min_value=0, max_value=30)),
        "paid": draw(st.booleans()),
        "priority": draw(st.integers(min_value=-2, max_value=2)),
        # Around `now`: some expired, one expiring at `now` exactly (spent no more), some later.
        "expires_at_us": None if expires is None else NOW_US + expires * 1_000_000,
        "scope": draw(st.sampled_from(SCOPES)),
        "source": draw(st.sampled_from(["grant", "purchase", "royalty"])),
    }


wallets = st.dictionaries(lot_ids, lot_rows(), max_size=12)


@pytest.fixture(scope="module", params=SERVERS)
def wallet_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    store = make_pg_store(citus=request.param == "citus")
    c = jeton.Jeton(store).create_community("Draw", community_id="draw")
    c.create_member("ann")
    c.grant("ann", 1, idempotency_key="open")  # the wallet, and one lot the draws may take
    yield store
    drop_pg_store(store)


def _lot(row: Any) -> lotlib.Lot:
    lot_id, remaining, paid, expires, priority, scope, source = row
    return lotlib.Lot(
        id=lot_id,
        remaining=remaining,
        paid=paid,
        expires_at_us=expires,
        priority=priority,
        scope=scope,
        source=source,
    )


def _draw_both(
    store: Store, rows: dict[str, dict[str, Any]], owed: int, amount: int, service: str | None
) -> tuple[list[tuple[str, int]], lotlib.DrawPlan]:
    """Both draws over the same stored lots; nothing stays (the transaction is rolled back)."""
    with store.engine.connect() as conn, conn.begin() as tx:
        for lot_id, r in rows.items():
            conn.exec_driver_sql(
                "INSERT INTO lots (community_id, lot_id, account_id, source, paid, amount, "
                "remaining, expires_at_us, priority, scope, origin_transfer_id, "
                "created_at_us) VALUES ('draw', %(id)s, %(w)s, %(source)s, %(paid)s, "
                "%(remaining)s, %(remaining)s, %(expires_at_us)s, %(priority)s, %(scope)s, "
                "'t', 0)",
                {"id": f"x{lot_id}", "w": WALLET, **r},
            )
        if owed:  # a credit line in use: never drawn
            conn.exec_driver_sql(
                "INSERT INTO lots (community_id, lot_id, account_id, source, paid, amount, "
                "remaining, priority, origin_transfer_id, created_at_us) VALUES "
                "('draw', 'owed', %(w)s, 'overdraft', false, 0, %(owed)s, 9, 't', 0)",
                {"w": WALLET, "owed": -owed},
            )
        stored = [
            _lot(r)
            for r in conn.exec_driver_sql(
                "SELECT lot_id, remaining, paid, expires_at_us, priority, scope, source "
                "FROM lots WHERE community_id = 'draw' AND account_id = %(w)s",
                {"w": WALLET},
            ).all()
        ]
        sql = [
            (lot_id, take)
            for lot_id, take in conn.exec_driver_sql(
                "SELECT lot_id, take FROM jeton_draw_lots('draw', %(w)s, %(amount)s, "
                "%(service)s, %(now)s)",
                {"w": WALLET, "amount": amount, "service": service, "now": NOW_US},
            ).all()
        ]
        tx.rollback()
    return sql, lotlib.plan_draw(stored, amount, service, NOW_US)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=wallets,
    owed=st.integers(min_value=0, max_value=5),
    amount=st.integers(min_value=1, max_value=120),
    service=st.sampled_from(SERVICES),
)
def test_the_sql_draw_takes_the_lots_core_lots_takes(
    wallet_store: Store,
    rows: dict[str, dict[str, Any]],
    owed: int,
    amount: int,
    service: str | None,
) -> None:
    sql, plan = _draw_both(wallet_store, rows, owed, amount, service)
    assert sql == plan.draws
    assert sum(take for _, take in sql) == plan.covered == amount - plan.shortfall


def test_a_scoped_lot_pays_before_a_richer_unscoped_one(wallet_store: Store) -> None:
    rows = {
        "free": {
            "remaining": 50,
            "paid": False,
            "priority": 5,
            "expires_at_us": None,
            "scope": None,
            "source": "grant",
        },
        "video": {
            "remaining": 3,
            "paid": True,
            "priority": 0,
            "expires_at_us": None,
            "scope": "video.*",
            "source": "purchase",
        },
        "gone": {
            "remaining": 9,
            "paid": False,
            "priority": 9,
            "expires_at_us": NOW_US,
            "scope": "video.*",
            "source": "grant",
        },
    }
    sql, plan = _draw_both(wallet_store, rows, 0, 5, "video.minute")
    # The expired lot is passed over; the scoped lot goes first, then the highest priority.
    assert sql == plan.draws == [("xvideo", 3), ("xfree", 2)]


# Any text PostgreSQL stores (no NUL, no lone surrogate), accents and emoji included: lengths
# must count characters as Python does, and ids sort by code point.
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
amounts = st.integers(min_value=-(2**62), max_value=2**62)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.fixed_dictionaries(
        {f: st.one_of(st.none(), texts) for f in HEADER_FIELDS if f != "effective_at_us"}
    ),
    effective_at_us=st.integers(min_value=0, max_value=2**62),
    legs=st.lists(st.tuples(texts, amounts), max_size=6),
    moves=st.lists(st.tuples(texts, amounts), max_size=6),
)
def test_the_sql_transfer_hash_is_the_one_core_gives(
    wallet_store: Store,
    header: dict[str, str | None],
    effective_at_us: int,
    legs: list[tuple[str, int]],
    moves: list[tuple[str, int]],
) -> None:
    full: dict[str, Any] = {**header, "effective_at_us": effective_at_us}
    expected = transfer_hash(full, [(0, a, n) for a, n in legs], [(0, lot, n) for lot, n in moves])
    with wallet_store.read() as conn:
        got = conn.exec_driver_sql(
            "SELECT jeton_transfer_hash(%(community_id)s, %(transfer_id)s, %(kind)s, %(asset)s, "
            "%(member_id)s, %(service)s, %(reverses_id)s, %(hold_id)s, %(actor)s, "
            "%(reason_code)s, %(memo)s, %(metadata_json)s, %(idempotency_key)s, "
            "%(effective_at_us)s, %(accounts)s::text[], %(amounts)s::bigint[], %(lots)s::text[], "
            "%(lot_amounts)s::bigint[])",
            {
                **full,
                "accounts": [a for a, _ in legs],
                "amounts": [n for _, n in legs],
                "lots": [lot for lot, _ in moves],
                "lot_amounts": [n for _, n in moves],
            },
        ).scalar()
    assert got == expected


@pytest.mark.citus
def test_on_citus_the_functions_run_on_the_communitys_worker(citus_store: Store) -> None:
    with citus_store.read() as conn:
        routed = conn.exec_driver_sql(
            "SELECT p.proname, o.distribution_argument_index, o.colocationid = d.colocationid "
            "FROM pg_dist_object o JOIN pg_proc p ON p.oid = o.objid, pg_dist_partition d "
            "WHERE p.proname IN ('jeton_draw_lots', 'jeton_transfer_hash') "
            "AND p.pronamespace = current_schema()::regnamespace "
            "AND d.logicalrelid = 'communities'::regclass ORDER BY 1"
        ).all()
    assert [tuple(r) for r in routed] == [
        ("jeton_draw_lots", 0, True),
        ("jeton_transfer_hash", 0, True),
    ]
