"""Post-pay bills, as a community owner runs them: a chess club lets members play now and pay
one bill a month. The owner sets a credit price and a credit line; at the end of the month the
member's games are billed by service; the member pays on the demo provider's checkout and the
wallet is back at zero; a bill left unpaid past its grace period suspends the credit line until
it is paid. `jeton verify` holds after every step."""

from __future__ import annotations

from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock

from .conftest import events, ok, pay

GAMES = """
[services."chess.game"]
name = "A game"
credits = 2

[services."chess.analysis"]
name = "Analysis, per move"
kind = "per_unit"
credits = 1
unit = "move"
"""


@pytest.fixture
def billed(club: jeton.Community) -> jeton.Community:
    club.load_catalog(GAMES)
    club.set_billing_settings(credit_price_minor=25, currency="USD", cycle="month",
                              grace_days=7, bill_at_percent=90)
    club.set_credit_line("ann", -100)
    return club


def _play(club: jeton.Community, member: str, games: int, moves: int, tag: str) -> None:
    for n in range(games):
        club.charge(member, "chess.game", idempotency_key=f"{tag}-game-{n}")
    if moves:
        club.charge(member, "chess.analysis", moves, idempotency_key=f"{tag}-analysis")


def test_a_month_of_games_is_one_bill_by_service_and_paying_it_brings_the_wallet_to_zero(
        j: jeton.Jeton, billed: jeton.Community, clock: ManualClock) -> None:
    _play(billed, "ann", 5, 12, "jan")  # 5 games of 2 credits and 12 moves of analysis: 22
    assert billed.balance("ann").posted == -22
    assert billed.run_funding_jobs()["bills.issue"] == 0  # January is still running
    ok(j.store)

    clock.advance(timedelta(days=17))  # 1 February
    assert billed.run_funding_jobs()["bills.issue"] == 1
    [bill] = billed.list_bills("ann").data
    assert (bill.number, bill.number_text, bill.status, bill.reason) == (
        1, "B-000001", "open", "cycle_end")
    assert [(x.service, x.count, x.units, x.credits) for x in bill.lines] == [
        ("chess.analysis", 1, 12, 12), ("chess.game", 5, 5, 10)]
    assert (bill.credits_charged, bill.credits_applied, bill.credits_due) == (22, 0, 22)
    assert (bill.amount_minor, bill.currency) == (550, "USD")  # 22 credits at $0.25
    assert bill.period_end.day == 1
    assert bill.period_end.month == 2
    assert bill.due_at - bill.issued_at == timedelta(days=7)
    [issued] = events(j.store, "bill.issued", "ann")
    assert (issued["number"], issued["amount_minor"]) == ("B-000001", 550)
    assert billed.run_funding_jobs()["bills.issue"] == 0  # billed once
    ok(j.store)

    checkout = billed.pay_bill(bill.id)
    assert checkout.amount_minor == 550
    assert billed.pay_bill(bill.id).purchase_id == checkout.purchase_id  # a second click
    pay(j, checkout)
    paid = billed.get_bill(bill.id)
    assert paid.status == "paid"
    assert paid.paid_at is not None
    assert billed.balance("ann").posted == 0
    assert [lot.source for lot in billed.lots("ann")] in ([], ["overdraft"])
    [told] = events(j.store, "bill.paid", "ann")
    assert told["grant_transfer_id"] == paid.grant_transfer_id
    assert billed.get_purchase(checkout.purchase_id).kind == "bill"
    with pytest.raises(jeton.Conflict):
        billed.pay_bill(bill.id)
    assert billed.account_balance("deferred", asset="USD").posted == 550
    ok(j.store)

    # February's games make the next bill, which starts after January's.
    _play(billed, "ann", 2, 0, "feb")
    clock.advance(timedelta(days=28))  # 1 March
    assert billed.run_funding_jobs()["bills.issue"] == 1
    second = billed.list_bills("ann", status="open").data[0]
    assert (second.number, second.credits_due) == (2, 4)
    assert [(x.service, x.count) for x in second.lines] == [("chess.game", 2)]
    assert second.period_start == paid.period_end
    ok(j.store)


def test_an_unpaid_bill_past_its_grace_period_suspends_the_credit_line_until_paid(
        j: jeton.Jeton, billed: jeton.Community, clock: ManualClock) -> None:
    billed.grant("ann", 3, idempotency_key="ann-gift")  # credits of her own first
    _play(billed, "ann", 4, 0, "jan")  # 8 credits: 3 of her own, 5 on the line
    clock.advance(timedelta(days=17))
    billed.run_funding_jobs()
    [bill] = billed.list_bills("ann").data
    assert (bill.credits_charged, bill.credits_applied, bill.credits_due) == (8, 3, 5)

    clock.advance(timedelta(days=6))  # within the grace period: the line still lends
    billed.charge("ann", "chess.game", idempotency_key="in-grace")
    assert billed.check("ann", "chess.game").allowed
    clock.advance(timedelta(days=2))  # past due
    assert billed.get_bill(bill.id).past_due
    checked = billed.check("ann", "chess.game")
    assert (checked.allowed, checked.status) == (False, "credit_line_suspended")
    assert [(r.kind, r.name) for r in checked.reasons] == [
        ("credit_line_suspended", "B-000001")]
    with pytest.raises(jeton.CreditLineSuspended) as refused:
        billed.charge("ann", "chess.game", idempotency_key="past-due")
    assert refused.value.status is jeton.Status.credit_line_suspended
    assert "B-000001" in refused.value.detail
    assert billed.balance("ann").posted == -7  # the refused charge changed nothing
    # Credits of her own still pay while the line is suspended.
    billed.grant("ann", 9, idempotency_key="ann-gift-2")  # repays 7, leaves 2
    billed.charge("ann", "chess.game", idempotency_key="own-credits")
    assert billed.balance("ann").posted == 0
    with pytest.raises(jeton.CreditLineSuspended):
        billed.charge("ann", "chess.game", idempotency_key="past-due-2")
    ok(j.store)

    pay(j, billed.pay_bill(bill.id))
    assert billed.balance("ann").posted == 5  # the bill's credits: she had repaid meanwhile
    billed.charge("ann", "chess.game", idempotency_key="after-paying")
    assert billed.get_bill(bill.id).status == "paid"
    ok(j.store)


def test_a_nearly_used_credit_line_is_billed_at_once_and_staff_can_bill_now(
        j: jeton.Jeton, billed: jeton.Community, clock: ManualClock) -> None:
    billed.set_credit_line("bob", -20)
    _play(billed, "bob", 9, 0, "bob")  # 18 of 20: 90 %
    assert billed.run_funding_jobs()["bills.issue"] == 1
    [bill] = billed.list_bills("bob").data
    assert (bill.reason, bill.credits_due) == ("line_nearly_used", 18)
    assert billed.run_funding_jobs()["bills.issue"] == 0  # the open bill asks it all

    _play(billed, "ann", 1, 0, "ann")
    staff = billed.issue_bill("ann", idempotency_key="bill-ann-now")
    assert (staff.reason, staff.credits_due, staff.number) == ("staff", 2, 2)
    assert billed.issue_bill("ann", idempotency_key="bill-ann-now").id == staff.id
    with pytest.raises(jeton.Conflict):
        billed.issue_bill("ann", idempotency_key="bill-ann-again")  # nothing left to bill
    with pytest.raises(jeton.NotFound):
        billed.issue_bill("nobody", idempotency_key="bill-nobody")
    csv = billed.bill_csv(staff.id)
    assert "B-000002" in csv
    assert "chess.game,1,1,2" in csv
    assert "amount due (minor units),50" in csv
    ok(j.store)


def test_billing_settings_refuse_bad_values_and_change_nothing(
        billed: jeton.Community) -> None:
    before = billed.billing_settings()
    for bad in ({"credit_price_minor": 0}, {"credit_price_minor": 10, "cycle": "fortnight"},
                {"credit_price_minor": 10, "grace_days": 365},
                {"credit_price_minor": 10, "bill_at_percent": 0},
                {"credit_price_minor": 10, "currency": "XX"}):
        with pytest.raises(jeton.InvalidRequest):
            billed.set_billing_settings(**bad)  # type: ignore[arg-type]
    assert billed.billing_settings() == before


def test_a_credit_line_repaid_to_zero_lends_again(j: jeton.Jeton, club: jeton.Community) -> None:
    club.set_credit_line("cy", -10)
    club.spend("cy", 5, idempotency_key="cy-1")
    club.grant("cy", 5, idempotency_key="cy-repaid")
    club.spend("cy", 4, idempotency_key="cy-2")  # the drained overdraft lot is found again
    assert club.balance("cy").posted == -4
    assert [(lot.source, lot.remaining) for lot in club.lots("cy")] == [("overdraft", -4)]
    ok(j.store)


def test_a_bill_paid_late_while_a_new_checkout_is_asked_for_is_not_sold_again(
        j: jeton.Jeton, billed: jeton.Community, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The member's first checkout expired; they ask for a new one just as the first one's
    payment arrives after all. The bill is paid once: the new purchase is refused under the
    bill's lock, not opened beside a bill the old one has paid."""
    from jeton.services.funding import purchases

    _play(billed, "ann", 5, 0, "jan")
    clock.advance(timedelta(days=17))
    billed.run_funding_jobs()
    [bill] = billed.list_bills("ann").data
    first = billed.pay_bill(bill.id)
    clock.advance(timedelta(days=2))
    assert billed.run_funding_jobs()["purchases.expire"] == 1
    assert billed.get_purchase(first.purchase_id).status == "expired"
    open_purchase = purchases.open_purchase

    def paid_meanwhile(*args: object, **kwargs: object) -> object:
        pay(j, first)  # the money of the expired checkout lands after pay_bill read the bill
        return open_purchase(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(purchases, "open_purchase", paid_meanwhile)
    with pytest.raises(jeton.Conflict) as refused:
        billed.pay_bill(bill.id)
    assert refused.value.extra.get("reason") == "bill_paid"
    assert billed.get_bill(bill.id).status == "paid"
    bought = billed.list_purchases("ann").data
    assert [(p.id, p.status) for p in bought] == [(first.purchase_id, "completed")]
    assert billed.balance("ann").posted == 0
    ok(j.store)
