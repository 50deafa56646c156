"""A member's view of the catalog: what they can see, at their price, and what would let them
in. A host app once had to `check` every service one by one, and could not tell which hidden
services to leave out of a menu without asking about each."""

from __future__ import annotations

import pytest

import jeton
from jeton import MemberCatalog, MemberService, NotFound, Status


def by_code(view: MemberCatalog) -> dict[str, MemberService]:
    return {s.code: s for s in view.services}


def test_a_plain_member_sees_what_is_not_hidden_at_the_list_price(
        shop: jeton.Community) -> None:
    shop.grant("alice", 30, idempotency_key="g")
    view = shop.member_catalog("alice")
    seen = by_code(view)
    assert "chat.private_room" not in seen  # hidden: not even its name
    assert view.balance == 30
    assert view.version == 1
    ad = seen["classifieds.ad"]
    assert (ad.allowed, ad.status, ad.charge) == (True, "ok", 10)
    assert ad.price is not None
    assert ad.price.money is not None
    assert ad.price.money.amount_minor == 100
    video = seen["video.minute"]  # one unit (a minute) at the list price; a class is cheaper
    assert (video.price_kind, video.charge) == ("per_unit", 20)
    assert [(u.kind, u.name, u.credits) for u in video.upgrades] == [("get_class", "seller", 10)]
    lounge = seen["chat.lounge"]  # locked, but paying is an alternative: allowed, at 50
    assert (lounge.allowed, lounge.charge) == (True, 50)
    assert [(u.kind, u.name) for u in lounge.upgrades] == [("get_class", "vip")]
    archive = seen["files.archive"]  # locked behind a key: what would unlock it
    assert (archive.allowed, archive.status) == (False, "forbidden")
    assert [(f.kind, f.name) for f in archive.fixes] == [("get_key", "archive")]
    assert seen["files.promoted"].payout == 2
    chat = seen["chat.message"]  # per session: a new session starts with all five
    assert (chat.allowance_uses, chat.allowance_per, chat.allowance_left) == (5, "session", 5)


def test_classes_keys_and_used_allowances_change_the_view(shop: jeton.Community) -> None:
    shop.grant("bob", 100, idempotency_key="g")
    shop.grant_class("bob", "vip")
    shop.grant_class("bob", "seller")
    shop.grant_key("bob", "archive")
    for n in range(3):
        shop.charge("bob", "chat.teaser", idempotency_key=f"t{n}")
    shop.charge("bob", "chat.message", idempotency_key="m1", session_id="s1")
    seen = by_code(shop.member_catalog("bob", session_id="s1"))
    assert seen["chat.private_room"].allowed  # visible to a vip
    assert seen["chat.lounge"].charge == 0  # the class waives the price
    assert seen["video.minute"].charge == 10  # the seller's price
    assert seen["files.archive"].allowed
    teaser = seen["chat.teaser"]  # three free a day, then a prompt: used up
    assert (teaser.allowed, teaser.status, teaser.allowance_left) == (False, "limit_exceeded", 0)
    assert seen["chat.message"].allowance_left == 4


def test_a_stranger_has_no_view(shop: jeton.Community) -> None:
    with pytest.raises(NotFound) as caught:
        shop.member_catalog("nobody")
    assert caught.value.status is Status.member_not_found
