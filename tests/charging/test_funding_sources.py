"""Replaceable deduction logic: a loyalty card pays first, the wallet the rest, atomically."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import jeton
from jeton.services.charging import funding_sources
from jeton.services.charging.funding_sources import FundingRequest, LoyaltyCardSource
from jeton.store.engine import Store

from .conftest import Check, counts


@pytest.fixture
def card(tmp_path: Path) -> Iterator[LoyaltyCardSource]:
    source = LoyaltyCardSource(tmp_path / "loyalty.db", points_per_credit=10)
    yield source
    source.close()


def test_loyalty_points_pay_first_and_the_wallet_the_rest(shop: jeton.Community,
                                                          card: LoyaltyCardSource,
                                                          store: Store, invariants: Check) -> None:
    shop.add_funding_source(card)
    card.add_points("shop", "alice", 45)  # worth 4 credits (10 points each), 5 points over
    shop.grant("alice", 20, idempotency_key="g")
    check = shop.check("alice", "classifieds.ad")
    assert (check.allowed, check.required) == (True, 6)
    assert [(e.source, e.amount) for e in check.external] == [("loyalty", 4)]
    receipt = shop.charge("alice", "classifieds.ad", idempotency_key="ad-1")
    invariants(store)
    assert [(e.source, e.amount) for e in receipt.external] == [("loyalty", 4)]
    assert receipt.charged == 10
    assert [m.amount for m in receipt.lots] == [-6]
    assert shop.balance("alice").available == 14
    assert card.points("shop", "alice") == 5
    assert shop.account_balance("revenue").posted == 10
    assert shop.account_balance("loyalty").posted == -4  # what the card program owes
    again = shop.charge("alice", "classifieds.ad", idempotency_key="ad-1")
    assert again.replayed
    assert card.points("shop", "alice") == 5


def test_when_the_wallet_cannot_pay_its_part_the_points_are_refunded(
        shop: jeton.Community, card: LoyaltyCardSource, store: Store, invariants: Check) -> None:
    shop.add_funding_source(card)
    card.add_points("shop", "bob", 30)  # 3 credits
    shop.grant("bob", 2, idempotency_key="g")
    before = counts(store)
    with pytest.raises(jeton.InsufficientCredits) as declined:
        shop.charge("bob", "classifieds.ad", idempotency_key="ad-1")
    assert (declined.value.extra["balance"], declined.value.extra["required"]) == (2, 7)
    assert card.points("shop", "bob") == 30  # given back
    # Nothing is written but the charge.declined event.
    assert counts(store) == {**before, "events": before["events"] + 1}
    invariants(store)
    shop.grant("bob", 5, idempotency_key="top-up")
    receipt = shop.charge("bob", "classifieds.ad", idempotency_key="ad-1")
    assert ([(e.source, e.amount) for e in receipt.external], receipt.balance_after) == (
        [("loyalty", 3)], 0)
    assert card.points("shop", "bob") == 0
    invariants(store)


def test_a_source_instead_of_the_wallet_declines_what_it_cannot_pay(
        shop: jeton.Community, tmp_path: Path, store: Store, invariants: Check) -> None:
    only_card = LoyaltyCardSource(tmp_path / "only.db", name="company_budget",
                                  replaces_wallet=True)
    try:
        shop.add_funding_source(only_card)
        only_card.add_points("shop", "carol", 8)
        shop.grant("carol", 100, idempotency_key="g")  # the wallet is not asked
        with pytest.raises(jeton.InsufficientCredits):
            shop.charge("carol", "classifieds.ad", idempotency_key="ad")
        assert only_card.points("shop", "carol") == 8
        assert shop.check("carol", "classifieds.ad").status == "insufficient_credits"
        only_card.add_points("shop", "carol", 2)
        receipt = shop.charge("carol", "classifieds.ad", idempotency_key="ad")
        assert (receipt.lots, receipt.balance_after) == ([], 100)
        invariants(store)
    finally:
        only_card.close()


def test_the_card_is_idempotent_per_reference(card: LoyaltyCardSource) -> None:
    card.add_points("c", "m", 100)
    request = FundingRequest("c", "m", "s.x", 4, "CREDIT", "ref-1")
    assert card.try_pay(request) == 4
    assert card.try_pay(request) == 4  # asked again: the first answer, nothing more taken
    assert card.points("c", "m") == 60
    card.refund("ref-1")
    card.refund("ref-1")
    assert card.points("c", "m") == 100


def test_a_source_installed_as_an_entry_point_is_found_by_name(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shop: jeton.Community,
        store: Store, invariants: Check) -> None:
    installed = [EntryPoint(name="loyalty_card",
                            value="jeton.services.charging.funding_sources:LoyaltyCardSource",
                            group=funding_sources.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(funding_sources, "entry_points",
                        lambda group: [e for e in installed if e.group == group])
    source = shop.jeton.charging.funding_sources.register_entry_point(
        "loyalty_card", community_id="shop", path=str(tmp_path / "ep.db"))
    assert isinstance(source, LoyaltyCardSource)
    try:
        source.add_points("shop", "dave", 10)
        shop.grant("dave", 10, idempotency_key="g")
        receipt = shop.charge("dave", "classifieds.ad", idempotency_key="ad")
        assert [(e.source, e.amount) for e in receipt.external] == [("loyalty", 10)]
        invariants(store)
        with pytest.raises(jeton.NotFound):
            funding_sources.from_entry_point("nothing_installed")
    finally:
        source.close()


def test_a_source_paying_more_than_asked_is_refused(shop: jeton.Community) -> None:
    class Greedy:
        name = "greedy"
        replaces_wallet = False

        def quote(self, request: FundingRequest) -> int:
            return request.amount + 1

        def try_pay(self, request: FundingRequest) -> int:
            return request.amount + 1

        def refund(self, reference: str) -> None:
            self.refunded = reference

    greedy = Greedy()
    shop.add_funding_source(greedy)
    shop.grant("alice", 50, idempotency_key="g")
    with pytest.raises(jeton.InvalidRequest, match="greedy"):
        shop.charge("alice", "classifieds.ad", idempotency_key="ad")
    assert greedy.refunded
    assert shop.balance("alice").available == 50
