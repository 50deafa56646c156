"""Funding over HTTP, through `jeton.Client` against a real server: packs bought through the demo
provider and through Stripe (the real `stripe` SDK against the local fake Stripe, its signed
webhook POSTed to `/v1/providers/stripe/webhook`), offline payments, refunds, plans and
subscriptions, coupons and classes, auto-recharge, staff postings and the funding settings.

Credits come once, when the provider's event says the member paid; a replayed event changes
nothing; a tampered one is refused (400) and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import jeton
from conftest import make_sqlite_store
from jeton import Conflict, InsufficientCredits, InvalidRequest, JetonError, NotFound, Status
from jeton.api import create_app
from jeton.api.server import serve_in_thread
from jeton.client import create_community
from jeton.config import Settings
from jeton.payments.fake_stripe import FakeStripe
from jeton.payments.offline import DEMO_METHOD_OK, DemoProvider
from jeton.payments.port import SignedWebhook
from jeton.services.funding.results import AffiliateProgram
from jeton.services.ledger.verify import verify

from .conftest import COMMUNITY_ID, OPERATOR_TOKEN, TEST_RATE_PER_S, LiveServer

SUCCESS = "https://club.example/credits/thanks"
CANCEL = "https://club.example/credits"


def _ok(j: jeton.Jeton) -> None:
    found = verify(j.store)
    assert not found, "\n".join(str(v) for v in found)


def _shop(server: LiveServer) -> jeton.Client:
    chat = server.client()
    for member in ("ann", "bob"):
        chat.create_member(member)
    chat.create_pack("20 credits", pack_id="p20", credits=20, price_minor=600)
    chat.create_pack("50 credits", pack_id="p50", credits=50, price_minor=1500,
                     bonus_credits=5, bonus_expiry_days=30)
    return chat


def _pay_on_demo(server: LiveServer, session_id: str | None) -> SignedWebhook:
    """The member presses Pay on the demo checkout page: the provider hands its signed event
    to Jeton's webhook handler (as `local_checkout.pay_demo_checkout` does), and we get it."""
    demo = server.jeton.payments.get("demo")
    assert isinstance(demo, DemoProvider)
    assert session_id is not None
    return demo.complete_checkout(session_id)


def test_a_pack_bought_on_the_demo_provider_grants_its_credits_once(
        live_server: LiveServer) -> None:
    shop = _shop(live_server)
    assert [p.id for p in shop.list_packs()] == ["p20", "p50"]
    assert shop.get_pack("p50").bonus_credits == 5

    checkout = shop.buy_pack("ann", "p50", idempotency_key="ann-p50",
                             success_url=SUCCESS, cancel_url=CANCEL)
    assert (checkout.provider, checkout.status, checkout.amount_minor) == ("demo", "pending",
                                                                           1500)
    assert checkout.url
    again = shop.buy_pack("ann", "p50", idempotency_key="ann-p50",
                          success_url=SUCCESS, cancel_url=CANCEL)
    assert again.replayed
    assert again.purchase_id == checkout.purchase_id
    assert shop.balance("ann").posted == 0  # nothing before the payment

    _pay_on_demo(live_server, checkout.session_id)
    bought = shop.get_purchase(checkout.purchase_id)
    assert bought.status == "completed"
    assert shop.balance("ann").available == 55
    assert [p.id for p in shop.list_purchases("ann").data] == [checkout.purchase_id]
    assert shop.list_purchases("bob").data == []

    # A pack on the member's list only while it is on sale.
    assert not shop.set_pack_active("p20", False).active
    assert [p.id for p in shop.list_packs("ann")] == ["p50"]
    assert [p.id for p in shop.list_packs(include_inactive=True)] == ["p20", "p50"]
    with pytest.raises(NotFound):
        shop.buy_pack("bob", "p20", idempotency_key="bob-p20",
                      success_url=SUCCESS, cancel_url=CANCEL)
    assert shop.set_pack_active("p20", True).active
    with pytest.raises(NotFound):
        shop.get_purchase("01234567-89ab-7def-8123-456789abcdef")
    _ok(live_server.jeton)


def test_the_demo_webhook_over_http_is_a_replay_and_garbage_is_refused(
        live_server: LiveServer) -> None:
    shop = _shop(live_server)
    checkout = shop.buy_pack("bob", "p20", idempotency_key="bob-p20",
                             success_url=SUCCESS, cancel_url=CANCEL)
    webhook = _pay_on_demo(live_server, checkout.session_id)
    assert shop.balance("bob").posted == 20
    url = f"{live_server.base_url}/v1/providers/demo/webhook"
    # The provider already handed its event to Jeton; delivering it over HTTP is a replay.
    answer = httpx.post(url, content=webhook.payload, headers=dict(webhook.headers))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "duplicate"
    assert shop.balance("bob").posted == 20

    garbage = httpx.post(url, content=b'{"id": "evt_1"}',
                         headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400
    assert garbage.headers["content-type"] == "application/problem+json"
    unknown = httpx.post(f"{live_server.base_url}/v1/providers/paypal/webhook", content=b"{}")
    assert unknown.status_code == 404
    assert shop.balance("bob").posted == 20


def test_offline_payments_and_refunds(live_server: LiveServer) -> None:
    shop = _shop(live_server)
    checkout = shop.buy_pack("ann", "p20", idempotency_key="ann-check", provider="offline",
                             success_url=SUCCESS, cancel_url=CANCEL)
    assert checkout.provider == "offline"
    paid = shop.record_offline_payment(checkout.purchase_id, reference="check 1042",
                                       actor="treasurer")
    assert paid.status == "completed"
    assert paid.reference == "check 1042"
    assert shop.balance("ann").posted == 20

    # A demo purchase refunded in cash: the unspent credits go back with the money.
    card = shop.buy_pack("bob", "p20", idempotency_key="bob-card",
                         success_url=SUCCESS, cancel_url=CANCEL)
    _pay_on_demo(live_server, card.session_id)
    assert shop.balance("bob").posted == 20
    refund = shop.refund_purchase(card.purchase_id, idempotency_key="refund-bob",
                                  amount_minor=300, reason="half a pack")
    assert (refund.kind, refund.status, refund.credits_taken) == ("cash", "succeeded", 10)
    assert shop.refund_purchase(card.purchase_id, idempotency_key="refund-bob",
                                amount_minor=300, reason="half a pack").replayed
    assert shop.balance("bob").posted == 10
    # The rest as credits.
    credits = shop.refund_as_credits(card.purchase_id, idempotency_key="credit-bob",
                                     reason="goodwill")
    assert credits.kind == "credits"
    assert credits.credits_given > 0

    # A charge given back to its lots; a grant is not a charge.
    spend = shop.spend("ann", 4, idempotency_key="ann-spend")
    back = shop.refund_charge(spend.id, idempotency_key="ann-spend-back", reason="broken")
    assert back.reverses_id == spend.id
    assert shop.balance("ann").posted == 20
    with pytest.raises(Conflict) as not_a_charge:
        shop.refund_charge(back.id, idempotency_key="nope")
    assert not_a_charge.value.status is Status.not_reversible
    _ok(live_server.jeton)


def test_a_decline_suggests_packs(live_server: LiveServer) -> None:
    shop = _shop(live_server)
    shop.grant("ann", 3, idempotency_key="ann-3")
    with pytest.raises(InsufficientCredits) as declined:
        shop.spend("ann", 10, idempotency_key="ann-10")
    assert declined.value.extra["required"] == 10
    assert [p["id"] for p in declined.value.extra["suggested_packs"]] == ["p20", "p50"]


def test_plans_subscriptions_and_cancel(live_server: LiveServer) -> None:
    shop = _shop(live_server)
    plan = shop.create_plan("Monthly", plan_id="monthly", cycle="monthly", credits=100,
                            price_minor=1000, member_class="member", discount_bp=1000)
    assert [p.id for p in shop.list_plans()] == [plan.id]
    with pytest.raises(InvalidRequest):  # no saved card and nowhere to send the member
        shop.subscribe("ann", "monthly", idempotency_key="ann-no-url")
    sub = shop.subscribe("ann", "monthly", idempotency_key="ann-monthly",
                         success_url=SUCCESS, cancel_url=CANCEL)
    assert sub.status == "incomplete"
    assert sub.checkout is not None
    _pay_on_demo(live_server, sub.checkout.session_id)
    active = shop.get_subscription(sub.id)
    assert active.status == "active"
    assert shop.balance("ann").available == 100
    assert "member" in {c.name for c in shop.member_holdings("ann").classes}
    assert [s.id for s in shop.list_subscriptions("ann")] == [sub.id]
    assert shop.list_subscriptions("bob") == []
    canceled = shop.cancel_subscription(sub.id)
    assert canceled.cancel_at_period_end
    with pytest.raises(NotFound):
        shop.get_subscription("01234567-89ab-7def-8123-456789abcdef")
    _ok(live_server.jeton)


def test_coupons_classes_keys_and_affiliate_codes(live_server: LiveServer) -> None:
    shop = _shop(live_server)
    shop.create_pack("VIP pack", pack_id="vip", credits=100, price_minor=2000,
                     visible_to=["class:vip"])
    assert "vip" not in {p.id for p in shop.list_packs("ann")}
    coupon = shop.create_coupon("spring-24", credits=5, classes=[("vip", 30)], keys=["lounge"])
    assert coupon.code == "SPRING-24"
    with pytest.raises(Conflict):
        shop.create_coupon("SPRING-24", credits=1)
    redeemed = shop.redeem_coupon("ann", "Spring-24", idempotency_key="ann-spring")
    assert redeemed.credits == 5
    assert shop.redeem_coupon("ann", "Spring-24", idempotency_key="ann-spring").replayed
    with pytest.raises(JetonError) as twice:
        shop.redeem_coupon("ann", "SPRING-24", idempotency_key="ann-spring-2")
    assert twice.value.status is Status.limit_exceeded
    assert shop.get_coupon("spring-24").redeemed_count == 1
    with pytest.raises(NotFound):
        shop.get_coupon("NO-SUCH")
    holdings = shop.member_holdings("ann")
    assert [c.name for c in holdings.classes] == ["vip"]
    assert [k.name for k in holdings.keys] == ["lounge"]
    assert "vip" in {p.id for p in shop.list_packs("ann")}

    assert [k.name for k in shop.grant_key("bob", "lounge").keys] == ["lounge"]
    assert [c.name for c in shop.grant_class("bob", "author").classes] == ["author"]
    with pytest.raises(NotFound):
        shop.member_holdings("nobody")

    program = shop.set_affiliate_program(AffiliateProgram(classes=["author"], fee_per_code=2,
                                                          credits=10, royalty=3))
    assert program.royalty == 3
    shop.grant("bob", 10, idempotency_key="bob-10")
    codes = shop.create_affiliate_codes("bob", 2, idempotency_key="bob-codes")
    assert len(codes.codes) == 2
    assert shop.balance("bob").posted == 6
    with pytest.raises(JetonError) as not_author:
        shop.create_affiliate_codes("ann", 1, idempotency_key="ann-codes")
    assert not_author.value.status is Status.forbidden
    shop.redeem_coupon("ann", codes.codes[0], idempotency_key="ann-aff")
    assert shop.balance("bob").posted == 9  # the royalty
    _ok(live_server.jeton)


def test_auto_recharge_and_payment_methods(live_server: LiveServer) -> None:
    shop = _shop(live_server)
    assert shop.get_auto_recharge("ann") is None
    with pytest.raises(NotFound):
        shop.get_auto_recharge("nobody")
    with pytest.raises(JetonError):  # enabling it needs a saved payment method
        shop.set_auto_recharge("ann", pack_id="p20", threshold=5, monthly_cap=2)
    profile = shop.set_payment_method("ann", provider="demo", customer_id="cus_demo_ann",
                                      payment_method_id=DEMO_METHOD_OK)
    assert profile.payment_method_id == DEMO_METHOD_OK
    settings = shop.set_auto_recharge("ann", pack_id="p20", threshold=5, monthly_cap=2)
    assert (settings.enabled, settings.threshold, settings.status) == (True, 5, "ok")
    assert shop.get_auto_recharge("ann") == settings

    shop.grant("ann", 8, idempotency_key="ann-8")
    shop.spend("ann", 4, idempotency_key="ann-4")  # 4 left: under 5
    assert live_server.community.run_funding_jobs()["recharge.run"] == 1
    assert shop.balance("ann").posted == 24
    recharge = [p for p in shop.list_purchases("ann").data if p.kind == "recharge"]
    assert [(p.status, p.credits) for p in recharge] == [("completed", 20)]
    off = shop.set_auto_recharge("ann", pack_id="p20", threshold=5, monthly_cap=2,
                                 enabled=False)
    assert not off.enabled
    _ok(live_server.jeton)


def test_settings_and_staff_postings(live_server: LiveServer) -> None:
    shop = _shop(live_server)
    assert shop.get_signup_bonus().amount == 0
    bonus = shop.set_signup_bonus(10, expiry_days=30)
    assert (bonus.amount, bonus.expiry_days) == (10, 30)
    assert shop.get_signup_bonus() == bonus
    shop.create_member("cy")
    assert shop.balance("cy").posted == 10

    limits_ = shop.set_transfer_limits(per_day=5, fee_fixed=1)
    assert shop.get_transfer_limits() == limits_
    with pytest.raises(JetonError) as over:
        shop.transfer("cy", "ann", 5, idempotency_key="cy-ann")  # 5 + the fee of 1
    assert over.value.status is Status.limit_exceeded

    # A moderator posts nothing until an owner sets the role's limit, then up to it.
    with pytest.raises(JetonError) as no_limit:
        shop.staff_grant("ann", 5, actor="mod-1", role="moderator", reason="welcome",
                         idempotency_key="mod-1-ann")
    assert no_limit.value.status is Status.limit_exceeded
    limit = shop.set_role_limit("moderator", 8, period="day")
    assert (limit.role, limit.amount, limit.period) == ("moderator", 8, "day")
    granted = shop.staff_grant("ann", 5, actor="mod-1", role="moderator", reason="welcome",
                               idempotency_key="mod-1-ann-2")
    assert granted.actor == "staff:mod-1"
    with pytest.raises(JetonError) as over_role:
        shop.staff_charge("ann", 4, actor="mod-1", role="moderator", reason="spam",
                          idempotency_key="mod-1-charge")
    assert over_role.value.status is Status.limit_exceeded
    charged = shop.staff_charge("ann", 3, actor="mod-1", role="moderator", reason="spam",
                                idempotency_key="mod-1-charge-2")
    assert charged.kind == "spend"
    assert shop.staff_grant("bob", 1_000, actor="owner-1", reason="prize",
                            idempotency_key="owner-bob").amount == 1_000
    with pytest.raises(JetonError) as support:
        shop.staff_grant("bob", 1, actor="help-1", role="support", reason="?",
                         idempotency_key="support-bob")
    assert support.value.status is Status.forbidden
    _ok(live_server.jeton)


# ---- Stripe: the real SDK against the local fake, webhooks POSTed to the live server ----

@pytest.fixture
def stripe_server(tmp_path: Path) -> Iterator[tuple[LiveServer, FakeStripe]]:
    store = make_sqlite_store(tmp_path / "jeton.db")
    with FakeStripe() as fake:
        settings = Settings(stripe_api_key=fake.api_key,
                            stripe_webhook_secret=fake.webhook_secret,
                            stripe_api_base=fake.base_url)
        j = jeton.Jeton(store, settings=settings)
        app = create_app(j, include_web=False, operator_token=OPERATOR_TOKEN,
                         rate_per_s=TEST_RATE_PER_S, rate_burst=int(TEST_RATE_PER_S))
        try:
            with serve_in_thread(app) as base_url:
                admin, token = create_community(base_url, OPERATOR_TOKEN, COMMUNITY_ID,
                                                "Stripe club")
                admin.close()
                server = LiveServer(base_url=base_url, api_key=token,
                                    community_id=COMMUNITY_ID, jeton=j, app=app)
                try:
                    yield server, fake
                finally:
                    for client in server._clients:
                        client.close()
        finally:
            j.close()


def test_a_stripe_checkout_is_granted_once_by_its_signed_webhook(
        stripe_server: tuple[LiveServer, FakeStripe]) -> None:
    server, fake = stripe_server
    shop = _shop(server)
    checkout = shop.buy_pack("ann", "p50", idempotency_key="ann-p50",
                             success_url=SUCCESS, cancel_url=CANCEL)
    assert checkout.provider == "stripe"
    assert checkout.url is not None
    assert checkout.url.startswith(fake.base_url)
    assert checkout.session_id is not None

    webhook = fake.complete_checkout(checkout.session_id, deliver=False)
    url = f"{server.base_url}/v1/providers/stripe/webhook"
    first = httpx.post(url, content=webhook.payload, headers=dict(webhook.headers))
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["detail"]) == ("processed", "completed")
    assert shop.balance("ann").available == 55
    assert shop.get_purchase(checkout.purchase_id).status == "completed"

    replay = httpx.post(url, content=webhook.payload, headers=dict(webhook.headers))
    assert replay.status_code == 200
    assert replay.json()["status"] == "duplicate"

    tampered = webhook.payload.replace(b'"amount_total": 1500', b'"amount_total": 1')
    assert tampered != webhook.payload
    refused = httpx.post(url, content=tampered, headers=dict(webhook.headers))
    assert refused.status_code == 400
    assert refused.json()["code"] == "value_invalid"
    forged = fake.signed(json.loads(webhook.payload), secret="whsec_not_ours")
    assert httpx.post(url, content=forged.payload,
                      headers=dict(forged.headers)).status_code == 400
    assert shop.balance("ann").available == 55

    # A refund goes back through Stripe, and the unspent credits (bonus too) with it.
    refund = shop.refund_purchase(checkout.purchase_id, idempotency_key="ann-refund")
    assert (refund.status, refund.credits_taken) == ("succeeded", 55)
    assert shop.balance("ann").posted == 0
    assert refund.provider_refund_id is not None
    _ok(server.jeton)


def test_stripe_delivers_its_own_webhook_to_the_live_server(
        stripe_server: tuple[LiveServer, FakeStripe]) -> None:
    server, fake = stripe_server
    fake.webhook_url = f"{server.base_url}/v1/providers/stripe/webhook"
    shop = _shop(server)
    checkout = shop.buy_pack("bob", "p20", idempotency_key="bob-p20",
                             success_url=SUCCESS, cancel_url=CANCEL)
    assert checkout.session_id is not None
    fake.complete_checkout(checkout.session_id)
    assert {d.status_code for d in fake.deliveries} == {200}
    assert shop.balance("bob").posted == 20


@pytest.mark.postgres
def test_a_pack_bought_on_postgres_grants_its_credits_once(pg_live_server: LiveServer) -> None:
    test_a_pack_bought_on_the_demo_provider_grants_its_credits_once(pg_live_server)
