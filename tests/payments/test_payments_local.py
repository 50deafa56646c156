"""The offline and demo providers: payments recorded by staff, and scripted card payments."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from jeton.core.clock import ManualClock
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.payments import (
    DEMO_METHOD_DECLINED,
    DEMO_METHOD_INSUFFICIENT_FUNDS,
    DEMO_METHOD_REQUIRES_ACTION,
    ChargeStatus,
    CheckoutStatus,
    DemoProvider,
    MemoryState,
    OfflineProvider,
    PaymentEvent,
    PaymentEventKind,
    PaymentNotFound,
    PaymentProvider,
    ProviderRejected,
    RefundStatus,
    SignatureInvalid,
    SignedWebhook,
    WebhookInvalid,
)

from .conftest import checkout_args

PURCHASE = checkout_args()["purchase_id"]


def record(provider: OfflineProvider, reference: str = "check 1042", **overrides: object
           ) -> SignedWebhook:
    """Staff record the money for the purchase of `checkout_args()`."""
    fields = {k: checkout_args()[k] for k in (
        "community_id", "member_id", "purchase_id", "amount_minor", "currency")}
    fields.update(overrides)
    return provider.record_payment(reference=reference, **fields)


def parse(provider: PaymentProvider, webhook: SignedWebhook) -> PaymentEvent:
    event = provider.parse_webhook(webhook.payload, webhook.headers)
    assert event is not None
    return event


@pytest.mark.parametrize("provider", [OfflineProvider(), DemoProvider()], ids=["offline", "demo"])
def test_local_providers_implement_the_port(provider: PaymentProvider) -> None:
    assert isinstance(provider, PaymentProvider)


# -- offline -----------------------------------------------------------------------------------


def test_staff_record_a_check_and_the_purchase_completes() -> None:
    provider = OfflineProvider()
    checkout = provider.create_checkout(**checkout_args())
    assert checkout.url == (f"/pay/offline/{checkout.session_id}"
                            f"?sig={provider.checkout_signature(checkout.session_id)}")
    assert provider.get_checkout(checkout.session_id).status is CheckoutStatus.open

    webhook = record(provider, "check 1042 from Ann")
    event = parse(provider, webhook)

    assert event.kind is PaymentEventKind.checkout_completed
    assert (event.provider, event.purchase_id, event.community_id, event.member_id) == (
        "offline", PURCHASE, "chess-club", "ann")
    assert (event.amount_minor, event.currency) == (6000, "USD")
    assert event.checkout_session_id == checkout.session_id
    assert json.loads(webhook.payload)["reference"] == "check 1042 from Ann"
    state = provider.get_checkout(checkout.session_id)
    assert (state.status, state.paid, state.provider_payment_id) == (
        CheckoutStatus.complete, True, event.provider_payment_id)
    assert provider.events == [webhook]


def test_recording_the_same_payment_twice_is_a_conflict() -> None:
    provider = OfflineProvider()
    provider.create_checkout(**checkout_args())
    record(provider)
    with pytest.raises(ProviderRejected) as caught:
        record(provider)
    assert caught.value.status is Status.conflict
    assert len(provider.events) == 1


def test_a_payment_is_recorded_after_a_restart_with_the_same_event_id() -> None:
    before = OfflineProvider(webhook_secret="s")
    before.create_checkout(**checkout_args())
    first = parse(before, record(before))
    after_restart = OfflineProvider(webhook_secret="s")  # the checkout is no longer in memory
    again = parse(after_restart, record(after_restart))
    assert again.event_id == first.event_id  # so the caller drops it as a repeat
    assert (again.kind, again.purchase_id, again.amount_minor) == (
        PaymentEventKind.checkout_completed, PURCHASE, 6000)
    assert again.checkout_session_id is None


def test_recording_another_amount_than_the_checkout_asked_is_refused() -> None:
    provider = OfflineProvider()
    checkout = provider.create_checkout(**checkout_args())
    with pytest.raises(ProviderRejected, match="6000 USD"):
        record(provider, amount_minor=5000)
    assert provider.get_checkout(checkout.session_id).status is CheckoutStatus.open


def test_a_card_number_typed_into_the_reference_is_refused() -> None:
    provider = OfflineProvider()
    checkout = provider.create_checkout(**checkout_args())
    with pytest.raises(InvalidRequest, match="card number"):
        record(provider, "paid with 4111-1111-1111-1111")
    assert provider.get_checkout(checkout.session_id).status is CheckoutStatus.open


def test_offline_provider_cannot_save_or_charge_a_payment_method() -> None:
    provider = OfflineProvider()
    with pytest.raises(InvalidRequest, match="cannot save"):
        provider.create_checkout(**checkout_args(save_payment_method=True))
    result = provider.charge_saved_method(
        customer_id="offline_cus_1", payment_method_id="offline_pm_1", amount_minor=100,
        currency="USD", purchase_id="recharge-1", idempotency_key="recharge-1")
    assert (result.status, result.failure_reason) == (ChargeStatus.failed, "unsupported")


def test_money_given_back_by_hand_is_a_refund() -> None:
    provider = OfflineProvider()
    provider.create_checkout(**checkout_args())
    paid = parse(provider, record(provider, "cash"))
    assert paid.provider_payment_id is not None

    refund = provider.refund(provider_payment_id=paid.provider_payment_id, amount_minor=2000,
                             idempotency_key="refund-1")
    assert (refund.status, refund.amount_minor, refund.currency) == (
        RefundStatus.succeeded, 2000, "USD")
    event = parse(provider, provider.events[-1])
    assert (event.kind, event.amount_minor, event.purchase_id) == (
        PaymentEventKind.refunded, 2000, PURCHASE)
    with pytest.raises(ProviderRejected, match="more than"):
        provider.refund(provider_payment_id=paid.provider_payment_id, amount_minor=4001,
                        idempotency_key="refund-2")


def test_offline_event_with_a_bad_signature_is_refused() -> None:
    provider = OfflineProvider()
    webhook = record(provider, "check 7")
    with pytest.raises(SignatureInvalid):
        provider.parse_webhook(webhook.payload.replace(b"6000", b"9000"), webhook.headers)
    with pytest.raises(SignatureInvalid):
        OfflineProvider().parse_webhook(webhook.payload, webhook.headers)  # another secret


def test_an_event_from_another_local_provider_is_not_read() -> None:
    demo = DemoProvider(webhook_secret="shared", complete_immediately=True)
    demo.create_checkout(**checkout_args())
    offline = OfflineProvider(webhook_secret="shared")
    with pytest.raises(WebhookInvalid, match="demo"):
        offline.parse_webhook(demo.events[0].payload, demo.events[0].headers)


def test_local_event_signed_too_long_ago_is_refused() -> None:
    clock = ManualClock()
    provider = OfflineProvider(clock=clock)
    webhook = record(provider, "check 9")
    clock.advance(timedelta(minutes=10))
    with pytest.raises(SignatureInvalid, match="300 s"):
        provider.parse_webhook(webhook.payload, webhook.headers)


def test_unknown_session_is_not_found() -> None:
    with pytest.raises(PaymentNotFound):
        OfflineProvider().get_checkout("offline_cs_nope")


# -- demo --------------------------------------------------------------------------------------


def test_demo_checkout_completes_at_once_and_sends_the_member_back() -> None:
    delivered: list[SignedWebhook] = []
    provider = DemoProvider(complete_immediately=True, on_event=delivered.append)
    checkout = provider.create_checkout(**checkout_args())

    assert checkout.url == (
        f"https://club.example/credits/thanks?session={checkout.session_id}")
    assert provider.get_checkout(checkout.session_id).paid
    assert delivered == provider.events
    event = parse(provider, delivered[0])
    assert (event.kind, event.purchase_id) == (PaymentEventKind.checkout_completed, PURCHASE)


def test_demo_checkout_waits_for_complete_checkout_by_default() -> None:
    provider = DemoProvider()
    checkout = provider.create_checkout(**checkout_args())
    assert checkout.url == (f"/pay/demo/{checkout.session_id}"
                            f"?sig={provider.checkout_signature(checkout.session_id)}")
    assert provider.events == []
    event = parse(provider, provider.complete_checkout(checkout.session_id))
    assert event.kind is PaymentEventKind.checkout_completed


def test_demo_checkout_expires() -> None:
    provider = DemoProvider()
    checkout = provider.create_checkout(**checkout_args())
    event = parse(provider, provider.expire_checkout(checkout.session_id))
    assert event.kind is PaymentEventKind.checkout_expired
    with pytest.raises(ProviderRejected):
        provider.complete_checkout(checkout.session_id)


def test_asking_twice_for_one_purchase_returns_the_same_demo_session() -> None:
    provider = DemoProvider()
    assert provider.create_checkout(**checkout_args()) == provider.create_checkout(
        **checkout_args())
    with pytest.raises(ProviderRejected) as caught:
        provider.create_checkout(**checkout_args(amount_minor=7000))
    assert caught.value.status is Status.idempotency_conflict


def saved_method(provider: DemoProvider) -> PaymentEvent:
    checkout = provider.create_checkout(**checkout_args(save_payment_method=True))
    return parse(provider, provider.complete_checkout(checkout.session_id))


def test_saved_demo_method_is_charged() -> None:
    provider = DemoProvider()
    first = saved_method(provider)
    assert first.customer_id is not None
    assert first.payment_method_id is not None

    result = provider.charge_saved_method(
        customer_id=first.customer_id, payment_method_id=first.payment_method_id,
        amount_minor=1500, currency="usd", purchase_id="recharge-1",
        idempotency_key="recharge-1", community_id="chess-club", member_id="ann")

    assert result.succeeded
    assert result.currency == "USD"
    event = parse(provider, provider.events[-1])
    assert (event.kind, event.purchase_id, event.community_id) == (
        PaymentEventKind.payment_succeeded, "recharge-1", "chess-club")
    assert event.payment_method_id == first.payment_method_id


@pytest.mark.parametrize(("method", "status", "reason"), [
    (DEMO_METHOD_DECLINED, ChargeStatus.failed, "card_declined"),
    (DEMO_METHOD_INSUFFICIENT_FUNDS, ChargeStatus.failed, "insufficient_funds"),
    (DEMO_METHOD_REQUIRES_ACTION, ChargeStatus.requires_action, "authentication_required"),
])
def test_demo_methods_script_each_outcome(
    method: str, status: ChargeStatus, reason: str,
) -> None:
    provider = DemoProvider()
    result = provider.charge_saved_method(
        customer_id="demo_cus_1", payment_method_id=method, amount_minor=100, currency="USD",
        purchase_id="recharge-2", idempotency_key="recharge-2")
    assert (result.status, result.failure_reason) == (status, reason)
    assert parse(provider, provider.events[-1]).kind is PaymentEventKind.payment_failed


def test_failing_customers_are_declined() -> None:
    provider = DemoProvider(failing_customers=["demo_cus_broke"])
    result = provider.charge_saved_method(
        customer_id="demo_cus_broke", payment_method_id="pm_demo_ok", amount_minor=100,
        currency="USD", purchase_id="recharge-3", idempotency_key="recharge-3")
    assert (result.status, result.failure_reason) == (ChargeStatus.failed, "card_declined")

    first = saved_method(provider)
    assert first.customer_id is not None
    assert first.payment_method_id is not None
    provider.fail_customer(first.customer_id)
    later = provider.charge_saved_method(
        customer_id=first.customer_id, payment_method_id=first.payment_method_id,
        amount_minor=100, currency="USD", purchase_id="recharge-4", idempotency_key="recharge-4")
    assert later.status is ChargeStatus.failed


def test_demo_charge_replays_by_idempotency_key() -> None:
    provider = DemoProvider()
    args = {"customer_id": "demo_cus_1", "payment_method_id": "pm_demo_ok",
            "amount_minor": 100, "currency": "USD", "purchase_id": "renewal-1",
            "idempotency_key": "renewal-1"}
    first = provider.charge_saved_method(**args)  # type: ignore[arg-type]
    assert provider.charge_saved_method(**args) == first  # type: ignore[arg-type]
    assert len(provider.events) == 1  # the replay charged nothing
    with pytest.raises(ProviderRejected) as caught:
        provider.charge_saved_method(**{**args, "amount_minor": 101})  # type: ignore[arg-type]
    assert caught.value.status is Status.idempotency_conflict


def test_demo_refuses_unknown_or_someone_elses_method() -> None:
    provider = DemoProvider()
    with pytest.raises(PaymentNotFound):
        provider.charge_saved_method(
            customer_id="demo_cus_1", payment_method_id="demo_pm_nope", amount_minor=100,
            currency="USD", purchase_id="recharge-5", idempotency_key="recharge-5")
    first = saved_method(provider)
    assert first.payment_method_id is not None
    with pytest.raises(ProviderRejected, match="another customer"):
        provider.charge_saved_method(
            customer_id="demo_cus_other", payment_method_id=first.payment_method_id,
            amount_minor=100, currency="USD", purchase_id="recharge-6",
            idempotency_key="recharge-6")


def test_demo_refund_events_carry_the_total_refunded() -> None:
    provider = DemoProvider(complete_immediately=True)
    provider.create_checkout(**checkout_args())
    paid = parse(provider, provider.events[0])
    assert paid.provider_payment_id is not None
    for n in (1, 2):
        provider.refund(provider_payment_id=paid.provider_payment_id, amount_minor=1000,
                        idempotency_key=f"refund-{n}")
    event = parse(provider, provider.events[-1])
    assert (event.kind, event.amount_minor) == (PaymentEventKind.refunded, 2000)


# ---- one state shared by several processes (decision 0090) ----

def test_two_providers_on_one_state_share_sessions_payments_and_answers() -> None:
    """Two providers on one `LocalState` stand for two server processes on one database: a
    checkout opened by one is found, paid and refunded through the other, and each change
    happens once."""
    state = MemoryState()
    first, second = DemoProvider(state=state), DemoProvider(state=state)
    checkout = first.create_checkout(**checkout_args(save_payment_method=True))
    assert second.create_checkout(**checkout_args(save_payment_method=True)) == checkout
    sig = checkout.url.rsplit("sig=", 1)[1]
    request, status = second.signed_checkout(checkout.session_id, sig)
    assert (request.purchase_id, status) == (PURCHASE, CheckoutStatus.open)
    with pytest.raises(PaymentNotFound):
        second.signed_checkout(checkout.session_id, "0" * 32)

    paid = parse(second, second.complete_checkout(checkout.session_id))
    assert first.get_checkout(checkout.session_id).status is CheckoutStatus.complete
    with pytest.raises(ProviderRejected):  # the first process cannot complete it again
        first.complete_checkout(checkout.session_id)
    assert len(first.events) == 0  # only the process that completed it made its event

    assert paid.provider_payment_id is not None
    assert paid.payment_method_id is not None
    refunded = first.refund(provider_payment_id=paid.provider_payment_id, amount_minor=1000,
                            idempotency_key="r1")
    assert second.refund(provider_payment_id=paid.provider_payment_id, amount_minor=1000,
                         idempotency_key="r1") == refunded  # the same answer, once
    with pytest.raises(ProviderRejected):  # 5,000 of 6,000 is left, not 5,001
        second.refund(provider_payment_id=paid.provider_payment_id, amount_minor=5001,
                      idempotency_key="r2")

    assert paid.customer_id is not None
    args = {"customer_id": paid.customer_id, "payment_method_id": paid.payment_method_id,
            "amount_minor": 1500, "currency": "USD", "purchase_id": "renewal-9",
            "idempotency_key": "renewal-9"}
    charged = first.charge_saved_method(**args)  # type: ignore[arg-type]  # the saved method
    assert charged.succeeded
    assert second.charge_saved_method(**args) == charged  # type: ignore[arg-type]
    assert len(second.events) == 1  # its completion only: the replay charged nothing


def test_an_offline_payment_recorded_by_another_process_completes_the_session() -> None:
    state = MemoryState()
    opened_by, recorded_by = OfflineProvider(state=state), OfflineProvider(state=state)
    checkout = opened_by.create_checkout(**checkout_args())
    record(recorded_by)
    assert opened_by.get_checkout(checkout.session_id).status is CheckoutStatus.complete
    with pytest.raises(ProviderRejected):
        record(opened_by)  # recorded already, whichever process is asked



class _Sharing(MemoryState):
    """One process's view of `shared`: with `hold_answers`, the answers it keeps are held
    back (as if the process were still between changing the payment and keeping its answer),
    and `before_swap` runs once, just before its first swap of a payment."""

    def __init__(self, shared: MemoryState) -> None:
        super().__init__()
        self.shared = shared
        self.hold_answers = False
        self.held: list[tuple[str, str, str, str | None]] = []
        self.before_swap: Callable[[], object] | None = None

    def get(self, kind: str, key: str) -> str | None:
        return self.shared.get(kind, key)

    def add(self, kind: str, key: str, value: str, community_id: str | None) -> bool:
        if self.hold_answers and kind == "refund":
            self.held.append((kind, key, value, community_id))
            return True
        return self.shared.add(kind, key, value, community_id)

    def swap(self, kind: str, key: str, old: str, new: str) -> bool:
        if kind == "payment" and self.before_swap is not None:
            step, self.before_swap = self.before_swap, None
            step()
        return self.shared.swap(kind, key, old, new)


def test_two_processes_refunding_under_one_key_refund_once() -> None:
    """One process has refunded (the payment changed) but not yet kept its answer when the
    other, asked the same refund with the same key, reads the payment again: it finds the
    refund in the payment itself and answers with it, refunding nothing (decision 0090)."""
    shared = MemoryState()
    slow_state, racing_state = _Sharing(shared), _Sharing(shared)
    slow, racing = DemoProvider(state=slow_state), DemoProvider(state=racing_state)
    checkout = slow.create_checkout(**checkout_args())
    paid = parse(slow, slow.complete_checkout(checkout.session_id))
    assert paid.provider_payment_id is not None
    payment_id = paid.provider_payment_id
    refund = {"provider_payment_id": payment_id, "amount_minor": 1000, "idempotency_key": "r1"}

    slow_state.hold_answers = True
    made: list[object] = []
    racing_state.before_swap = lambda: made.append(slow.refund(**refund))  # type: ignore[arg-type]
    answer = racing.refund(**refund)  # type: ignore[arg-type]
    assert [answer] == made  # the slow process's refund, not a second one
    assert racing.events == []  # its event is the slow process's, which made the refund
    for held in slow_state.held:  # the slow process keeps its answer at last
        shared.add(*held)

    with pytest.raises(ProviderRejected):  # refunded once: 5,000 of 6,000 is left, no more
        slow.refund(provider_payment_id=payment_id, amount_minor=5001, idempotency_key="r2")
    with pytest.raises(ProviderRejected):  # the key names a refund of 1,000, not 500
        racing.refund(provider_payment_id=payment_id, amount_minor=500, idempotency_key="r1")
