"""A key reused for another request is refused, and the refusal names what the key was first
used for, as the ledger's does (`conflict_detail`): a purchase, a subscription, a bill, a lease
or a test clock's advance "with other values", ending "a new request needs a new key". The
status stays `idempotency_conflict` and nothing changes. On SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

import jeton
from jeton.payments.offline import DEMO_METHOD_OK
from jeton.services.ops import clocks
from jeton.store.tables.clocks import test_clocks

from .conftest import CANCEL, SUCCESS, ok, owing


def _refused(key: str, first_use: str) -> str:
    return (f"idempotency key {key!r} was already used for a different request "
            f"({first_use} with other values); a new request needs a new key")


def test_a_purchase_key_reused_for_another_pack_names_the_purchase(
        j: jeton.Jeton, club: jeton.Community) -> None:
    club.buy_pack("ann", "p20", idempotency_key="ann-buys", success_url=SUCCESS,
                  cancel_url=CANCEL)
    with pytest.raises(jeton.IdempotencyConflict) as refused:
        club.buy_pack("ann", "p50", idempotency_key="ann-buys", success_url=SUCCESS,
                      cancel_url=CANCEL)
    assert refused.value.status == jeton.Status.idempotency_conflict
    assert refused.value.detail == _refused("ann-buys", "a purchase")
    assert [p.pack_id for p in club.list_purchases("ann").data] == ["p20"]
    ok(j.store)


def test_a_subscription_key_reused_for_another_member_names_the_subscription(
        j: jeton.Jeton, club: jeton.Community) -> None:
    club.create_plan("Monthly", plan_id="monthly", cycle="monthly", credits=50,
                     price_minor=900)
    for member in ("ann", "bob"):
        club.set_payment_method(member, provider="demo", customer_id=f"cus_{member}",
                                payment_method_id=DEMO_METHOD_OK)
    club.subscribe("ann", "monthly", idempotency_key="sub-1")
    with pytest.raises(jeton.IdempotencyConflict) as refused:
        club.subscribe("bob", "monthly", idempotency_key="sub-1")
    assert refused.value.status == jeton.Status.idempotency_conflict
    assert refused.value.detail == _refused("sub-1", "a subscription")
    assert club.list_subscriptions("bob") == []
    ok(j.store)


def test_a_bill_key_reused_for_another_member_names_the_bill(
        j: jeton.Jeton, club: jeton.Community) -> None:
    owing(club, ("ann", "bob"))
    club.issue_bill("ann", idempotency_key="bill-now")
    with pytest.raises(jeton.IdempotencyConflict) as refused:
        club.issue_bill("bob", idempotency_key="bill-now")
    assert refused.value.detail == _refused("bill-now", "a bill")
    assert club.list_bills("bob").data == []
    ok(j.store)


def test_a_lease_key_reused_for_other_terms_names_the_lease(
        j: jeton.Jeton, club: jeton.Community) -> None:
    club.create_lease("chess.lib1.", "cy", share_bp=2000, price_min=1, price_max=30,
                      idempotency_key="lease-1")
    with pytest.raises(jeton.IdempotencyConflict) as refused:
        club.create_lease("chess.lib2.", "cy", share_bp=2000, price_min=1, price_max=30,
                          idempotency_key="lease-1")
    assert refused.value.detail == _refused("lease-1", "a lease")
    assert [lease.area for lease in club.list_leases()] == ["chess.lib1."]


def test_a_clock_advance_retried_with_other_values_while_it_runs_names_the_advance(
        j: jeton.Jeton) -> None:
    lab = j.create_community("Chess lab", "lab", test_mode=True)
    with j.store.write() as conn:  # as if another process were advancing under "mine"
        conn.execute(test_clocks.update().values(
            status="advancing", advance_key="mine", advance_hash="x" * 64,
            advance_from_us=test_clocks.c.frozen_time_us,
            advance_to_us=test_clocks.c.frozen_time_us + 86_400_000_000,
            lease_until_us=int((time.time() + 60) * 1_000_000)))
    before = lab.test_clock().now
    with pytest.raises(jeton.IdempotencyConflict) as refused:
        lab.advance_test_clock(seconds=60, idempotency_key="mine")
    assert refused.value.status == jeton.Status.idempotency_conflict
    # The ledger's name for the operation, as a finished advance's refusal says it.
    assert refused.value.detail == _refused("mine", "a test clock's advance")
    assert (lab.test_clock().now, lab.test_clock().status) == (before, "advancing")


def _taken(key: str, first_use: str) -> str:
    return (f"idempotency key {key!r} was already used for a different request "
            f"({first_use}); a new request needs a new key")


def test_keys_are_one_space_for_purchases_subscriptions_bills_leases_and_ledger_writes(
        j: jeton.Jeton, club: jeton.Community) -> None:
    """A key is unique in its community whatever it was used for: a purchase, a subscription,
    a bill or a lease keeps its key in its own record and takes it among the ledger's keys too,
    so a spend under it is refused, and so is each of them under a key a spend took."""
    club.create_plan("Monthly", plan_id="monthly", cycle="monthly", credits=50,
                     price_minor=900)
    club.set_payment_method("ann", provider="demo", customer_id="cus_ann",
                            payment_method_id=DEMO_METHOD_OK)
    owing(club, ("bob",))
    club.grant("cy", 10, idempotency_key="cy-credits")
    club.buy_pack("ann", "p20", idempotency_key="pack", success_url=SUCCESS, cancel_url=CANCEL)
    club.subscribe("ann", "monthly", idempotency_key="plan")
    club.issue_bill("bob", idempotency_key="bill")
    club.create_lease("chess.lib1.", "cy", share_bp=2000, price_min=1, price_max=30,
                      idempotency_key="lease")
    for key, first_use in (("pack", "a purchase"), ("plan", "a subscription"),
                           ("bill", "a bill"), ("lease", "a lease")):
        with pytest.raises(jeton.IdempotencyConflict) as refused:
            club.spend("cy", 1, idempotency_key=key)
        assert refused.value.detail == _taken(key, first_use)
    assert club.balance("cy").posted == 10
    club.spend("cy", 1, idempotency_key="spent")
    with pytest.raises(jeton.IdempotencyConflict) as refused:
        club.buy_pack("ann", "p50", idempotency_key="spent", success_url=SUCCESS,
                      cancel_url=CANCEL)
    assert refused.value.detail == _taken("spent", "a spend")
    # The key is refused as taken before what else the request would meet: no such plan,
    # nothing left to bill, an area leased already.
    with pytest.raises(jeton.IdempotencyConflict):
        club.subscribe("ann", "no-such-plan", idempotency_key="cy-credits")
    with pytest.raises(jeton.IdempotencyConflict):
        club.issue_bill("bob", idempotency_key="game-bob")
    with pytest.raises(jeton.IdempotencyConflict):
        club.create_lease("chess.lib1.", "cy", share_bp=2000, price_min=1, price_max=30,
                          idempotency_key="spent")
    # Each write's own replay still answers from its own record.
    again = club.buy_pack("ann", "p20", idempotency_key="pack", success_url=SUCCESS,
                          cancel_url=CANCEL)
    assert again.replayed
    assert [p.pack_id for p in club.list_purchases("ann").data if p.pack_id] == ["p20"]
    assert len(club.list_subscriptions("ann")) == 1
    assert [lease.area for lease in club.list_leases()] == ["chess.lib1."]
    ok(j.store)


def test_a_test_clocks_advance_holds_its_key_while_it_runs(
        j: jeton.Jeton, monkeypatch: pytest.MonkeyPatch) -> None:
    """An advance takes its key among the ledger's keys when it starts, so a spend under the
    same key while the advance runs its jobs is refused, and the advance ends with its answer
    kept under the key (a retry is a replay)."""
    lab = j.create_community("Chess lab", "lab", test_mode=True)
    lab.create_member("ann")
    lab.grant("ann", 10, idempotency_key="ann-credits")
    meanwhile: list[BaseException] = []
    first_job = clocks._run

    def run_and_spend(j_: jeton.Jeton, job: object, community_id: str) -> int:
        if not meanwhile:  # once, while the advance is under way
            try:
                lab.spend("ann", 1, idempotency_key="tick")
            except jeton.IdempotencyConflict as exc:
                meanwhile.append(exc)
            else:
                meanwhile.append(AssertionError("the spend took the advance's key"))
        return first_job(j_, job, community_id)  # type: ignore[arg-type]

    monkeypatch.setattr(clocks, "_run", run_and_spend)
    done = lab.advance_test_clock(seconds=60, idempotency_key="tick")
    assert isinstance(meanwhile[0], jeton.IdempotencyConflict)
    assert meanwhile[0].detail == _taken("tick", "a test clock's advance")
    assert lab.balance("ann").posted == 10
    again = lab.advance_test_clock(seconds=60, idempotency_key="tick")
    assert again.replayed
    assert again.now == done.now == lab.test_clock().now
    ok(j.store)
