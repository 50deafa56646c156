"""Receipts: every charge, purchase and refund signed with the community's Ed25519 key, verified
offline by the very code docs/api/receipts.md shows, naming the lots it drew from."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

import jeton
from jeton import Status
from jeton.core.clock import ManualClock
from jeton.core.errors import NotFound
from receipt_doc import verify_receipt

from .conftest import CANCEL, SUCCESS, ok


def as_json(model: Any) -> dict[str, Any]:
    return json.loads(model.model_dump_json())  # type: ignore[no-any-return]


def test_a_charge_receipt_verifies_offline_and_names_its_lots(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("bob", "p20")
    club.grant("bob", 5, idempotency_key="promo", expires_at=clock.now() + timedelta(days=3))
    charge = club.spend("bob", 8, idempotency_key="game", service="chess.game")
    receipt = club.receipt(charge.id)
    keys = club.receipt_keys()
    facts = verify_receipt(as_json(receipt), as_json(keys))
    assert facts == receipt.data
    assert (facts["receipt_for"], facts["member_id"], facts["amount"], facts["service"]) == (
        "charge", "bob", -8, "chess.game")
    assert facts["balance_after"] == 17
    # The expiring promo lot paid first, then the purchase's lot.
    by_lot = {lot.id: lot.source for lot in club.lots("bob", include_empty=True)}
    assert [(by_lot[m["lot_id"]], m["amount"]) for m in facts["lots"]
            if m["account_id"] == "wallet:bob:CREDIT"] in (
        [("grant", -5), ("purchase", -3)], [("purchase", -3), ("grant", -5)])
    assert sorted(m["lot_id"] for m in facts["lots"]) == sorted(m.lot_id for m in charge.lots)
    assert club.receipt(charge.id) == receipt  # deterministic: asked again, the same receipt
    ok(j.store)


def test_an_altered_or_forged_receipt_is_refused(club: jeton.Community,
                                                 buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("ann", "p20")
    charge = club.spend("ann", 3, idempotency_key="c", service="chess.game")
    receipt = as_json(club.receipt(charge.id))
    keys = as_json(club.receipt_keys())
    facts = json.loads(base64.urlsafe_b64decode(receipt["payload"] + "=="))
    facts["amount"] = -1  # "I was charged 1, not 3"
    forged = {**receipt, "payload": base64.urlsafe_b64encode(
        json.dumps(facts).encode()).rstrip(b"=").decode()}
    with pytest.raises(InvalidSignature):
        verify_receipt(forged, keys)
    with pytest.raises(ValueError, match="no published"):
        verify_receipt({**receipt, "key_id": "someone-else"}, keys)


def test_purchase_and_refund_receipts_carry_the_money_and_the_lots(
        j: jeton.Jeton, club: jeton.Community, buy: Callable[..., jeton.PurchaseInfo]) -> None:
    bought = buy("cy", "p50")
    keys = as_json(club.receipt_keys())
    purchase = verify_receipt(as_json(club.purchase_receipt(bought.id)), keys)
    assert purchase["receipt_for"] == "purchase"
    assert purchase["amount"] == 50
    assert purchase["purchase"]["amount_minor"] == 15000
    assert purchase["purchase"]["currency"] == "USD"
    assert [m["amount"] for m in purchase["lots"]] == [50]

    charge = club.spend("cy", 10, idempotency_key="c", service="chess.game")
    back = club.refund_charge(charge.id, idempotency_key="r", reason="server crash")
    refund = verify_receipt(as_json(club.receipt(back.id)), keys)
    assert (refund["receipt_for"], refund["amount"], refund["reverses_id"]) == (
        "refund", 10, charge.id)
    assert refund["lots"] == [{"lot_id": purchase["lots"][0]["lot_id"],
                               "account_id": "wallet:cy:CREDIT", "amount": 10}]

    cash = club.refund_purchase(bought.id, idempotency_key="cash", reason="by mistake")
    assert cash.take_transfer_id is not None
    taken = verify_receipt(as_json(club.receipt(cash.take_transfer_id)), keys)
    assert (taken["receipt_for"], taken["amount"], taken["refund_id"]) == (
        "refund", -50, cash.id)
    assert taken["purchase"]["id"] == bought.id
    ok(j.store)


def test_a_rotated_key_stays_published_and_old_receipts_still_verify(
        club: jeton.Community, clock: ManualClock,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    buy("ann", "p20")
    charge = club.spend("ann", 2, idempotency_key="c", service="chess.game")
    old = as_json(club.receipt(charge.id))
    first_key = club.receipt_keys().keys[0]
    clock.advance(days=30)
    keys = club.rotate_receipt_key()
    assert [k.id for k in keys.keys][1] == first_key.id
    assert keys.keys[0].retired_at is None
    assert keys.keys[1].retired_at == clock.now()
    published = as_json(keys)
    assert verify_receipt(old, published)["transfer_id"] == charge.id
    new = as_json(club.receipt(charge.id))
    assert new["key_id"] == keys.keys[0].id != old["key_id"]
    assert verify_receipt(new, published) == verify_receipt(old, published) | {
        "key_id": keys.keys[0].id}


def test_a_retried_rotation_rotates_once(club: jeton.Community, clock: ManualClock) -> None:
    first_key = club.receipt_keys().keys[0]
    clock.advance(days=1)
    rotated = club.rotate_receipt_key(idempotency_key="rotate-1")
    clock.advance(days=1)
    assert club.rotate_receipt_key(idempotency_key="rotate-1") == rotated
    assert [k.id for k in club.receipt_keys().keys] == [rotated.keys[0].id, first_key.id]
    # The key names that rotation: another request under it is refused, and rotates nothing.
    with pytest.raises(jeton.IdempotencyConflict):
        club.grant("ann", 5, idempotency_key="rotate-1")
    assert club.balance("ann").posted == 0
    again = club.rotate_receipt_key(idempotency_key="rotate-2")
    assert [k.id for k in again.keys][1:] == [rotated.keys[0].id, first_key.id]


def test_receipts_of_nothing_are_refused(club: jeton.Community,
                                         buy: Callable[..., jeton.PurchaseInfo]) -> None:
    with pytest.raises(NotFound) as missing:
        club.receipt("01a24310-0000-7000-8000-000000000000")
    assert missing.value.status is Status.transfer_not_found
    pending = club.buy_pack("ann", "p20", idempotency_key="b", success_url=SUCCESS,
                            cancel_url=CANCEL)
    with pytest.raises(NotFound, match="no receipt yet"):
        club.purchase_receipt(pending.purchase_id)
