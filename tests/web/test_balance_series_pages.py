"""The balance day by day: on the member's own page and on the owner's page of that member,
the posted balance at the end of each of the last 14 days, as the journal gives it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk
from .member_support import MemberBrowser, Shop

pytestmark = pytest.mark.anyio


def days_of(html: str) -> dict[str, str]:
    """Day -> balance shown, from the series table."""
    return dict(re.findall(r'data-day="([0-9-]+)">\s*<td[^>]*>[0-9-]+</td>\s*'
                           r'<td class="num" data-figure="posted-at">([-0-9.]+)</td>', html))


def three_days_of_use(c: jeton.Community, clock: ManualClock) -> None:
    """100 credits three days ago, 30 spent two days ago, 5 more today."""
    today = clock.now()
    clock.set(today - timedelta(days=3))
    c.grant("alice", 100, idempotency_key="g")
    clock.set(today - timedelta(days=2))
    c.spend("alice", 30, idempotency_key="s1", service="chat.message")
    clock.set(today)
    c.spend("alice", 5, idempotency_key="s2", service="chat.message")


def expected(clock: ManualClock) -> dict[str, str]:
    day = clock.now().date()
    return {str(day - timedelta(days=4)): "0", str(day - timedelta(days=3)): "100",
            str(day - timedelta(days=2)): "70", str(day - timedelta(days=1)): "70",
            str(day): "65"}


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)
    chat = j.community("chat")
    chat.create_member("alice", name="Alice Liddell")
    three_days_of_use(chat, clock)
    return j


async def test_owner_sees_the_members_balance_day_by_day(owner: Desk,
                                                         clock: ManualClock) -> None:
    page = await owner.get("/admin/members/alice")
    assert page.status_code == 200
    shown = days_of(page.text)
    assert len(shown) == 14
    assert expected(clock).items() <= shown.items()


async def test_member_sees_their_balance_day_by_day(shop: Shop, alice: MemberBrowser) -> None:
    three_days_of_use(shop.chat, shop.clock)
    page = await alice.get("/m/")
    assert "Your balance, day by day" in page.text
    shown = days_of(page.text)
    assert expected(shop.clock).items() <= shown.items()
    assert '<meter min="0" max="100" value="65">' in page.text
