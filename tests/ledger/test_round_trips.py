"""A ledger write on PostgreSQL is two round trips (decision 0037): BEGIN with every read it
needs, then every row it writes with COMMIT; a plain spend as a call of `jeton_spend` is one
(decision 0078: Citus's default, `JETON_SPEND_IN_SQL=on` on PostgreSQL). Counted on the wire,
through a relay on loopback between the Store and the real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

import jeton
from conftest import check_invariants, drop_pg_store, make_pg_store, postgres_url
from jeton.payments.offline import DEMO_METHOD_OK
from jeton.services.bench.charging import CATALOG, DOWNLOAD_BYTES
from jeton.services.charging.together import ChargeAsk, charge_together
from jeton.store.engine import Store
from jeton.store.tables.funding import recharge_claims
from roundtrips import RoundTripCounter

pytestmark = pytest.mark.postgres


@pytest.fixture
def counted() -> Iterator[tuple[RoundTripCounter, jeton.Community]]:
    url = postgres_url()
    parts = urlsplit(url)
    relay = RoundTripCounter((parts.hostname or "127.0.0.1", parts.port or 5432))
    # The schema is made on the server's own address, where the test process keeps its copy
    # of the migrated schema (on the relay's, a new address each test, every test migrated
    # and dumped one of its own: 3-7 s); everything after goes through the relay.
    made = make_pg_store(url)
    made.dispose()
    store = Store(relay.url(url), pg_schema=made.pg_schema)
    c = jeton.Jeton(store).create_community("Round trips", "rt")
    c.create_account("appstore")
    for m in ("alice", "bob", "uploader"):
        c.create_member(m)
    c.load_catalog(CATALOG, "toml", actor="test")
    c.grant("alice", 1_000, idempotency_key="seed-alice")
    c.grant("bob", 1_000, idempotency_key="seed-bob")
    try:
        yield relay, c
    finally:
        drop_pg_store(store)
        relay.close()


def _trips(relay: RoundTripCounter, write: object) -> int:
    assert callable(write)
    for i in range(3):  # the first writes prepare their statements and fill the caches
        write(f"warm-{i}")
    relay.reset()
    write("counted")
    return relay.turns


def test_a_plain_spend_is_one_round_trip_as_one_call_of_the_sql_function(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    relay, c = counted
    # The default on PostgreSQL and Citus: the function, one (decision 0095 measured both).
    c.jeton.ledger.spend_in_sql = None  # whatever JETON_SPEND_IN_SQL says
    assert _trips(relay, lambda k: c.spend("alice", 1, idempotency_key=f"s-{k}",
                                           service="chat.message")) == 1
    c.jeton.ledger.spend_in_sql = False  # JETON_SPEND_IN_SQL=off: the Python write, two
    assert _trips(relay, lambda k: c.spend("alice", 1, idempotency_key=f"p-{k}",
                                           service="chat.message")) == 2


def test_a_spend_the_function_leaves_to_python_costs_one_round_trip_more_once(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    relay, c = counted
    ledger = c.jeton.ledger
    c.set_velocity_limit(per_day=10**6)  # a hook that counts: the function leaves it to Python
    ledger.spend_in_sql = False
    by_python = _trips(relay, lambda k: c.spend("alice", 1, idempotency_key=f"s-{k}",
                                                service="chat.message"))
    ledger.spend_in_sql = True
    relay.reset()
    c.spend("alice", 1, idempotency_key="first", service="chat.message")
    assert relay.turns == by_python + 1
    # A limit holds for the whole community: its next spends go straight to the Python write
    # for a while (decision 0095), then ask the function again.
    assert (c.id, "CREDIT") in ledger.sql_fallbacks
    assert _trips(relay, lambda k: c.spend("alice", 1, idempotency_key=f"p-{k}",
                                           service="chat.message")) == by_python
    ledger.sql_fallbacks[(c.id, "CREDIT")] = 0.0  # the memory has run out
    relay.reset()
    c.spend("alice", 1, idempotency_key="again", service="chat.message")
    assert relay.turns == by_python + 1


def test_a_grant_and_a_hold_are_two_round_trips(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    relay, c = counted
    assert _trips(relay, lambda k: c.grant("bob", 1, idempotency_key=f"g-{k}")) == 2
    assert _trips(relay, lambda k: c.hold("alice", 1, idempotency_key=f"h-{k}")) == 2


def test_a_member_transfer_is_two_round_trips_with_the_communitys_fee(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    relay, c = counted
    assert _trips(relay, lambda k: c.transfer("alice", "bob", 2, idempotency_key=f"t-{k}")) == 2
    c.set_transfer_limits(fee_fixed=1, fee_bp=0)  # the fee is read inside the write
    before = c.balance("alice").posted
    assert _trips(relay, lambda k: c.transfer("alice", "bob", 2, idempotency_key=f"f-{k}")) == 2
    assert before - c.balance("alice").posted == 4 * 3  # three warm-ups and one counted


def test_a_spend_with_a_royalty_split_is_two_round_trips(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    relay, c = counted
    assert _trips(relay, lambda k: c.spend(
        "alice", 10, idempotency_key=f"s-{k}", splits=[{"member": "uploader", "amount": 3}],
    )) == 2


def test_a_batch_of_spends_is_two_round_trips_whatever_its_size(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    relay, c = counted
    members = [f"m{i:02d}" for i in range(12)]  # more wallets than one locking statement takes
    for m in members:
        c.create_member(m)
        c.grant(m, 100, idempotency_key=f"seed-{m}")

    def batch(k: str, who: list[str]) -> list[str]:
        items = [{"member": m, "amount": 1, "idempotency_key": f"{k}-{len(who)}-{i}",
                  "service": "chat.message"} for i, m in enumerate(who)]
        items.append({"member": "alice", "amount": 5, "idempotency_key": f"{k}-{len(who)}-s",
                      "splits": [{"member": "uploader", "amount": 2}]})
        return [r.status for r in c.spend_batch(items)]

    for who in (["bob"], members, members * 3):
        assert _trips(relay, lambda k, who=who: batch(k, who)) == 2
        relay.reset()
        assert batch("counted", who) == ["ok"] * (len(who) + 1)  # replays, the same two
        assert relay.turns == 2
    # 4 batches each: 1 (bob) + 1 + 3 (each of the twelve) spends of 1
    assert c.balance("bob").posted == 1_000 - 4
    assert c.balance("m00").posted == 100 - 4 * 4
    assert c.balance("uploader").posted == 3 * 4 * 2
    # A member who does not exist costs their item its own reads, and is declined alone.
    statuses = [r.status for r in c.spend_batch([
        {"member": "nobody", "amount": 1, "idempotency_key": "nobody"},
        {"member": "bob", "amount": 1, "idempotency_key": "bob-after"}])]
    assert statuses == ["member_not_found", "ok"]
    check_invariants(c.jeton.store)


def test_a_catalog_charge_is_two_round_trips(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    relay, c = counted
    # The member's snapshot (classes, keys, plan discount, catalog version) goes with the
    # first (decision 0087).
    assert _trips(relay, lambda k: c.charge("alice", "bench.download", 10 * 1024,
                                            context={"uploader": "uploader"},
                                            idempotency_key=f"c-{k}")) == 2


def _holds(c: jeton.Community, n: int) -> Iterator[str]:
    return iter([c.hold("alice", 5, idempotency_key=f"h-{i}").id for i in range(n)])


def test_a_metered_start_is_two_round_trips(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """The member's snapshot goes ahead with the hold's first round trip, as a charge's does;
    the hold and the use's row go out with the commit (decision 0105). It was nine: a read of
    the freeze, a read for the price, the hold's write and the use's own."""
    relay, c = counted
    started: list[jeton.MeteredSession] = []
    assert _trips(relay, lambda k: started.append(c.start_metered(
        "alice", "bench.download", 10 * 1024, idempotency_key=f"m-{k}",
        context={"uploader": "uploader"}))) == 2
    held = started[0].held  # 2 credits a KiB: 20
    assert held == 20
    assert all(s.held == held and s.hold_id == s.id for s in started)
    assert c.balance("alice").pending == 4 * held
    assert c.finish_metered(started[-1].id, 5 * 1024, idempotency_key="f").captured == held // 2
    assert c.balance("alice").pending == 3 * held
    check_invariants(c.jeton.store)


def test_a_metered_finish_where_the_use_started_is_two_round_trips(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """The process that started the use prices its finish from the row it wrote and the
    leases it read last; the capture sends the row, locked, and the leases ahead and carries
    the use's update with its commit (decisions 0105, 0106). It was six, then four."""
    assert _finish_trips(*counted, elsewhere=False) == 2


def test_a_metered_finish_elsewhere_is_three_round_trips(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """One to price (the use's row and the running leases together), two to capture
    (decision 0106). It was six, then four."""
    assert _finish_trips(*counted, elsewhere=True) == 3


def _finish_trips(relay: RoundTripCounter, c: jeton.Community, *, elsewhere: bool) -> int:
    """The round trips of the last of four finishes of downloads with a royalty, by the
    process that started them or (`elsewhere`) by one that knows nothing of them."""
    uses = iter([c.start_metered("alice", "bench.download", 10 * 1024, idempotency_key=f"m{i}",
                                 context={"uploader": "uploader"}).id for i in range(4)])
    if elsewhere:
        c.jeton.ledger.hold_owners.clear()
        c.jeton.charging.metering.forget_started()
    trips = _trips(relay, lambda k: c.finish_metered(next(uses), 5 * 1024,
                                                     idempotency_key=f"f-{k}"))
    assert c.balance("alice").pending == 0
    assert c.balance("alice").posted == 1_000 - 4 * 10
    assert c.balance("uploader").posted == 4 * 3  # 30 % of each 10
    check_invariants(c.jeton.store)
    return trips


def test_a_capture_and_a_void_are_two_round_trips_where_the_hold_was_placed(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """The process that placed a hold knows its wallet, which is locked in the capture's
    first round trip with the hold and its reservations."""
    relay, c = counted
    held = _holds(c, 8)
    assert _trips(relay, lambda k: c.capture(next(held), 3, idempotency_key=f"c-{k}",
                                             splits=[{"member": "uploader", "amount": 1}])) == 2
    assert _trips(relay, lambda k: c.void(next(held), idempotency_key=f"v-{k}")) == 2
    assert c.balance("alice").pending == 0
    assert c.balance("alice").posted == 1_000 - 4 * 3


def test_a_capture_and_a_void_elsewhere_are_two_round_trips_too(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """A process that did not place the hold names its wallet by the hold: locked through the
    hold's row with its live lots, the hooks' reads by the hold's member, in the first."""
    relay, c = counted
    held = _holds(c, 8)
    c.jeton.ledger.hold_owners.clear()  # as another process: it placed none of them
    assert _trips(relay, lambda k: c.capture(next(held), 5, idempotency_key=f"c-{k}",
                                             splits=[{"account": "appstore", "amount": 1}])) == 2
    assert _trips(relay, lambda k: c.void(next(held), idempotency_key=f"v-{k}")) == 2
    assert c.balance("alice").posted == 1_000 - 4 * 5
    assert c.balance("alice").pending == 0


def test_a_capture_elsewhere_with_a_members_split_is_two_round_trips(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """Splits to members: their wallets are found by member and the hold's asset, and locked
    with the hold's in one statement, in the one order every write locks (decision 0104)."""
    relay, c = counted
    held = _holds(c, 4)
    c.jeton.ledger.hold_owners.clear()
    assert _trips(relay, lambda k: c.capture(next(held), 5, idempotency_key=f"c-{k}",
                                             splits=[{"member": "uploader", "amount": 1},
                                                     {"member": "bob", "amount": 2}])) == 2
    assert c.balance("alice").posted == 1_000 - 4 * 5
    assert c.balance("alice").pending == 0
    assert c.balance("uploader").posted == 4
    assert c.balance("bob").posted == 1_000 + 4 * 2
    check_invariants(c.jeton.store)


def test_a_capture_elsewhere_pays_a_member_with_no_wallet_yet_one_owing_on_a_credit_line_and_itself(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """What the first round trip cannot lock is found by the write: a member's first wallet
    is opened, a credit line's debt is repaid first, and a split back to the hold's own member
    credits the wallet the hold debits."""
    _relay, c = counted
    held = _holds(c, 3)
    c.create_member("newcomer")
    c.set_credit_line("bob", -50)
    c.spend("bob", 1_020, idempotency_key="bob-owes")  # 20 owed on the line
    c.jeton.ledger.hold_owners.clear()
    c.capture(next(held), 5, idempotency_key="to-newcomer",
              splits=[{"member": "newcomer", "amount": 2}])
    c.capture(next(held), 5, idempotency_key="to-bob", splits=[{"member": "bob", "amount": 5}])
    c.capture(next(held), 5, idempotency_key="to-alice", splits=[{"member": "alice", "amount": 3}])
    assert c.balance("newcomer").posted == 2
    assert c.balance("bob").posted == -20 + 5
    assert c.balance("alice").posted == 1_000 - 3 * 5 + 3
    assert c.balance("alice").pending == 0
    check_invariants(c.jeton.store)


def test_a_capture_elsewhere_pays_members_in_the_holds_own_asset(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """Member splits of a hold of another asset credit those members' wallets of that asset,
    the only ones the first round trip locks: their CREDIT wallets stay as they were."""
    relay, c = counted
    c.create_asset("GEM")
    c.grant("alice", 100, idempotency_key="gems", asset="GEM")
    c.grant("bob", 10, idempotency_key="bob-gems", asset="GEM")
    held = iter([c.hold("alice", 10, idempotency_key=f"g-{i}", asset="GEM").id
                 for i in range(4)])
    c.jeton.ledger.hold_owners.clear()
    assert _trips(relay, lambda k: c.capture(next(held), 6, idempotency_key=f"gc-{k}",
                                             splits=[{"member": "bob", "amount": 4}])) == 2
    assert c.balance("alice", asset="GEM").posted == 100 - 4 * 6
    assert c.balance("bob", asset="GEM").posted == 10 + 4 * 4
    assert c.balance("bob").posted == 1_000
    check_invariants(c.jeton.store)


def test_a_capture_elsewhere_meets_the_members_freeze_and_auto_recharge(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """The hooks' reads sent ahead by the hold's member are the member's own: the capture that
    takes the wallet under its threshold claims a recharge, and a freeze refuses the next."""
    _relay, c = counted
    held = _holds(c, 3)
    c.jeton.ledger.hold_owners.clear()
    pack = c.create_pack("Top-up", credits=50, price_minor=500)
    c.set_payment_method("alice", provider="demo", customer_id="cus_alice",
                         payment_method_id=DEMO_METHOD_OK)
    c.set_auto_recharge("alice", pack_id=pack.id, threshold=990, monthly_cap=1)
    c.capture(next(held), 1, idempotency_key="c-1")  # 999 posted, 10 still held: 989 left
    assert _claims(c) == 1
    c.freeze_wallet("alice", reason="chargeback fraud reported", actor="mod-1")
    c.jeton.ledger.hold_owners.clear()
    with pytest.raises(jeton.WalletFrozen):
        c.capture(next(held), 1, idempotency_key="c-2")
    assert c.void(next(held), idempotency_key="v-3").status == "voided"
    assert c.balance("alice").posted == 999
    assert c.balance("alice").pending == 5


def _claims(c: jeton.Community) -> int:
    with c.jeton.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(recharge_claims))
                   .scalar_one())


def test_a_reversal_is_two_round_trips(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """The first reads the transfer, its postings and lot moves, and locks the wallets they
    name (by the transfer's id) with the lots they moved."""
    relay, c = counted
    spent = iter([c.spend("alice", 7, idempotency_key=f"s-{i}",
                          splits=[{"member": "uploader", "amount": 2}]).id for i in range(4)])
    assert _trips(relay, lambda k: c.reverse(next(spent), idempotency_key=f"r-{k}")) == 2
    assert c.balance("alice").posted == 1_000
    assert c.balance("uploader").posted == 0


def test_a_replay_is_one_round_trip_and_answers_as_the_first(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    relay, c = counted
    first = c.spend("alice", 2, idempotency_key="once", service="chat.message")
    relay.reset()
    again = c.spend("alice", 2, idempotency_key="once", service="chat.message")
    assert again.replayed
    assert again.id == first.id
    assert relay.turns <= 2  # the read, then the COMMIT of a transaction that wrote nothing


def test_a_declined_spend_writes_nothing_and_the_next_one_works(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    _relay, c = counted
    with pytest.raises(jeton.InsufficientCredits):
        c.spend("alice", 10**6, idempotency_key="too-much")
    assert c.balance("alice").posted == 1_000
    assert c.spend("alice", 5, idempotency_key="fine").balance_after == 995


def test_a_balance_is_one_round_trip_with_its_expired_credits_in_the_same_snapshot(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    """Posted, pending and the credits past expiry that the job has not moved yet, in one
    statement: the job moving them between two reads cannot count them as available."""
    relay, c = counted
    c.grant("bob", 30, idempotency_key="short",
            expires_at=c.jeton.clock.now() + timedelta(milliseconds=200))
    time.sleep(0.3)  # past its expiry; the job has not run
    assert _trips(relay, lambda _k: c.balance("bob")) == 1
    balance = c.balance("bob")
    assert (balance.posted, balance.available) == (1_030, 1_000)


def test_relay_counts_a_plain_statement_as_one_round_trip() -> None:
    url = postgres_url()
    parts = urlsplit(url)
    relay = RoundTripCounter((parts.hostname or "127.0.0.1", parts.port or 5432))
    store = Store(relay.url(url))
    try:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").all()
            relay.reset()
            conn.exec_driver_sql("SELECT 2").all()
            assert relay.turns == 1
    finally:
        store.dispose()
        relay.close()


def test_a_write_in_a_batch_of_writes_makes_the_round_trips_it_makes_alone(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    # The API's writer on PostgreSQL (decision 0119): the batch's BEGIN with its wallets'
    # locks, then each write's own round trips (a charge's two, the savepoint's RELEASE and
    # the next one's SAVEPOINT in its COMMIT's place; a plain spend's one call, with the
    # same two), then the COMMIT.
    relay, c = counted
    store = c.jeton.store

    def charge(k: str) -> None:
        c.charge("alice", "bench.download", DOWNLOAD_BYTES, context={"uploader": "uploader"},
                 idempotency_key=k)

    alone = _trips(relay, charge)
    assert alone == 2

    def batch(k: str, n: int) -> None:
        with store.batch():
            for i in range(n):
                charge(f"{k}-{n}-{i}")

    for n in (1, 5):
        assert _trips(relay, lambda k, n=n: batch(k, n)) == 1 + n * alone + 1
    relay.reset()
    with store.batch():
        c.spend("alice", 1, idempotency_key="sql-spend", service="chat.message")
    assert relay.turns == 1 + 1 + 1


def test_charges_made_together_are_two_round_trips_whatever_their_number(
        counted: tuple[RoundTripCounter, jeton.Community]) -> None:
    # The API's writer on PostgreSQL makes the charges waiting for it together (decision
    # 0120): every key, wallet, lot, snapshot and hook read in one round trip, every row in
    # the next; in a batch, its BEGIN and COMMIT around them.
    relay, c = counted

    def together(k: str, n: int) -> None:
        asks = [ChargeAsk("alice" if i % 2 else "bob", "bench.download", DOWNLOAD_BYTES,
                          f"{k}-{n}-{i}", context={"uploader": "uploader"}) for i in range(n)]
        made = charge_together(c.jeton.charging, c.id, asks)
        assert all(m is not None for m in made)

    for n in (2, 6):
        assert _trips(relay, lambda k, n=n: together(k, n)) == 2
    relay.reset()
    with c.jeton.store.batch():
        together("batch", 5)
    assert relay.turns == 1 + 2 + 1
    assert c.balance("alice").available == 1_000 - 20 * (4 * 1 + 4 * 3 + 2)  # 2 a KiB
    check_invariants(c.jeton.store, c.id)
