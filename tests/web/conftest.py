"""Fixtures for the dashboard: a community with an owner, and staff users of each role.

`owner` and `moderator` are those users signed in over the module's own `j` fixture (the
community as the module's scenario sets it up)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.staff import StaffRole, StaffUser, bootstrap_owner, create_staff_user
from jeton.store.engine import Store

from .helpers import Desk, signed_in


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
