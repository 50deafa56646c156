"""A receipt from the member's history: linked from every line, its lots, and the signed JSON
to download, which verifies with the documented code; another member's receipt is not shown."""

from __future__ import annotations

import pytest

from receipt_doc import verify_receipt

from .member_support import MemberBrowser, Shop

pytestmark = pytest.mark.anyio


async def test_member_opens_a_charge_receipt_from_history_and_downloads_it(
        shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.grant("alice", 30, idempotency_key="g", source="welcome")
    charge = shop.chat.spend("alice", 4, idempotency_key="s", service="chat.message")
    home = await alice.get("/m/")
    link = f"/m/receipts/{charge.id}"
    assert f'href="{link}"' in home.text
    page = await alice.get(link)
    assert page.status_code == 200
    assert 'data-field="receipt_for">charge<' in page.text
    assert 'data-field="amount">-4<' in page.text
    assert charge.lots[0].lot_id in page.text
    assert "Welcome credits" in page.text
    download = await alice.get(f"{link}.json")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/json"
    keys = shop.chat.receipt_keys().model_dump(mode="json")
    facts = verify_receipt(download.json(), keys)
    assert (facts["transfer_id"], facts["amount"]) == (charge.id, -4)


async def test_another_members_receipt_is_not_shown(shop: Shop, alice: MemberBrowser) -> None:
    shop.chat.grant("bob", 30, idempotency_key="g-bob")
    theirs = shop.chat.spend("bob", 4, idempotency_key="s-bob", service="chat.message")
    page = await alice.get(f"/m/receipts/{theirs.id}")
    assert page.status_code == 404
    assert "not one of yours" in page.text
    assert (await alice.get(f"/m/receipts/{theirs.id}.json")).status_code == 404
    sent = shop.chat.grant("alice", 5, idempotency_key="g-a")
    shop.chat.transfer("alice", "bob", 2, idempotency_key="t")
    assert (await alice.get(f"/m/receipts/{sent.id}")).status_code == 200
