"""Charging for what members do, told the way an owner tells it.

Every scenario runs on SQLite and on PostgreSQL (the `store` fixture), and checks the ledger's
invariants after each step.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import jeton
from jeton.core.clock import ManualClock
from jeton.services.charging.results import PackSuggestion
from jeton.services.events import endpoints as webhooks
from jeton.store.engine import Store
from jeton.store.tables.charging import allowance_uses

from .conftest import Check, counts


def test_member_downloading_a_3000_byte_file_pays_3_credits_and_the_uploader_gets_a_royalty(
        library: jeton.Community, store: Store, invariants: Check) -> None:
    library.grant("reader", 10_000, idempotency_key="buy-10")  # 10 credits, in thousandths
    invariants(store)
    receipt = library.charge("reader", "files.download", 3000,
                             context={"uploader": "uploader"}, idempotency_key="dl-1")
    invariants(store)
    assert receipt.charged == 3000  # three started KiB at one credit each
    assert receipt.price.units == 3
    assert [(s.target, s.member or s.account, s.amount) for s in receipt.splits] == [
        ("party:uploader", "uploader", 900),  # 30 %: 0.9 credit
        ("account:appstore", "appstore", 500),
        ("account:revenue", "revenue", 1600),
    ]
    assert sum(s.amount for s in receipt.splits) == receipt.charged
    assert receipt.balance_after == 7000
    assert library.balance("reader").available == 7000
    assert library.balance("uploader").available == 900
    assert library.account_balance("appstore").posted == 500
    assert library.account_balance("revenue").posted == 1600
    transfer = library.get_transfer(receipt.id)
    assert transfer.kind == "spend"
    assert transfer.service == "files.download"
    assert transfer.metadata["context"] == {"uploader": "uploader"}


def test_charge_is_one_transfer_and_the_receipt_names_the_lots_that_paid(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    soon = shop.grant("alice", 6, idempotency_key="soon",
                      expires_at=shop.jeton.clock.now() + timedelta(days=3))
    later = shop.grant("alice", 10, idempotency_key="later")
    receipt = shop.charge("alice", "classifieds.ad", idempotency_key="ad-1")
    invariants(store)
    assert [(m.lot_id, m.amount) for m in receipt.lots] == [
        (soon.lots[0].lot_id, -6), (later.lots[0].lot_id, -4)]  # the expiring lot first
    assert receipt.balance_after == 6
    assert receipt.available_after == 6
    assert receipt.price.money == jeton.MoneyInfo(currency="USD", amount_minor=100)


def test_sixth_chat_message_of_the_session_costs_a_credit(shop: jeton.Community,
                                                          store: Store, invariants: Check) -> None:
    shop.grant("alice", 3, idempotency_key="g")
    charged = []
    for n in range(1, 7):
        r = shop.charge("alice", "chat.message", idempotency_key=f"m{n}", session_id="s-1")
        charged.append(r.charged)
        invariants(store)
    assert charged == [0, 0, 0, 0, 0, 1]
    assert shop.balance("alice").available == 2
    fifth_check = shop.check("alice", "chat.message", session_id="s-1")
    assert (fifth_check.charge, fifth_check.free_units, fifth_check.allowance_left) == (1, 0, 0)
    new_session = shop.charge("alice", "chat.message", idempotency_key="m7", session_id="s-2")
    assert (new_session.charged, new_session.free_units, new_session.allowance_left) == (0, 1, 4)


def test_member_without_credits_gets_five_free_messages_then_a_decline_to_buy(
        shop: jeton.Community, store: Store) -> None:
    for n in range(5):
        assert shop.charge("bob", "chat.message", idempotency_key=f"b{n}",
                           session_id="s-9").charged == 0
    before = counts(store)
    with pytest.raises(jeton.InsufficientCredits) as declined:
        shop.charge("bob", "chat.message", idempotency_key="b5", session_id="s-9")
    assert declined.value.extra["required"] == 1
    assert counts(store) == {**before, "events": counts(store)["events"]}
    # the declined message did not use up anything: still five used in the window
    with store.read() as conn:
        used = conn.execute(sa.select(allowance_uses.c.used).where(
            allowance_uses.c.window_key == "s-9")).scalar_one()
    assert used == 5


def test_teaser_room_refuses_past_its_allowance_with_a_prompt_and_counts_nothing(
        shop: jeton.Community, store: Store) -> None:
    shop.grant("carol", 100, idempotency_key="g")
    for n in range(3):
        assert shop.charge("carol", "chat.teaser", idempotency_key=f"t{n}").charged == 0
    check = shop.check("carol", "chat.teaser")
    assert (check.allowed, check.status) == (False, "limit_exceeded")
    assert check.price is not None
    assert check.price.credits == 2  # the price of what the allowance does not cover
    before = counts(store)
    with pytest.raises(jeton.Declined) as refused:
        shop.charge("carol", "chat.teaser", idempotency_key="t3")
    assert refused.value.status is jeton.Status.limit_exceeded
    after = counts(store)
    # Nothing is written but the charge.declined event the owner's dashboard lists.
    assert after == {**before, "events": before["events"] + 1}
    assert shop.balance("carol").available == 100


def test_private_room_is_hidden_until_the_member_has_the_vip_class(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.grant("dave", 100, idempotency_key="g")
    hidden = shop.check("dave", "chat.private_room")
    assert (hidden.allowed, hidden.visible, hidden.status) == (False, False,
                                                               "service_not_found")
    assert hidden.price is None
    assert not hidden.reasons
    assert not hidden.fixes
    with pytest.raises(jeton.NotFound):
        shop.charge("dave", "chat.private_room", idempotency_key="room-1")
    shop.grant_class("dave", "vip")
    seen = shop.check("dave", "chat.private_room")
    assert (seen.allowed, seen.visible, seen.charge) == (True, True, 20)
    receipt = shop.charge("dave", "chat.private_room", idempotency_key="room-2")
    invariants(store)
    assert receipt.charged == 20


def test_expired_vip_class_stops_counting_at_once(shop: jeton.Community, clock: ManualClock,
                                                  store: Store, invariants: Check) -> None:
    shop.grant("alice", 100, idempotency_key="g")
    shop.grant_class("alice", "vip", expires_at=clock.now() + timedelta(hours=1))
    assert shop.charge("alice", "chat.lounge", idempotency_key="l1").charged == 0  # vip: free
    clock.advance(hours=1)  # the very instant it expires; no job has run
    check = shop.check("alice", "chat.lounge")
    assert (check.allowed, check.charge) == (True, 50)
    assert shop.charge("alice", "chat.lounge", idempotency_key="l2").charged == 50
    invariants(store)
    assert shop.check("alice", "chat.private_room").visible is False
    assert shop.member_holdings("alice").classes == []


def test_archive_needs_its_key_and_says_so(shop: jeton.Community, clock: ManualClock,
                                           store: Store, invariants: Check) -> None:
    shop.grant("carol", 100, idempotency_key="g")
    refused = shop.check("carol", "files.archive")
    assert (refused.allowed, refused.status) == (False, "forbidden")
    assert [(r.kind, r.name) for r in refused.reasons] == [("no_key", "archive")]
    assert [(f.kind, f.name) for f in refused.fixes] == [("get_key", "archive")]
    with pytest.raises(jeton.Declined) as declined:
        shop.charge("carol", "files.archive", idempotency_key="a1")
    assert declined.value.status is jeton.Status.forbidden
    shop.grant_key("carol", "archive", expires_at=clock.now() + timedelta(days=1))
    assert shop.charge("carol", "files.archive", idempotency_key="a2").charged == 5
    clock.advance(days=1, seconds=1)
    expired = shop.check("carol", "files.archive")
    assert [r.kind for r in expired.reasons] == ["key_expired"]
    invariants(store)


def test_seller_pays_the_class_price_and_a_plan_discount_applies_on_top(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.grant("carol", 1000, idempotency_key="g")
    shop.grant_class("carol", "seller")
    shop.jeton.charging.plan_discount_query = sa.select(sa.case(
        (sa.bindparam("m") == sa.literal_column("'carol'"), sa.literal_column("2500")),
        else_=sa.literal_column("0")))
    receipt = shop.charge("carol", "video.minute", 3, idempotency_key="v1")
    invariants(store)
    assert receipt.price.price_class == "seller"
    assert (receipt.price.gross_credits, receipt.price.discount_bp, receipt.charged) == (
        30, 2500, 23)  # 30 less 25 %, rounded up: the discount is never more than stated
    assert receipt.price.money == jeton.MoneyInfo(currency="USD", amount_minor=57)
    listed = shop.check("dave", "video.minute", 3)
    assert (listed.charge, listed.price and listed.price.price_class) == (60, None)


def test_out_of_credits_is_a_decline_that_writes_nothing(j: jeton.Jeton,
                                                         shop: jeton.Community,
                                                         store: Store, invariants: Check) -> None:
    wh = webhooks.install(j)
    wh.create_endpoint("shop", "http://127.0.0.1:9/hooks", event_types=["charge.declined"])
    shop.grant("dave", 4, idempotency_key="g")
    shop.jeton.charging.pack_suggestions = lambda community_id, member_id, shortfall, asset: [
        PackSuggestion(id="p20", name="20 credits", credits=20, price_minor=600,
                       currency="USD")]
    before = counts(store)
    with pytest.raises(jeton.InsufficientCredits) as declined:
        shop.charge("dave", "classifieds.ad", idempotency_key="ad-1")
    error = declined.value
    assert error.status is jeton.Status.insufficient_credits
    assert (error.extra["balance"], error.extra["required"], error.extra["shortfall"]) == (
        4, 10, 6)
    assert [f["kind"] for f in error.extra["fixes"]] == ["buy_pack", "buy_credits"]
    assert error.extra["fixes"][0]["pack"]["id"] == "p20"
    after = counts(store)
    assert after == {**before, "events": before["events"] + 1}  # only the decline's event
    declined_events = wh.events.list_events("shop", type="charge.declined").data
    assert [(e.member_id, e.data["required"], e.data["balance"]) for e in declined_events] == [
        ("dave", 10, 4)]
    invariants(store)
    # the key was not used up: after topping up, the same key charges
    shop.grant("dave", 10, idempotency_key="top-up")
    assert shop.charge("dave", "classifieds.ad", idempotency_key="ad-1").charged == 10
    invariants(store)


def test_check_of_a_short_member_says_balance_required_and_what_would_fix_it(
        shop: jeton.Community) -> None:
    shop.grant("dave", 25, idempotency_key="g")
    check = shop.check("dave", "video.minute", 3)
    assert (check.allowed, check.status, check.balance, check.required) == (
        False, "insufficient_credits", 25, 60)
    fixes = [(f.kind, f.name, f.credits) for f in check.fixes]
    assert ("buy_credits", None, 35) in fixes
    assert ("get_class", "seller", 30) in fixes  # the seller price would make it 30
    lounge = shop.check("dave", "chat.lounge")
    assert ("get_class", "vip", 0) in [(f.kind, f.name, f.credits) for f in lounge.fixes]


def test_check_lists_the_lots_that_would_pay_and_writes_nothing(shop: jeton.Community,
                                                                store: Store) -> None:
    g = shop.grant("alice", 30, idempotency_key="g")
    before = counts(store)
    check = shop.check("alice", "classifieds.ad")
    assert counts(store) == before
    assert (check.allowed, check.charge, check.balance) == (True, 10, 30)
    assert [(m.lot_id, m.amount) for m in check.lots] == [(g.lots[0].lot_id, -10)]
    assert [(s.target, s.amount) for s in check.splits] == [("account:revenue", 10)]


def test_non_member_is_shown_the_price_and_a_prompt_to_join(shop: jeton.Community) -> None:
    check = shop.check("stranger", "classifieds.ad")
    assert (check.allowed, check.status) == (False, "forbidden")
    assert check.price is not None
    assert check.price.credits == 10
    assert [r.kind for r in check.reasons] == ["not_a_member"]
    assert check.fixes[0].kind == "become_member"
    with pytest.raises(jeton.NotFound) as missing:
        shop.charge("stranger", "classifieds.ad", idempotency_key="x")
    assert missing.value.status is jeton.Status.member_not_found


def test_promoted_download_pays_the_member_from_promotions(shop: jeton.Community,
                                                           store: Store, invariants: Check) -> None:
    receipt = shop.charge("bob", "files.promoted", idempotency_key="promo-1")
    invariants(store)
    assert (receipt.charged, receipt.paid_to_member, receipt.balance_after) == (0, 2, 2)
    assert receipt.price.credits == -2
    assert shop.account_balance("promotions").posted == -2
    assert shop.get_transfer(receipt.id).kind == "grant"


def test_replayed_charge_returns_the_stored_receipt_and_charges_once(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.grant("alice", 100, idempotency_key="g")
    first = shop.charge("alice", "video.minute", 2, idempotency_key="call-1")
    again = shop.charge("alice", "video.minute", 2, idempotency_key="call-1")
    invariants(store)
    assert again.replayed
    assert not first.replayed
    assert again.model_copy(update={"replayed": False}) == first
    assert shop.balance("alice").available == 60
    with pytest.raises(jeton.IdempotencyConflict):
        shop.charge("alice", "video.minute", 3, idempotency_key="call-1")


def test_free_chat_message_is_idempotent_too(shop: jeton.Community, store: Store) -> None:
    first = shop.charge("alice", "chat.message", idempotency_key="m1", session_id="s")
    again = shop.charge("alice", "chat.message", idempotency_key="m1", session_id="s")
    assert again.replayed
    assert again.id == first.id
    assert first.transfer_id is None
    assert shop.check("alice", "chat.message", session_id="s").allowance_left == 3


def test_download_needs_the_uploader_in_its_context(library: jeton.Community) -> None:
    library.grant("reader", 10_000, idempotency_key="g")
    with pytest.raises(jeton.InvalidRequest, match="uploader"):
        library.charge("reader", "files.download", 3000, idempotency_key="dl")
    with pytest.raises(jeton.NotFound, match="nobody"):
        library.charge("reader", "files.download", 3000, context={"uploader": "nobody"},
                       idempotency_key="dl")
    assert library.balance("reader").available == 10_000


def test_uploader_downloading_their_own_file_pays_no_royalty_to_themselves(
        library: jeton.Community, store: Store, invariants: Check) -> None:
    library.grant("uploader", 10_000, idempotency_key="g")
    receipt = library.charge("uploader", "files.download", 3000,
                             context={"uploader": "uploader"}, idempotency_key="own")
    invariants(store)
    assert [(s.target, s.amount) for s in receipt.splits] == [
        ("account:appstore", 500), ("account:revenue", 2500)]
    assert library.balance("uploader").available == 7000


def test_unknown_service_is_not_found(shop: jeton.Community) -> None:
    with pytest.raises(jeton.NotFound) as missing:
        shop.charge("alice", "no.such", idempotency_key="x")
    assert missing.value.status is jeton.Status.service_not_found
    assert shop.check("alice", "no.such").status == "service_not_found"
