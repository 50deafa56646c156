"""The member's statement as CSV, their receipts list, and their credits lot by lot with where
each came from (in-process, over HTTP)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from jeton.payments.offline import DemoProvider
from jeton.services.funding.provider_webhooks import handle_provider_webhook
from jeton.services.ledger.verify import verify
from jeton.web.templating import format_day

from .member_support import (
    MemberBrowser,
    Shop,
    browser_for,
    history_of,
    member_app,
    text_of,
)

pytestmark = pytest.mark.anyio


def buy(shop: Shop, member: str, pack: str, key: str) -> str:
    """A paid purchase on the demo provider; the transfer that granted its credits."""
    checkout = shop.chat.buy_pack(member, pack, idempotency_key=key)
    demo = shop.j.payments.get("demo")
    assert isinstance(demo, DemoProvider)
    assert checkout.session_id is not None
    webhook = demo.complete_checkout(checkout.session_id)
    handle_provider_webhook(shop.j, "demo", webhook.payload, webhook.headers)
    granted = shop.chat.get_purchase(checkout.purchase_id).grant_transfer_id
    assert granted is not None
    return granted


async def test_statement_csv_has_every_line_newest_first_in_the_history_words(
        shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.grant("alice", 100, idempotency_key="g1", memo="Welcome")
    for n in range(25):  # more than one page of the history
        shop.clock.advance(minutes=1)
        shop.chat.spend("alice", 2, idempotency_key=f"s{n}", service="chat.message")
    shop.clock.advance(minutes=1)
    shop.chat.transfer("alice", "bob", 10, idempotency_key="t1")
    home = await alice.get("/m/")
    assert re.search(r'<a class="button secondary" href="/m/statement.csv" download>'
                     r"Download CSV</a>", home.text)
    response = await alice.get("/m/statement.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["date", "what", "amount", "balance_after", "reference"]
    body = rows[1:]
    assert len(body) == 27  # the grant, 25 charges, the transfer: all pages of the statement
    assert body[0][1:4] == ["Sent to Bob Builder", "-10", "40"]
    assert body[1][1:4] == ["Chat message", "-2", "50"]
    assert body[-1][1:4] == ["Credits added: Welcome", "100", "100"]
    dates = [row[0] for row in body]
    assert dates == sorted(dates, reverse=True)
    # The same words as the history on the page.
    shown = history_of(home)
    assert shown[0] == "Sent to Bob Builder -10 40"
    assert [f"{r[1]} {'+' if not r[2].startswith('-') else ''}{r[2]} {r[3]}"
            for r in body[:20]] == shown


async def test_statement_csv_of_a_member_with_nothing_has_only_its_header(
        shop: Shop, alice: MemberBrowser) -> None:
    response = await alice.get("/m/statement.csv")
    assert response.text.splitlines() == ["date,what,amount,balance_after,reference"]


async def test_statement_csv_needs_a_signed_in_member(shop: Shop) -> None:
    async with browser_for(member_app(shop)) as stranger:
        response = await stranger.get("/m/statement.csv")
        assert response.status_code == 401
        assert "date,what" not in response.text


async def test_receipts_list_has_charges_purchases_and_refunds_with_their_receipt_links(
        shop: Shop, alice: MemberBrowser) -> None:
    bought = buy(shop, "alice", "big", "b1")
    shop.clock.advance(minutes=1)
    charge = shop.chat.spend("alice", 7, idempotency_key="s1", service="chat.message")
    shop.clock.advance(minutes=1)
    refund = shop.chat.refund_charge(charge.id, idempotency_key="r1")
    shop.clock.advance(minutes=1)
    shop.chat.grant("alice", 5, idempotency_key="g1")  # a grant: no receipt in the list
    shop.chat.transfer("alice", "bob", 3, idempotency_key="t1")  # nor a transfer
    home = await alice.get("/m/")
    assert 'href="/m/receipts"' in home.text
    page = await alice.get("/m/receipts")
    assert page.status_code == 200
    table = page.text.split('id="receipts"', 1)[1]
    links = re.findall(r'href="/m/receipts/([0-9a-f-]{36})"', table)
    assert links == [refund.id, charge.id, bought]
    words = text_of(page)
    assert "Refund Refund of chat message +7" in words
    assert "Charge Chat message -7" in words
    assert "Purchase Bought: Big +50" in words  # its bonus is a grant of its own
    for transfer_id in links:  # each link opens the member's signed receipt
        receipt = await alice.get(f"/m/receipts/{transfer_id}")
        assert receipt.status_code == 200
        assert transfer_id in receipt.text
    assert not verify(shop.j.store)


async def test_receipts_list_pages_older_receipts(shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.grant("alice", 100, idempotency_key="g1")
    charges = []
    for n in range(23):
        shop.clock.advance(minutes=1)
        charges.append(shop.chat.spend("alice", 1, idempotency_key=f"s{n}",
                                       service="chat.message").id)
        shop.chat.transfer("alice", "bob", 1, idempotency_key=f"t{n}")
    first = await alice.get("/m/receipts")
    shown = re.findall(r'href="/m/receipts/([0-9a-f-]{36})"', first.text)
    assert shown == charges[::-1][:20]
    older = re.search(r'href="/m/receipts\?after=([^"#]+)"', first.text)
    assert older is not None
    second = await alice.get(f"/m/receipts?after={older.group(1)}")
    assert re.findall(r'href="/m/receipts/([0-9a-f-]{36})"', second.text) == charges[2::-1]
    assert "?after=" not in second.text


async def test_credits_received_by_transfer_name_the_sender_and_their_expiry(
        shop: Shop, alice: MemberBrowser) -> None:
    now = shop.clock.now()
    shop.chat.grant("bob", 30, idempotency_key="gb", expires_at=now + timedelta(days=5))
    shop.chat.grant("carol", 40, idempotency_key="gc")
    shop.chat.grant("alice", 10, idempotency_key="ga", expires_at=now + timedelta(days=90))
    shop.chat.transfer("bob", "alice", 12, idempotency_key="t1")
    shop.chat.transfer("carol", "alice", 8, idempotency_key="t2")
    received = {lot.expires_at for lot in shop.chat.lots("alice") if lot.source == "transfer"}
    page = await alice.get("/m/credits")
    assert page.status_code == 200
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page.text.split('id="lots"', 1)[1], re.S)[1:]
    cells = [" ".join(text_of_html(r).split()) for r in rows]
    lots = shop.chat.lots("alice")
    assert len(cells) == len(lots) == 3
    # Expiring first at the top; credits with no end last.
    from_bob = next(lot for lot in lots if lot.source == "transfer" and lot.expires_at)
    expires = from_bob.expires_at
    assert expires is not None
    assert expires in received
    assert cells[0].startswith("Sent by Bob Builder")
    assert "12 of 12" in cells[0]
    assert format_day(expires) in cells[0]
    assert format_day(expires) == format_day(now + timedelta(days=5))
    assert cells[1].startswith("Credits added")
    assert "10 of 10" in cells[1]
    assert cells[2].startswith("Sent by Carol Singer")
    assert cells[2].endswith("Never")
    # The overview's expiring credits name the sender too.
    home = await alice.get("/m/")
    assert "<td>Sent by Bob Builder</td>" in home.text
    assert 'href="/m/credits"' in home.text


def text_of_html(fragment: str) -> str:
    return re.sub(r"<[^>]+>", " ", fragment)
