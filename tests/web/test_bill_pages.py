"""Post-pay bills on the dashboard: the owner lists open and paid bills, opens one with its
lines by service and downloads it; another community's bill is not found."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)
    chat = j.community("chat")
    chat.set_billing_settings(credit_price_minor=50, grace_days=3)
    for member in ("alice", "bob"):
        chat.create_member(member)
        chat.set_credit_line(member, -30)
    chat.spend("alice", 6, idempotency_key="a1", service="chat.message")
    chat.spend("bob", 4, idempotency_key="b1", service="files.download")
    return j


async def test_the_owner_lists_bills_and_reads_one(
        store: Store, j: jeton.Jeton, owner: Desk,
        invariants: Callable[[Store], None]) -> None:
    chat = j.community("chat")
    alices = chat.issue_bill("alice", idempotency_key="bill-a")
    bobs = chat.issue_bill("bob", idempotency_key="bill-b")
    page = text_of(await owner.get("/admin/bills"))
    assert "B-000001" in page
    assert "B-000002" in page
    assert "$3.00" in page
    only_bob = text_of(await owner.get("/admin/bills?member=bob&status=open"))
    assert "B-000002" in only_bob
    assert "B-000001" not in only_bob

    one = text_of(await owner.get(f"/admin/bills/{alices.id}"))
    assert "Bill B-000001" in one
    assert "chat.message 1 1 6" in one
    assert "Amount due $3.00" in one
    csv = await owner.get(f"/admin/bills/{bobs.id}.csv")
    assert "files.download,1,1,4" in csv.text
    assert (await owner.get("/admin/bills/01900000-0000-7000-8000-000000000000")).status_code \
        == 404
    invariants(store)
