"""Post-pay bills over HTTP, through `jeton.Client` and raw requests, on SQLite and PostgreSQL:
the owner sets the credit price, a member on a credit line is billed, a bill past due makes the
member's charges 402 `credit_line_suspended`, and paying the bill on the demo checkout lifts it."""

from __future__ import annotations

import httpx
import pytest

import jeton
from conftest import check_invariants
from jeton.payments.offline import DemoProvider
from jeton.services.funding.provider_webhooks import handle_provider_webhook

from .conftest import LiveServer


def _scenario(server: LiveServer) -> None:
    owner = server.client()
    owner.create_member("alice")
    owner.set_credit_line("alice", -50)
    settings = owner.set_billing_settings(credit_price_minor=10, grace_days=0)
    assert settings.enabled
    assert owner.billing_settings() == settings
    for n in range(3):
        owner.spend("alice", 4, idempotency_key=f"msg-{n}", service="chat.message")
    bill = owner.issue_bill("alice", idempotency_key="bill-alice-1")
    assert (bill.number_text, bill.credits_due, bill.amount_minor) == ("B-000001", 12, 120)
    assert [(x.service, x.count, x.credits) for x in bill.lines] == [("chat.message", 3, 12)]
    assert owner.list_bills("alice", status="open").data == [owner.get_bill(bill.id)]
    assert "chat.message,3,3,12" in owner.bill_csv(bill.id)
    check_invariants(server.jeton.store)

    # No grace period: the bill is past due at once and the credit line lends nothing more.
    with pytest.raises(jeton.CreditLineSuspended):
        owner.spend("alice", 1, idempotency_key="msg-late")
    raw = httpx.post(f"{server.base_url}/v1/spends", json={"member": "alice", "amount": 1},
                     headers={"Authorization": f"Bearer {server.api_key}",
                              "Idempotency-Key": "raw-late"})
    assert raw.status_code == 402
    assert raw.json()["code"] == "credit_line_suspended"
    assert raw.json()["bill"] == "B-000001"
    assert owner.balance("alice").posted == -12

    checkout = owner.pay_bill(bill.id)
    assert checkout.provider == "demo"
    assert checkout.amount_minor == 120
    demo = server.jeton.payments.get("demo")
    assert isinstance(demo, DemoProvider)
    assert checkout.session_id is not None
    paid = demo.complete_checkout(checkout.session_id)
    handle_provider_webhook(server.jeton, "demo", paid.payload, paid.headers)
    assert owner.get_bill(bill.id).status == "paid"
    assert owner.balance("alice").posted == 0
    owner.spend("alice", 1, idempotency_key="msg-after")
    answer = httpx.post(f"{server.base_url}/v1/bills/{bill.id}/pay", json={},
                        headers={"Authorization": f"Bearer {server.api_key}",
                                 "Idempotency-Key": "pay-again"})
    assert answer.status_code == 409
    assert [e.type for e in server.community.list_events(type="bill.paid").data] == ["bill.paid"]
    check_invariants(server.jeton.store)


def test_bills_over_http_on_sqlite(live_server: LiveServer) -> None:
    _scenario(live_server)


def test_bills_over_http_on_postgresql(pg_live_server: LiveServer) -> None:
    _scenario(pg_live_server)
