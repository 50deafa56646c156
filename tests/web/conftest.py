"""Fixtures for the dashboard: a community with an owner, and staff users of each role; and
for the member pages: the shop of `member_support` and Alice signed in to it.

`owner` and `moderator` are those users signed in over the module's own `j` fixture (the
community as the module's scenario sets it up). `alice` signs in over the module's `shop`,
which a module may set up its own way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.staff import StaffRole, StaffUser, bootstrap_owner, create_staff_user
from jeton.store.engine import Store

from .helpers import Desk, signed_in
from .member_support import MemberBrowser, Shop, browser_for, closing, make_shop, member_app


@dataclass(frozen=True)
class Staff:
    """A community with one user of each role, all with the same password."""

    community_id: str
    password: str
    owner: StaffUser
    moderator: StaffUser
    support: StaffUser


@pytest.fixture
def staff(store: Store, clock: ManualClock) -> Staff:
    jeton.Jeton(store, clock=clock).create_community("Chat room", "chat")
    password = "correct horse battery"
    owner = bootstrap_owner(store, clock, "chat", "owner@example.org", password)

    def add(email: str, role: StaffRole) -> StaffUser:
        return create_staff_user(store, clock, owner, email=email, password=password, role=role)

    return Staff(community_id="chat", password=password, owner=owner,
                 moderator=add("mod@example.org", StaffRole.moderator),
                 support=add("support@example.org", StaffRole.support))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def owner(store: Store, clock: ManualClock, staff: Staff,
                j: jeton.Jeton) -> AsyncIterator[Desk]:
    async with signed_in(store, clock, staff.owner, staff.password, j) as desk:
        yield desk


@pytest.fixture
async def moderator(store: Store, clock: ManualClock, staff: Staff,
                    j: jeton.Jeton) -> AsyncIterator[Desk]:
    async with signed_in(store, clock, staff.moderator, staff.password, j) as desk:
        yield desk


@pytest.fixture
def shop(store: Store, clock: ManualClock) -> Iterator[Shop]:
    yield from closing(make_shop(store, clock))


@pytest.fixture
async def alice(shop: Shop) -> AsyncIterator[MemberBrowser]:
    """Alice's browser, signed in through a member link (it has read her overview)."""
    async with browser_for(member_app(shop)) as browser:
        assert (await browser.open(shop.link("alice"))).status_code == 303
        yield browser
