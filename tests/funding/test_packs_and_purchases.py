"""Packs and buying them: what an owner sells and what a member gets, once, when they pay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.payments.offline import DemoProvider
from jeton.services.access.audit import list_audit
from jeton.services.funding.provider_webhooks import handle_provider_webhook
from jeton.services.ledger.state import system_id

from .conftest import CANCEL, SUCCESS, events, ok, pay


def test_a_member_sees_the_three_packs_cheapest_first(club: jeton.Community) -> None:
    offered = club.list_packs("ann")
    assert [(p.credits, p.price_minor, p.currency) for p in offered] == [
        (20, 6000, "USD"), (50, 15000, "USD"), (100, 30000, "USD")]


def test_a_cashier_package_for_vip_members_is_shown_only_to_them(
        club: jeton.Community, clock: ManualClock) -> None:
    club.create_pack("VIP bundle", pack_id="vip", credits=40, price_minor=9900,
                     visible_to=["class:vip"])
    assert "vip" not in [p.id for p in club.list_packs("ann")]
    with pytest.raises(jeton.NotFound):
        club.buy_pack("ann", "vip", idempotency_key="try-vip", success_url=SUCCESS,
                      cancel_url=CANCEL)
    club.grant_class("ann", "vip", expires_at=clock.now() + timedelta(days=7))
    assert "vip" in [p.id for p in club.list_packs("ann")]
    clock.advance(days=8)  # the class lapsed: the package is gone again
    assert "vip" not in [p.id for p in club.list_packs("ann")]
    assert "vip" in [p.id for p in club.list_packs()]  # the owner still sees it


def test_buying_a_pack_grants_paid_credits_bonus_class_and_key_once_when_paid(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    club.create_pack("Starter kit", pack_id="kit", credits=50, price_minor=15000,
                     bonus_credits=10, bonus_expiry_days=30, classes=[("player", 90)],
                     keys=["openings-archive"])
    checkout = club.buy_pack("ann", "kit", idempotency_key="ann-kit", success_url=SUCCESS,
                             cancel_url=CANCEL)
    assert checkout.status == "pending"
    assert checkout.url
    assert club.balance("ann").posted == 0  # nothing before the money is confirmed
    ok(j.store)

    outcome = pay(j, checkout)
    assert outcome.status in ("processed", "duplicate")
    bought = club.get_purchase(checkout.purchase_id)
    assert bought.status == "completed"
    assert club.balance("ann").available == 60
    lots = {lot.source: lot for lot in club.lots("ann")}
    assert lots["purchase"].paid
    assert lots["purchase"].cost_minor == 15000
    assert lots["purchase"].cost_currency == "USD"
    assert lots["purchase"].expires_at is None
    assert not lots["bonus"].paid
    assert lots["bonus"].expires_at == clock.now() + timedelta(days=30)
    holdings = club.member_holdings("ann")
    assert [(h.name, h.expires_at) for h in holdings.classes] == [
        ("player", clock.now() + timedelta(days=90))]
    assert [(h.name, h.expires_at) for h in holdings.keys] == [("openings-archive", None)]
    # The money is in the ledger too: taken by the processor, owed as deferred revenue.
    assert club.account_balance("clearing", asset="USD").posted == -15000
    assert club.account_balance("deferred", asset="USD").posted == 15000
    assert [e["purchase_id"] for e in events(j.store, "purchase.completed")] == [bought.id]
    ok(j.store)

    # The provider delivers the same event again, and again: nothing changes.
    demo = j.payments.get("demo")
    assert isinstance(demo, DemoProvider)
    again = demo.events[-1]
    for _ in range(3):
        replay = handle_provider_webhook(j, "demo", again.payload, again.headers)
        assert replay.status == "duplicate"
    assert club.balance("ann").available == 60
    ok(j.store)


def test_the_same_idempotency_key_returns_the_same_checkout(club: jeton.Community) -> None:
    first = club.buy_pack("bob", "p50", idempotency_key="bob-50", success_url=SUCCESS,
                          cancel_url=CANCEL)
    again = club.buy_pack("bob", "p50", idempotency_key="bob-50", success_url=SUCCESS,
                          cancel_url=CANCEL)
    assert again.purchase_id == first.purchase_id
    assert again.session_id == first.session_id
    assert again.replayed
    with pytest.raises(jeton.IdempotencyConflict):
        club.buy_pack("bob", "p100", idempotency_key="bob-50", success_url=SUCCESS,
                      cancel_url=CANCEL)
    assert len(club.list_purchases("bob").data) == 1


def test_a_checkout_nobody_pays_expires_and_a_late_payment_still_grants(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    checkout = club.buy_pack("cy", "p20", idempotency_key="cy-20", success_url=SUCCESS,
                             cancel_url=CANCEL)
    clock.advance(hours=26)
    assert club.run_funding_jobs()["purchases.expire"] == 1
    assert club.get_purchase(checkout.purchase_id).status == "expired"
    # The member paid in the last second; the provider's event arrives late. They paid, so
    # they get what they paid for.
    pay(j, checkout)
    assert club.get_purchase(checkout.purchase_id).status == "completed"
    assert club.balance("cy").available == 20
    ok(j.store)


def test_an_event_for_another_amount_grants_nothing(
        j: jeton.Jeton, club: jeton.Community) -> None:
    from jeton.payments.port import PaymentEvent, PaymentEventKind
    from jeton.services.funding.provider_webhooks import process_event

    checkout = club.buy_pack("ann", "p100", idempotency_key="ann-100", success_url=SUCCESS,
                             cancel_url=CANCEL)
    forged = PaymentEvent(provider="demo", kind=PaymentEventKind.checkout_completed,
                          event_id="evt-cheap", occurred_at=j.clock.now(),
                          purchase_id=checkout.purchase_id, community_id="chess",
                          member_id="ann", amount_minor=100, currency="USD")
    outcome = process_event(j, forged)
    assert outcome.detail == "amount_mismatch"
    assert club.balance("ann").posted == 0
    assert club.get_purchase(checkout.purchase_id).status == "pending"


def test_events_out_of_order_cannot_undo_a_completed_purchase(
        j: jeton.Jeton, club: jeton.Community) -> None:
    from jeton.payments.port import PaymentEvent, PaymentEventKind
    from jeton.services.funding.provider_webhooks import process_event

    checkout = club.buy_pack("bob", "p20", idempotency_key="bob-20", success_url=SUCCESS,
                             cancel_url=CANCEL)
    pay(j, checkout)
    for n, kind in enumerate((PaymentEventKind.checkout_expired,
                              PaymentEventKind.payment_failed)):
        late = PaymentEvent(provider="demo", kind=kind, event_id=f"late-{n}",
                            occurred_at=j.clock.now(), purchase_id=checkout.purchase_id,
                            community_id="chess", member_id="bob")
        assert process_event(j, late).detail == "ignored"
    assert club.get_purchase(checkout.purchase_id).status == "completed"
    assert club.balance("bob").available == 20


def test_staff_record_a_check_for_an_offline_purchase(
        j: jeton.Jeton, club: jeton.Community) -> None:
    checkout = club.buy_pack("cy", "p50", idempotency_key="cy-check", provider="offline",
                             success_url=SUCCESS, cancel_url=CANCEL)
    assert checkout.provider == "offline"
    assert checkout.url
    assert club.balance("cy").posted == 0
    bought = club.record_offline_payment(checkout.purchase_id, reference="check 1042 from Cy",
                                         actor="staff:olga")
    assert bought.status == "completed"
    assert bought.reference == "check 1042 from Cy"
    assert club.balance("cy").available == 50
    audit = list_audit(j.store, "chess")
    assert [(a.action, a.user_id, a.target) for a in audit] == [
        ("purchase.offline_payment_recorded", "olga", checkout.purchase_id)]
    again = club.record_offline_payment(checkout.purchase_id, reference="check 1042 from Cy")
    assert again.status == "completed"
    assert club.balance("cy").available == 50
    ok(j.store)


def test_a_pack_in_euros_records_euros(j: jeton.Jeton, club: jeton.Community,
                                        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    club.create_pack("20 crédits", pack_id="eu20", credits=20, price_minor=5500, currency="eur")
    bought = buy("ann", "eu20")
    assert bought.currency == "EUR"
    assert club.account_balance("deferred", asset="EUR").posted == 5500
    assert j.ledger.account_balance("chess", system_id("clearing", "EUR")).posted == -5500
    ok(j.store)


def test_bad_packs_are_refused(club: jeton.Community) -> None:
    with pytest.raises(jeton.InvalidRequest):
        club.create_pack("free", credits=20, price_minor=0)
    with pytest.raises(jeton.InvalidRequest):
        club.create_pack("odd", credits=20, price_minor=100, currency="dollars")
    with pytest.raises(jeton.InvalidRequest):
        club.create_pack("odd", credits=20, price_minor=100, visible_to=["vip"])
    with pytest.raises(jeton.Conflict):
        club.create_pack("20 credits", pack_id="p20", credits=25, price_minor=6000)
    assert club.set_pack_active("p20", False).active is False
    assert "p20" not in [p.id for p in club.list_packs("ann")]
