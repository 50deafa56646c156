"""The ledger's contract: the same scenarios on every store (SQLite and PostgreSQL).

Written the way an owner tells them; invariants are checked after every step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import jeton
from conftest import counts, make_sqlite_store
from jeton import Status
from jeton.core.clock import ManualClock
from jeton.services.ledger.base import kept_answer
from jeton.store.engine import Store

Check = Callable[[Store], None]


@pytest.fixture
def chat(jeton_app: jeton.Jeton) -> jeton.Community:
    c = jeton_app.create_community("Chat and files", community_id="chat")
    c.create_account("appstore")
    for member in ("alice", "bob", "carol"):
        c.create_member(member)
    return c


def test_grant_then_spend_moves_credits_to_revenue(chat: jeton.Community, store: Store,
                                                  invariants: Check) -> None:
    chat.grant("alice", 100, idempotency_key="buy-1", paid=True, cost_minor=300,
               cost_currency="USD")
    invariants(store)
    receipt = chat.spend("alice", 3, service="files.download", idempotency_key="dl-1")
    invariants(store)
    assert receipt.balance_after == 97
    assert chat.balance("alice").available == 97
    assert chat.account_balance("revenue").posted == 3
    assert chat.account_balance("issuance").posted == -100


def test_spend_order_scoped_then_priority_then_soonest_expiry_then_free_then_oldest(
        chat: jeton.Community, clock: ManualClock, store: Store, invariants: Check) -> None:
    now = clock.now()
    paid = chat.grant("alice", 10, idempotency_key="paid", paid=True, cost_minor=30)
    free = chat.grant("alice", 10, idempotency_key="free")
    late = chat.grant("alice", 10, idempotency_key="late", expires_at=now + timedelta(days=60))
    soon = chat.grant("alice", 10, idempotency_key="soon", expires_at=now + timedelta(days=5))
    vip = chat.grant("alice", 10, idempotency_key="vip", priority=5)
    video = chat.grant("alice", 10, idempotency_key="video", scope="video.*")
    lot_of = {
        name: res.lots[0].lot_id
        for name, res in [("paid", paid), ("free", free), ("late", late), ("soon", soon),
                          ("vip", vip), ("video", video)]}
    order = []
    for i in range(6):
        r = chat.spend("alice", 10, service="video.minute", idempotency_key=f"s{i}")
        order.append(next(name for name, lot in lot_of.items() if lot == r.lots[0].lot_id))
        invariants(store)
    assert order == ["video", "vip", "soon", "late", "free", "paid"]


def test_scoped_lot_never_pays_for_another_service(chat: jeton.Community) -> None:
    chat.grant("alice", 10, idempotency_key="v", scope="video.*")
    with pytest.raises(jeton.InsufficientCredits) as err:
        chat.spend("alice", 1, service="files.download", idempotency_key="dl")
    assert err.value.extra["balance"] == 0
    assert chat.spend("alice", 1, service="video.minute", idempotency_key="vm").amount == 1


def test_expired_lots_are_never_spent_even_before_the_job_runs(
        chat: jeton.Community, clock: ManualClock, store: Store, invariants: Check) -> None:
    chat.grant("alice", 5, idempotency_key="plan", expires_at=clock.now() + timedelta(days=1))
    chat.grant("alice", 2, idempotency_key="perm")
    clock.advance(days=2)
    assert chat.balance("alice").available == 2
    with pytest.raises(jeton.InsufficientCredits):
        chat.spend("alice", 3, idempotency_key="s")
    assert chat.run_expiry() == 1
    invariants(store)
    assert chat.account_balance("breakage").posted == 5
    assert chat.balance("alice").posted == 2


def test_multi_leg_spend_pays_royalty_fee_and_revenue_atomically(
        chat: jeton.Community, store: Store, invariants: Check) -> None:
    chat.grant("alice", 100, idempotency_key="g")
    r = chat.spend("alice", 10, service="files.download", idempotency_key="dl",
                   splits=[{"member": "bob", "amount": 3}, {"account": "appstore", "amount": 1}])
    invariants(store)
    legs = {p.account_id: p.amount for p in r.postings}
    assert legs == {"wallet:alice:CREDIT": -10, "wallet:bob:CREDIT": 3, "appstore:CREDIT": 1,
                    "revenue:CREDIT": 6}
    assert chat.balance("bob").available == 3


def test_split_to_unknown_account_writes_nothing(chat: jeton.Community, store: Store,
                                                 invariants: Check) -> None:
    chat.grant("alice", 100, idempotency_key="g")
    with pytest.raises(jeton.NotFound):
        chat.spend("alice", 10, idempotency_key="dl", splits=[{"account": "nope", "amount": 3}])
    assert chat.balance("alice").posted == 100
    assert chat.statement("alice").data[0].kind == "grant"
    invariants(store)


def test_replay_returns_first_result_and_changed_request_is_refused(
        chat: jeton.Community) -> None:
    chat.grant("alice", 10, idempotency_key="g")
    first = chat.spend("alice", 4, idempotency_key="k")
    again = chat.spend("alice", 4, idempotency_key="k")
    assert again.replayed
    assert not first.replayed
    assert again.model_copy(update={"replayed": False}) == first
    with pytest.raises(jeton.IdempotencyConflict) as refused:
        chat.spend("alice", 5, idempotency_key="k")
    assert refused.value.detail == ("idempotency key 'k' was already used for a different "
                                    "request (a spend with other values); a new request "
                                    "needs a new key")
    with pytest.raises(jeton.IdempotencyConflict) as refused:  # says which kind came first
        chat.grant("alice", 4, idempotency_key="k")
    assert "(a spend); a new request needs a new key" in refused.value.detail
    assert chat.balance("alice").posted == 6


def test_declined_spend_writes_nothing_and_frees_the_key(chat: jeton.Community) -> None:
    with pytest.raises(jeton.InsufficientCredits) as err:
        chat.spend("alice", 5, idempotency_key="k")
    assert err.value.extra == {"balance": 0, "required": 5, "member": "alice", "asset": "CREDIT"}
    chat.grant("alice", 5, idempotency_key="topup")
    assert chat.spend("alice", 5, idempotency_key="k").balance_after == 0


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, "3", 2**63])
def test_bad_amounts_are_refused(chat: jeton.Community, amount: object) -> None:
    with pytest.raises(jeton.InvalidRequest) as err:
        chat.grant("alice", amount, idempotency_key="g")  # type: ignore[arg-type]
    assert err.value.status in (Status.amount_invalid, Status.amount_too_large)


def test_wrong_asset_and_unknown_member_are_refused(chat: jeton.Community) -> None:
    with pytest.raises(jeton.NotFound) as err:
        chat.grant("alice", 1, idempotency_key="g", asset="POINTS")
    assert err.value.status == Status.asset_not_found
    with pytest.raises(jeton.NotFound) as err:
        chat.spend("zed", 1, idempotency_key="s")
    assert err.value.status == Status.member_not_found


def test_a_capture_or_void_of_no_such_hold_is_refused_and_writes_nothing(
        chat: jeton.Community, store: Store, invariants: Check) -> None:
    """On PostgreSQL the process knows no owner for the id, so the write looks the hold up in
    its own first round trip (decision 0099) and finds nothing to lock."""
    chat.grant("alice", 10, idempotency_key="g")
    held = chat.hold("alice", 4, idempotency_key="h")
    before = counts(store)
    for write in (lambda: chat.capture("no-such-hold", 1, idempotency_key="c"),
                  lambda: chat.void("no-such-hold", idempotency_key="v")):
        with pytest.raises(jeton.NotFound) as err:
            write()
        assert err.value.status == Status.hold_not_found
    assert counts(store) == before
    assert chat.capture(held.id, 4, idempotency_key="c").status == "captured"  # keys unused
    assert chat.balance("alice").posted == 6
    invariants(store)


def test_two_databases_in_one_process_keep_their_own_accounts(tmp_path: Path) -> None:
    # One process, one community id in two databases: only the first has a POINTS asset.
    first, second = (jeton.Jeton(make_sqlite_store(tmp_path / f"{n}.db")) for n in "ab")
    try:
        for app in (first, second):
            app.create_community("Chat", community_id="chat").create_member("alice")
        first.community("chat").create_asset("POINTS")
        first.community("chat").grant("alice", 1, idempotency_key="g", asset="POINTS")
        with pytest.raises(jeton.NotFound) as err:
            second.community("chat").grant("alice", 1, idempotency_key="g", asset="POINTS")
        assert err.value.status == Status.asset_not_found
    finally:
        first.close()
        second.close()


def test_transfer_carries_lots_with_expiry_and_paid_status(
        chat: jeton.Community, clock: ManualClock, store: Store, invariants: Check) -> None:
    chat.grant("alice", 10, idempotency_key="g", paid=True, cost_minor=300, cost_currency="USD")
    chat.grant("alice", 5, idempotency_key="p", expires_at=clock.now() + timedelta(days=3))
    chat.transfer("alice", "bob", 8, idempotency_key="t", fee=1)
    invariants(store)
    lots = {(lot.paid, lot.expires_at is not None): lot for lot in chat.lots("bob")}
    assert lots[(False, True)].remaining == 5  # the expiring credits went first
    assert lots[(True, False)].remaining == 3
    assert lots[(True, False)].cost_minor == 90
    assert chat.balance("alice").posted == 6
    assert chat.account_balance("revenue").posted == 1
    with pytest.raises(jeton.InvalidRequest):
        chat.transfer("alice", "alice", 1, idempotency_key="self")


def test_paid_pieces_of_one_lot_carried_by_transfers_share_one_lot(
        chat: jeton.Community, store: Store, invariants: Check) -> None:
    chat.grant("alice", 100, idempotency_key="g", paid=True, cost_minor=300, cost_currency="USD")
    chat.grant("carol", 10, idempotency_key="h", paid=True, cost_minor=50, cost_currency="USD")
    for i in range(6):
        chat.transfer("alice", "bob", 5, idempotency_key=f"t{i}")
    chat.transfer("carol", "bob", 4, idempotency_key="from-carol")
    invariants(store)
    lots = sorted(chat.lots("bob"), key=lambda lot: lot.amount)
    # One lot per lot the credits came from, not one per transfer, each with its cost basis.
    assert [(lot.amount, lot.remaining, lot.cost_minor) for lot in lots] == [
        (4, 4, 20), (30, 30, 90)]
    assert all(lot.paid and lot.cost_currency == "USD" for lot in lots)
    chat.spend("bob", 32, idempotency_key="s")
    chat.transfer("alice", "bob", 5, idempotency_key="t-again")
    invariants(store)
    # A drained lot takes the next piece from the same lot again.
    assert sorted((lot.remaining, lot.cost_minor) for lot in chat.lots("bob")
                  if lot.remaining) == [(2, 20), (5, 105)]
    reversal = chat.reverse(chat.transfer("alice", "bob", 5, idempotency_key="t-last").id,
                            idempotency_key="r")
    invariants(store)
    assert reversal.amount == 5
    assert chat.balance("bob").posted == 7


def test_hold_capture_part_void_rest(chat: jeton.Community, store: Store,
                                     invariants: Check) -> None:
    chat.grant("alice", 100, idempotency_key="g")
    hold = chat.hold("alice", 100, service="video.minute", idempotency_key="h")
    invariants(store)
    b = chat.balance("alice")
    assert (b.posted, b.pending, b.available) == (100, 100, 0)
    with pytest.raises(jeton.InsufficientCredits):
        chat.spend("alice", 1, idempotency_key="s")
    part = chat.capture(hold.id, 30, final=False, idempotency_key="c1")
    invariants(store)
    assert (part.captured, part.status) == (30, "active")
    done = chat.capture(hold.id, 20, idempotency_key="c2")
    invariants(store)
    assert (done.captured, done.voided, done.status) == (50, 50, "captured")
    b = chat.balance("alice")
    assert (b.posted, b.pending, b.available) == (50, 0, 50)
    with pytest.raises(jeton.Conflict):
        chat.capture(hold.id, 1, idempotency_key="c3")


def test_capture_more_than_held_is_refused(chat: jeton.Community) -> None:
    chat.grant("alice", 10, idempotency_key="g")
    hold = chat.hold("alice", 5, idempotency_key="h")
    with pytest.raises(jeton.InvalidRequest) as err:
        chat.capture(hold.id, 6, idempotency_key="c")
    assert err.value.status == Status.capture_exceeds_hold


def test_void_returns_credits_to_their_lots(chat: jeton.Community, store: Store,
                                            invariants: Check) -> None:
    chat.grant("alice", 10, idempotency_key="g")
    hold = chat.hold("alice", 7, idempotency_key="h")
    voided = chat.void(hold.id, idempotency_key="v")
    invariants(store)
    assert (voided.status, voided.voided) == ("voided", 7)
    assert chat.balance("alice").available == 10


def test_hold_expires_by_itself(chat: jeton.Community, clock: ManualClock, store: Store,
                                invariants: Check) -> None:
    chat.grant("alice", 10, idempotency_key="g")
    hold = chat.hold("alice", 10, idempotency_key="h", timeout_s=60)
    clock.advance(seconds=61)
    with pytest.raises(jeton.Conflict) as err:
        chat.capture(hold.id, 1, idempotency_key="c")
    assert err.value.status == Status.hold_expired
    # A spend does not wait for the job: the expired hold is released on the way.
    assert chat.spend("alice", 10, idempotency_key="s").balance_after == 0
    invariants(store)
    assert chat.get_hold(hold.id).status == "expired"


def test_reversal_restores_the_original_lots(chat: jeton.Community, clock: ManualClock,
                                             store: Store, invariants: Check) -> None:
    expiring = chat.grant("alice", 5, idempotency_key="p",
                          expires_at=clock.now() + timedelta(days=3))
    chat.grant("alice", 5, idempotency_key="g", paid=True, cost_minor=100)
    spend = chat.spend("alice", 8, idempotency_key="s", splits=[{"member": "bob", "amount": 2}])
    refund = chat.reverse(spend.id, idempotency_key="r")
    invariants(store)
    assert refund.reverses_id == spend.id
    lots = {lot.id: lot for lot in chat.lots("alice")}
    assert lots[expiring.lots[0].lot_id].remaining == 5
    assert lots[expiring.lots[0].lot_id].expires_at is not None
    assert chat.balance("alice").posted == 10
    assert chat.balance("bob").posted == 0
    with pytest.raises(jeton.Conflict) as err:
        chat.reverse(spend.id, idempotency_key="r2")
    assert err.value.status == Status.already_reversed


def test_reversal_refused_when_the_credits_were_spent(chat: jeton.Community) -> None:
    grant = chat.grant("alice", 5, idempotency_key="g")
    chat.spend("alice", 4, idempotency_key="s")
    with pytest.raises(jeton.Declined) as err:
        chat.reverse(grant.id, idempotency_key="r")
    assert err.value.status == Status.reversal_insufficient


def test_credit_line_lets_a_wallet_go_negative_down_to_its_floor(
        chat: jeton.Community, store: Store, invariants: Check) -> None:
    chat.grant("alice", 5, idempotency_key="g")
    chat.set_credit_line("alice", -20)
    chat.spend("alice", 25, idempotency_key="s")
    invariants(store)
    assert chat.balance("alice").posted == -20
    with pytest.raises(jeton.InsufficientCredits):
        chat.spend("alice", 1, idempotency_key="s2")
    chat.grant("alice", 30, idempotency_key="g2")  # repays what is owed first
    invariants(store)
    assert chat.balance("alice").posted == 10
    assert sum(lot.remaining for lot in chat.lots("alice")) == 10



def test_a_decline_on_a_credit_line_names_what_the_member_could_still_spend(
        chat: jeton.Community, store: Store, invariants: Check) -> None:
    """The decline's balance is the balance's `available` (what the lots hold less what the
    line owes, and the line's room), on the SQL function's path as on the Python write's."""
    chat.set_credit_line("alice", -20)
    chat.spend("alice", 10, idempotency_key="s")
    with pytest.raises(jeton.InsufficientCredits) as err:
        chat.spend("alice", 50, idempotency_key="s2")
    assert chat.balance("alice").available == 10
    assert err.value.extra["balance"] == 10
    assert err.value.detail == "member 'alice' has 10 CREDIT available, 50 required"
    chat.grant("bob", 5, idempotency_key="g")  # no credit line: what the lots hold
    with pytest.raises(jeton.InsufficientCredits) as err:
        chat.spend("bob", 9, idempotency_key="s3")
    assert err.value.extra["balance"] == chat.balance("bob").available == 5
    invariants(store)

def test_statement_is_newest_first_with_running_balance_and_cursor(
        chat: jeton.Community) -> None:
    chat.grant("alice", 50, idempotency_key="g")
    for i in range(5):
        chat.spend("alice", i + 1, idempotency_key=f"s{i}")
    page = chat.statement("alice", limit=4)
    assert [line.balance_after for line in page.data] == [35, 40, 44, 47]
    assert page.has_more
    assert page.next_cursor
    rest = chat.statement("alice", limit=4, starting_after=page.next_cursor)
    assert [line.balance_after for line in rest.data] == [49, 50]
    assert not rest.has_more


def test_batch_spends_have_their_own_status(chat: jeton.Community, store: Store,
                                           invariants: Check) -> None:
    chat.grant("alice", 3, idempotency_key="g")
    items = [{"member": "alice", "amount": 1, "idempotency_key": f"b{i}"} for i in range(4)]
    items.append({"member": "alice", "amount": 0, "idempotency_key": "bad"})
    items.append({"member": "alice", "amount": 1, "idempotency_key": "b0"})
    statuses = [r.status for r in chat.spend_batch(items)]
    assert statuses == ["ok", "ok", "ok", "insufficient_credits", "amount_invalid", "ok"]
    invariants(store)
    assert chat.balance("alice").posted == 0


def test_journal_is_append_only_in_the_database(chat: jeton.Community, store: Store) -> None:
    chat.grant("alice", 5, idempotency_key="g")
    for statement in ("UPDATE postings SET amount = 500", "DELETE FROM transfers",
                      "UPDATE transfers SET memo = 'x'", "DELETE FROM posting_lots"):
        with pytest.raises(Exception, match="append-only"), store.write() as conn:
            conn.exec_driver_sql(statement)


def test_database_refuses_a_wallet_under_its_floor(chat: jeton.Community, store: Store) -> None:
    chat.grant("alice", 5, idempotency_key="g")
    with pytest.raises(Exception, match=r"(?i)check|constraint"), store.write() as conn:
        conn.exec_driver_sql("UPDATE accounts SET posted = -1 WHERE account_id = "
                             "'wallet:alice:CREDIT'")


def test_verify_names_a_tampered_balance(chat: jeton.Community, store: Store) -> None:
    from jeton.services.ledger.verify import verify

    chat.grant("alice", 5, idempotency_key="g")
    with store.write() as conn:
        conn.exec_driver_sql("UPDATE accounts SET posted = 4 WHERE account_id = "
                             "'wallet:alice:CREDIT'")
    checks = {v.check for v in verify(store)}
    assert {"account_balance", "wallet_lots"} <= checks


def test_verify_names_postings_whose_version_breaks_the_rule(chat: jeton.Community,
                                                             store: Store) -> None:
    """A wallet's postings are found by version and an untracked account's by transfer
    (decision 0108): a wallet posting without a version, or a revenue posting with one, is
    named."""
    from jeton.services.ledger.verify import verify

    chat.grant("alice", 5, idempotency_key="g")
    chat.spend("alice", 2, idempotency_key="s")
    with store.write() as conn:  # past the journal's own guard, as a tamperer would be
        if store.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS postings_no_update")
        else:  # Citus drops a distributed table's trigger only when told it may (a custom
            # setting on plain PostgreSQL, where it changes nothing)
            conn.exec_driver_sql("SET LOCAL citus.enable_unsafe_triggers = on")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS postings_append_only ON postings")
        conn.exec_driver_sql("UPDATE postings SET account_version = NULL WHERE account_id = "
                             "'wallet:alice:CREDIT' AND amount = -2")
        conn.exec_driver_sql("UPDATE postings SET account_version = 9 WHERE account_id = "
                             "'revenue:CREDIT'")
    found = {(v.check, v.subject, v.detail) for v in verify(store)
             if v.check == "posting_version"}
    assert found == {("posting_version", "wallet:alice:CREDIT", "1 postings without a version"),
                     ("posting_version", "revenue:CREDIT", "1 postings with a version")}


def test_verify_goes_community_by_community_and_names_the_one_that_fails(
        chat: jeton.Community, jeton_app: jeton.Jeton, store: Store) -> None:
    from jeton.services.ledger.verify import UnknownCommunity, verify

    shop = jeton_app.create_community("Shop", community_id="shop")
    shop.create_member("dave")
    shop.grant("dave", 7, idempotency_key="g")
    chat.grant("alice", 5, idempotency_key="g")
    with store.write() as conn:
        conn.exec_driver_sql("UPDATE accounts SET posted = 6 WHERE community_id = 'shop' "
                             "AND account_id = 'wallet:dave:CREDIT'")
    assert {v.community_id for v in verify(store)} == {"shop"}
    assert verify(store, community_id="chat") == []
    assert {v.check for v in verify(store, community_id="shop")} >= {"account_balance"}
    with pytest.raises(UnknownCommunity):
        verify(store, community_id="nowhere")


def test_every_job_runs_in_every_community_without_error(
        chat: jeton.Community, jeton_app: jeton.Jeton, clock: ManualClock, store: Store,
        invariants: Check) -> None:
    from jeton.services.ops.worker import run_due
    from jeton.store.tables.jobs import job_runs

    shop = jeton_app.create_community("Shop", community_id="shop")
    shop.create_member("dave")
    for c, member in ((chat, "alice"), (shop, "dave")):
        c.grant(member, 5, idempotency_key="g", expires_at=clock.now() + timedelta(days=1))
        c.hold(member, 2, idempotency_key="h", timeout_s=60)
    clock.advance(days=2)
    run_due(jeton_app, force=True)
    with store.read() as conn:
        runs = conn.execute(sa.select(job_runs.c.community_id, job_runs.c.job,
                                      job_runs.c.last_error)).all()
    assert {cid for cid, _, _ in runs} == {"chat", "shop"}
    assert [r for r in runs if r.last_error is not None] == []
    assert chat.balance("alice").available == shop.balance("dave").available == 0  # expired
    invariants(store)


def test_a_write_keeps_its_answer_for_the_caller_and_a_replay_keeps_none(
        chat: jeton.Community, store: Store) -> None:
    """`kept_answer` gives the API the JSON stored under the key, so the HTTP answer is the
    ledger's own bytes, serialized once; a replay has no fresh answer and is serialized by its
    caller. (The Python write's: a spend made as one SQL call, Citus's default, keeps none.)"""
    chat.jeton.ledger.spend_in_sql = False
    chat.grant("alice", 10, idempotency_key="seed")
    first = chat.spend("alice", 2, idempotency_key="kept")
    with store.read() as conn:
        stored = conn.exec_driver_sql(
            "SELECT response_json FROM idempotency_keys WHERE key = 'kept'").scalar_one()
    assert kept_answer(first) == stored == first.model_dump_json()
    again = chat.spend("alice", 2, idempotency_key="kept")
    assert again.replayed
    assert kept_answer(again) is None
    assert kept_answer(first) is None  # only the thread's last write is kept
