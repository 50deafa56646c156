"""Offers on the demo catalog: what members of the demo community may do, and for how much."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jeton.core.access import FixKind, Grant, Holdings
from jeton.core.allowances import AfterAllowance, Allowance, Period
from jeton.core.catalog import DEMO_CATALOG, Catalog, Service, load_catalog
from jeton.core.errors import InvalidRequest
from jeton.core.offers import make_offer
from jeton.core.prices import Money, PriceKind, PriceRule
from jeton.core.splits import REVENUE, SplitPart, Target, TargetKind
from jeton.core.statuses import Status

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
UPLOADER = Target(TargetKind.party, "uploader")
APPSTORE = Target(TargetKind.account, "appstore")
MEMBER = Holdings()
VIP = Holdings(classes=(Grant("vip", NOW + timedelta(days=30)),))


DEMO = load_catalog(files("jeton.core").joinpath(DEMO_CATALOG).read_text(), "toml").unwrap()


@pytest.fixture
def catalog() -> Catalog:
    return DEMO


def test_download_of_3000_bytes_costs_3_credits_split_with_the_app_store(
        catalog: Catalog) -> None:
    offer = make_offer(catalog.service("files.download"), MEMBER, 3000, NOW)
    assert offer.ok
    assert offer.charge == 3
    assert offer.splits == ((APPSTORE, 1), (REVENUE, 2))  # 30 % of 3 rounds down to 0


def test_uploader_earns_30_percent_of_a_10_kib_download(catalog: Catalog) -> None:
    offer = make_offer(catalog.service("files.download"), MEMBER, 10 * 1024, NOW)
    assert offer.splits == ((UPLOADER, 3), (APPSTORE, 1), (REVENUE, 6))


def test_sixth_chat_message_of_a_session_costs_1_credit(catalog: Catalog) -> None:
    chat = catalog.service("chat.message")
    fifth = make_offer(chat, MEMBER, 1, NOW, used_in_window=4, session_id="s-1")
    sixth = make_offer(chat, MEMBER, 1, NOW, used_in_window=5, session_id="s-1")
    assert (fifth.charge, fifth.splits) == (0, ())
    assert fifth.allowance is not None
    assert fifth.allowance.window == "s-1"
    assert (sixth.charge, sixth.splits) == (1, ((REVENUE, 1),))


def test_teaser_allowance_declines_with_a_prompt_and_the_price() -> None:
    teaser = Service("chat.teaser", "Teaser", PriceRule(PriceKind.fixed, 2),
                     allowance=Allowance(3, Period.day, AfterAllowance.prompt))
    offer = make_offer(teaser, MEMBER, 2, NOW, used_in_window=2)
    assert offer.status is Status.limit_exceeded
    assert offer.charge == 0
    assert offer.quote is not None
    assert offer.quote.credits == 2  # the one unit past the three


def test_vip_enters_the_private_room_free_others_pay_50(catalog: Catalog) -> None:
    room = catalog.service("chat.private_room")
    assert make_offer(room, VIP, 1, NOW).charge == 0
    assert make_offer(room, MEMBER, 1, NOW).charge == 50
    expired = make_offer(room, VIP, 1, NOW + timedelta(days=30))
    assert expired.charge == 50


def test_seller_pays_less_for_video_minutes_and_plans_discount_it(catalog: Catalog) -> None:
    video = catalog.service("video.minute")
    seller = Holdings(classes=(Grant("seller"),))
    assert make_offer(video, seller, 3, NOW).charge == 30
    assert make_offer(video, Holdings(classes=(Grant("buyer"),)), 3, NOW).charge == 60
    discounted = make_offer(video, seller, 3, NOW, discount_bp=1500)
    assert discounted.charge == 26  # 30 less 15 % = 25.5, rounded up
    assert discounted.quote is not None
    assert discounted.quote.money == Money("USD", 510)  # $6.00 for 3 minutes, less 15 %


def test_promoted_download_pays_the_member(catalog: Catalog) -> None:
    offer = make_offer(catalog.service("files.promoted_download"), MEMBER, 1, NOW)
    assert (offer.charge, offer.payout, offer.splits) == (0, 2, ())


def test_hidden_badge_does_not_exist_without_the_key(catalog: Catalog) -> None:
    badge = catalog.service("mall.collectors_badge")
    hidden = make_offer(badge, MEMBER, 1, NOW)
    assert hidden.status is Status.service_not_found
    assert hidden.quote is None
    collector = Holdings(keys=(Grant("collectors"),))
    assert make_offer(badge, collector, 1, NOW).charge == 100


def test_non_member_is_shown_the_list_price_and_asked_to_join(catalog: Catalog) -> None:
    offer = make_offer(catalog.service("classifieds.ad"), None, 1, NOW, discount_bp=5000)
    assert offer.status is Status.forbidden
    assert offer.quote is not None
    assert (offer.quote.credits, offer.quote.money) == (10, Money("USD", 100))
    assert offer.access.fixes[0].kind is FixKind.become_member
    assert offer.charge == 0


def test_a_discount_under_the_split_fee_is_refused_as_split_invalid() -> None:
    service = Service("a.b", "A", PriceRule(PriceKind.fixed, 2),
                      splits=(SplitPart.fee(APPSTORE, 2),))
    with pytest.raises(InvalidRequest) as err:
        make_offer(service, MEMBER, 1, NOW, discount_bp=5000)
    assert err.value.status is Status.split_invalid


@given(st.integers(0, 10**9), st.integers(0, 10_000))
def test_what_a_download_charges_is_always_split_in_full(size: int, discount_bp: int) -> None:
    service = DEMO.service("files.download")
    # Discounted prices round up, so a charge is 0 or at least 1, and 1 carries the 1-credit fee.
    offer = make_offer(service, MEMBER, size, NOW, discount_bp=discount_bp)
    assert sum(amount for _, amount in offer.splits) == offer.charge
