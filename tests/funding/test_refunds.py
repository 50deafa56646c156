"""Refunds: cash back through the provider, money back as credits, a charge back to its lots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.payments.errors import ProviderDeclined
from jeton.payments.offline import DemoProvider
from jeton.payments.port import RefundResult
from jeton.services.funding.payment_registry import PaymentRegistry
from jeton.store.engine import Store

from .conftest import CANCEL, SUCCESS, events, ok, pay


def test_a_cash_refund_takes_back_the_unspent_credits_and_the_money(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    club.create_pack("Bundle", pack_id="bundle", credits=20, price_minor=6000,
                     bonus_credits=4)
    bought = buy("ann", "bundle")
    refund = club.refund_purchase(bought.id, idempotency_key="refund-ann",
                                  reason="bought by mistake")
    assert (refund.kind, refund.status, refund.amount_minor) == ("cash", "succeeded", 6000)
    assert refund.credits_taken == 24  # the paid 20 and the bonus 4
    assert club.balance("ann").posted == 0
    assert club.account_balance("deferred", asset="USD").posted == 0
    assert club.account_balance("clearing", asset="USD").posted == 0
    again = club.refund_purchase(bought.id, idempotency_key="refund-ann",
                                 reason="bought by mistake")
    assert again.replayed
    assert again.id == refund.id
    with pytest.raises(jeton.Conflict):
        club.refund_purchase(bought.id, idempotency_key="refund-ann-2")
    assert [e["refund_id"] for e in events(j.store, "purchase.refunded")] == [refund.id]
    ok(j.store)


def test_two_half_refunds_take_back_what_one_whole_refund_would(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    bought = buy("bob", "p20")
    first = club.refund_purchase(bought.id, idempotency_key="half-1", amount_minor=3000)
    assert first.credits_taken == 10
    assert club.balance("bob").posted == 10
    second = club.refund_purchase(bought.id, idempotency_key="half-2", amount_minor=3000)
    assert second.credits_taken == 10
    assert club.balance("bob").posted == 0
    assert club.get_purchase(bought.id).refunded_minor == 6000
    ok(j.store)


def test_a_cash_refund_of_credits_already_spent_is_refused_with_what_is_still_possible(
        j: jeton.Jeton, club: jeton.Community,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    bought = buy("cy", "p20")
    club.spend("cy", 5, idempotency_key="played", service="chess.game")
    with pytest.raises(jeton.Declined) as refused:
        club.refund_purchase(bought.id, idempotency_key="too-much")
    assert refused.value.status is jeton.Status.reversal_insufficient
    assert refused.value.extra["balance"] == 4500  # 15 of 20 credits unspent: $45
    assert club.balance("cy").posted == 15  # nothing changed
    partial = club.refund_purchase(bought.id, idempotency_key="what-is-left",
                                   amount_minor=4500)
    assert partial.credits_taken == 15
    assert club.balance("cy").posted == 0
    ok(j.store)


def test_a_refund_as_credits_converts_the_money_into_permanent_credits(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    club.create_pack("Tournament pass", pack_id="pass", credits=20, price_minor=6000,
                     credit_expiry_days=7)
    bought = buy("ann", "pass")
    club.spend("ann", 12, idempotency_key="tournament", service="chess.tournament")
    # The tournament was canceled: the owner refunds the pass as credits that never expire.
    refund = club.refund_as_credits(bought.id, idempotency_key="pass-as-credits",
                                    reason="tournament canceled")
    assert (refund.kind, refund.credits_taken, refund.credits_given) == ("credits", 8, 20)
    lots = club.lots("ann")
    assert [(lot.source, lot.remaining, lot.expires_at, lot.paid, lot.cost_minor)
            for lot in lots] == [("refund", 20, None, True, 6000)]
    assert club.account_balance("deferred", asset="USD").posted == 6000  # the money stays
    clock.advance(days=30)
    club.run_expiry()
    assert club.balance("ann").available == 20
    with pytest.raises(jeton.Conflict):  # refunded already: no cash on top
        club.refund_purchase(bought.id, idempotency_key="and-cash")
    ok(j.store)


def test_a_charge_is_refunded_back_to_the_lots_it_came_from(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("bob", "p20")
    club.grant("bob", 5, idempotency_key="promo", expires_at=clock.now() + timedelta(days=3))
    charge = club.spend("bob", 8, idempotency_key="bad-game", service="chess.game")
    back = club.refund_charge(charge.id, idempotency_key="refund-game", reason="server crash")
    assert back.kind == "reversal"
    assert back.reverses_id == charge.id
    by_source = {lot.source: (lot.remaining, lot.expires_at) for lot in club.lots("bob")}
    assert by_source == {"grant": (5, clock.now() + timedelta(days=3)),
                         "purchase": (20, None)}
    with pytest.raises(jeton.InvalidRequest):
        club.refund_charge(back.id, idempotency_key="refund-the-refund")
    ok(j.store)


class RefusingDemo(DemoProvider):
    """A provider that refuses every refund (the payment was disputed meanwhile)."""

    def refund(self, *, provider_payment_id: str, amount_minor: int,
               idempotency_key: str) -> RefundResult:
        raise ProviderDeclined("the charge is disputed", provider=self.name,
                               code="charge_disputed")


def test_a_refund_the_provider_refuses_puts_the_credits_back(
        store: Store, clock: ManualClock) -> None:
    from jeton.config import Settings

    app = jeton.Jeton(store, clock=clock, settings=Settings(),
                      payments=PaymentRegistry({"demo": RefusingDemo(clock=clock)}))
    club = app.create_community("Chess club", "chess")
    club.create_member("ann")
    club.create_pack("20 credits", pack_id="p20", credits=20, price_minor=6000)
    checkout = club.buy_pack("ann", "p20", idempotency_key="buy", success_url=SUCCESS,
                             cancel_url=CANCEL)
    pay(app, checkout)
    refund = club.refund_purchase(checkout.purchase_id, idempotency_key="refund")
    assert refund.status == "failed"
    assert refund.failure_reason == "the charge is disputed"
    assert [(lot.source, lot.remaining) for lot in club.lots("ann")] == [("purchase", 20)]
    bought = club.get_purchase(checkout.purchase_id)
    assert bought.refunded_minor == 0
    assert bought.credits_taken_back == 0
    assert club.account_balance("deferred", asset="USD").posted == 6000
    assert len(events(store, "purchase.refund_failed")) == 1
    ok(store)
