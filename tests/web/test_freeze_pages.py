"""Freezing a wallet from the member page: a moderator reviews, confirms, and the member's
spends are refused; the owner unfreezes it; a support user may only look."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.audit import list_audit
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk, hidden_fields, signed_in, text_of

pytestmark = pytest.mark.anyio
CONFIRM = "/admin/members/alice/freeze"


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)
    chat = j.community("chat")
    chat.create_member("alice", name="Alice Liddell")
    chat.grant("alice", 100, idempotency_key="g")
    return j


async def test_moderator_freezes_after_a_review_and_the_owner_unfreezes(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton, moderator: Desk,
        invariants: Callable[[Store], None]) -> None:
    page = await moderator.get("/admin/members/alice")
    assert "Freeze wallet" in page.text
    form = await moderator.get("/admin/members/alice/freeze")
    assert form.status_code == 200
    empty = await moderator.post("/admin/members/alice/freeze/review",
                                 {**hidden_fields(form), "reason": ""})
    assert empty.status_code == 400
    review = await moderator.post("/admin/members/alice/freeze/review",
                                  {**hidden_fields(form), "reason": "Card reported stolen"})
    assert review.status_code == 200
    assert "Check and confirm" in text_of(review)
    assert not j.community("chat").get_wallet_freeze("alice").frozen  # nothing yet

    done = await moderator.post(CONFIRM, hidden_fields(review, CONFIRM))
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/members/alice?notice=wallet_frozen"
    again = await moderator.post(CONFIRM, hidden_fields(review, CONFIRM))
    assert again.status_code == 303  # a double submit freezes once
    page = await moderator.get(done.headers["location"])
    assert "Wallet frozen since" in text_of(page)
    assert "Card reported stolen" in page.text
    with pytest.raises(jeton.WalletFrozen):
        j.community("chat").spend("alice", 1, idempotency_key="s")
    entries = [e for e in list_audit(store, "chat") if e.action.startswith("wallet.")]
    assert [(e.action, e.user_email) for e in entries] == [
        ("wallet.frozen", staff.moderator.email)]

    async with signed_in(store, clock, staff.owner, staff.password, j) as owner:
        form = await owner.get("/admin/members/alice/freeze")
        assert "Unfreeze the wallet" in text_of(form)
        review = await owner.post("/admin/members/alice/freeze/review",
                                  {**hidden_fields(form), "reason": "Owner called, all fine"})
        done = await owner.post(CONFIRM, hidden_fields(review, CONFIRM))
        assert done.headers["location"] == "/admin/members/alice?notice=wallet_unfrozen"
    j.community("chat").spend("alice", 1, idempotency_key="s")
    assert j.community("chat").balance("alice").posted == 99
    invariants(store)


async def test_support_staff_cannot_freeze(store: Store, clock: ManualClock, staff: Staff,
                                           j: jeton.Jeton) -> None:
    async with signed_in(store, clock, staff.support, staff.password, j) as support:
        page = await support.get("/admin/members/alice")
        assert "Freeze wallet" not in page.text
        form = await support.get("/admin/members/alice/freeze")
        assert form.status_code == 403


async def test_the_owner_sees_who_keeps_hitting_a_spending_limit(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton) -> None:
    chat = j.community("chat")
    chat.set_velocity_limit(per_hour=5)
    chat.set_spending_settings(alert_after_trips=2)
    for n in range(3):
        with pytest.raises(jeton.VelocityLimitExceeded):
            chat.spend("alice", 6, idempotency_key=f"s{n}")
    async with signed_in(store, clock, staff.owner, staff.password, j) as owner:
        home = await owner.get("/admin/")
        assert "Members hitting a spending limit today" in text_of(home)
        assert "alice : declined 3 times" in text_of(home)
        page = await owner.get("/admin/members/alice")
        assert "Declined by a spending limit 3 times today." in text_of(page)
