"""Every process serving one database shares the in-process providers' checkouts (decision
0090): a purchase opened by one process is paid on another's hosted page, refunded by a third,
and the card the member saved is charged by yet another (`jeton worker`'s renewals).

On SQLite, PostgreSQL and Citus (the `store` fixture), each other "process" a Jeton of its own
on a second Store of the same database; then over HTTP, `jeton serve --workers 2` on
PostgreSQL, whose hosted page once answered 404 on every other request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import jeton
from conftest import check_invariants, fresh_database
from jeton.core.clock import ManualClock
from jeton.payments import ChargeStatus, DemoProvider
from jeton.services.funding import local_checkout
from jeton.store.engine import Store


@contextmanager
def another_process(store: Store, clock: ManualClock) -> Iterator[jeton.Jeton]:
    """A Jeton on a Store of its own on `store`'s database, as another server process has."""
    twin = Store(store.url, pg_schema=store.pg_schema)
    j = jeton.Jeton(twin, clock=clock)
    try:
        yield j
    finally:
        j.close()
        twin.dispose()


def _sig(url: str | None) -> str:
    return parse_qs(urlsplit(str(url)).query)["sig"][0]


def test_a_checkout_opened_by_one_process_is_paid_refunded_and_charged_by_others(
        store: Store, clock: ManualClock) -> None:
    first = jeton.Jeton(store, clock=clock)
    shop = first.create_community("Club", "club")
    shop.create_member("ann")
    shop.create_pack("50 credits", pack_id="p50", credits=50, price_minor=500)
    checkout = shop.buy_pack("ann", "p50", idempotency_key="buy-1", provider="demo",
                             save_payment_method=True)
    assert checkout.session_id is not None

    with another_process(store, clock) as second:
        page = local_checkout.hosted_checkout(second, "demo", checkout.session_id,
                                              _sig(checkout.url))
        assert (page.purchase.id, page.payable, page.open) == (checkout.purchase_id, True, True)
        paid = local_checkout.pay_hosted(second, page)
        assert paid.purchase.status == "completed"
        assert shop.balance("ann").available == 50
        second_demo = second.payments.get("demo")
        assert isinstance(second_demo, DemoProvider)
        completed = second_demo.parse_webhook(second_demo.events[-1].payload,
                                              second_demo.events[-1].headers)
        assert completed is not None
        assert completed.payment_method_id is not None

    # The first process finds the checkout paid: its page says so, paying again does nothing.
    again = local_checkout.hosted_checkout(first, "demo", checkout.session_id,
                                           _sig(checkout.url))
    assert not again.open
    assert local_checkout.pay_hosted(first, again).purchase.status == "completed"
    assert shop.balance("ann").available == 50

    with another_process(store, clock) as third:
        refund = third.community("club").refund_purchase(
            checkout.purchase_id, idempotency_key="refund-1", amount_minor=200)
        assert (refund.status, refund.amount_minor) == ("succeeded", 200)
        assert refund.provider_refund_id is not None
        demo = third.payments.get("demo")
        assert completed.customer_id is not None
        charged = demo.charge_saved_method(  # the card saved on the second process
            customer_id=completed.customer_id, payment_method_id=completed.payment_method_id,
            amount_minor=500, currency="USD", purchase_id="renewal-1",
            idempotency_key="renewal-1", community_id="club", member_id="ann")
        assert charged.status is ChargeStatus.succeeded
    first.close()
    check_invariants(store)


@pytest.mark.postgres
def test_two_server_processes_serve_one_hosted_checkout() -> None:
    from jeton.services.access.api_keys import ApiKeys
    from jeton.services.bench import http as http_bench

    with fresh_database() as url:
        store = Store(url)
        store.create_schema()
        j = jeton.Jeton(store)
        shop = j.create_community("Club", "club")
        shop.create_member("ann")
        shop.create_pack("50 credits", pack_id="p50", credits=50, price_minor=500)
        token = ApiKeys(store, j.clock).create("club", name="app", scopes=["admin"],
                                               created_by="owner").token
        j.close()
        store.dispose()
        proc, base = http_bench.start_server(url, workers=2)
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                              timeout=30) as api:
                made = api.post("/v1/purchases", headers={"Idempotency-Key": "buy-1"},
                                json={"member": "ann", "pack_id": "p50", "provider": "demo"})
                assert made.status_code == 201, made.text
                url_path = urlsplit(made.json()["url"]).path
                sig = _sig(made.json()["url"])
                # Each request may reach either process: every one finds the checkout.
                pages = [httpx.get(f"{base}{url_path}", params={"sig": sig}, timeout=30)
                         for _ in range(10)]
                assert [p.status_code for p in pages] == [200] * 10
                assert all("Pay $5.00" in p.text for p in pages)
                paid = httpx.post(f"{base}{url_path}", data={"sig": sig, "action": "pay"},
                                  timeout=30)
                assert paid.status_code == 303, paid.text
                purchase = api.get(f"/v1/purchases/{made.json()['purchase_id']}").json()
                assert purchase["status"] == "completed"
                assert api.get("/v1/members/ann/balance").json()["available"] == 50
        finally:
            http_bench.stop_server(proc)
