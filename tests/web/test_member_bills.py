"""The member's bill pages over HTTP (in-process): the list, a bill with its lines and totals,
the CSV download, paying on the demo checkout (which repays the credit line), and nobody else's
bill. On SQLite and PostgreSQL; `jeton verify` holds after each."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from jeton.core.clock import ManualClock
from jeton.services.ledger.verify import verify
from jeton.store.engine import Store

from .member_support import (
    MemberBrowser,
    Shop,
    closing,
    make_shop,
    text_of,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def shop(store: Store, clock: ManualClock) -> Iterator[Shop]:
    made = make_shop(store, clock)
    made.chat.set_billing_settings(credit_price_minor=30, grace_days=10)
    made.chat.set_credit_line("alice", -40)
    for n in range(4):
        made.chat.spend("alice", 3, idempotency_key=f"msg-{n}", service="chat.message")
    made.chat.spend("alice", 8, idempotency_key="room", service="chat.private_room")
    yield from closing(made)


def ok(shop: Shop) -> None:
    found = verify(shop.j.store)
    assert not found, found


async def test_the_member_reads_downloads_and_pays_a_bill(shop: Shop,
                                                          alice: MemberBrowser) -> None:
    bill = shop.chat.issue_bill("alice", idempotency_key="bill-1")
    listed = text_of(await alice.get("/m/bills"))
    assert "B-000001" in listed
    assert "$6.00" in listed
    assert "Due" in listed

    page = await alice.get(f"/m/bills/{bill.id}")
    words = text_of(page)
    assert "Bill B-000001" in words
    assert "chat.message 4 4 12" in words
    assert "chat.private_room 1 1 8" in words
    assert "Credits due 20" in words
    assert "Amount due $6.00" in words
    csv = await alice.get(f"/m/bills/{bill.id}.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="B-000001.csv"' in csv.headers["content-disposition"]
    assert "chat.private_room,1,1,8" in csv.text
    ok(shop)

    paying = await alice.post(f"/m/bills/{bill.id}/pay")
    assert paying.status_code == 303
    pay_path = urlsplit(paying.headers["location"]).path
    assert pay_path.startswith("/m/pay/")
    assert "$6.00" in text_of(await alice.get(pay_path))
    paid = await alice.post(pay_path, {"action": "pay"})
    assert paid.status_code == 303
    assert shop.chat.balance("alice").posted == 0
    after = text_of(await alice.get(f"/m/bills/{bill.id}"))
    assert "Paid" in after
    assert "Pay $6.00" not in after
    again = await alice.post(f"/m/bills/{bill.id}/pay")
    assert again.status_code == 409
    ok(shop)


async def test_a_past_due_bill_says_the_credit_line_is_suspended(
        shop: Shop, alice: MemberBrowser) -> None:
    bill = shop.chat.issue_bill("alice", idempotency_key="bill-1")
    shop.clock.advance(days=11)
    assert (await alice.open(shop.link("alice"))).status_code == 303  # a link lasts an hour
    words = text_of(await alice.get(f"/m/bills/{bill.id}"))
    assert "Past due since" in words
    assert "suspended" in words
    assert "Past due" in text_of(await alice.get("/m/bills"))


async def test_nobody_else_sees_a_members_bill(shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.set_credit_line("bob", -10)
    shop.chat.spend("bob", 2, idempotency_key="bob-1")
    bobs = shop.chat.issue_bill("bob", idempotency_key="bill-bob")
    assert (await alice.get(f"/m/bills/{bobs.id}")).status_code == 404
    assert (await alice.get(f"/m/bills/{bobs.id}.csv")).status_code == 404
    assert (await alice.post(f"/m/bills/{bobs.id}/pay")).status_code == 404
    assert "B-000001" not in text_of(await alice.get("/m/bills"))
    assert shop.chat.get_bill(bobs.id).status == "open"
