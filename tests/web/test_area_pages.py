"""Sub-leased areas on the dashboard: the support account bound to Olga's lease signs in as an
operator, lands on its area's page (report and services), prices a service within the bounds
(out of them: explained, nothing changed), and every other page sends it back to its area; the
owner sees every lease; the audit log has it all. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.audit import list_audit
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk, hidden_fields, signed_in, text_of

pytestmark = pytest.mark.anyio

LIBRARY = """
[services."files.lib42.download"]
name = "Download from library 42"
credits = 10

[services."chat.message"]
name = "Chat message"
credits = 1
"""


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)
    chat = j.community("chat")
    for member in ("olga", "ann"):
        chat.create_member(member)
    chat.grant("ann", 100, idempotency_key="g")
    chat.load_catalog(LIBRARY)
    lease = chat.create_lease("files.lib42.", "olga", share_bp=2000, price_min=1,
                              price_max=30, idempotency_key="lease")
    chat.bind_lease_staff(lease.id, email=staff.support.email, actor=staff.owner)
    for n in range(2):
        chat.charge("ann", "files.lib42.download", idempotency_key=f"d{n}")
    return j


@pytest.fixture
async def operator(store: Store, clock: ManualClock, staff: Staff,
                   j: jeton.Jeton) -> AsyncIterator[Desk]:
    async with signed_in(store, clock, staff.support, staff.password, j) as desk:
        yield desk


async def test_the_operator_sees_and_prices_only_its_area(
        store: Store, staff: Staff, j: jeton.Jeton, operator: Desk, owner: Desk,
        invariants: Callable[[Store], None]) -> None:
    chat = j.community("chat")
    [lease] = chat.list_leases()
    landing = await operator.get("/admin/")
    assert landing.status_code == 303
    assert landing.headers["location"] == "/admin/area"
    page = await operator.get(f"/admin/areas/{lease.id}")
    words = text_of(page)
    assert "2 uses" in words
    assert "20 credits charged" in words
    assert "4 credits earned by the operator" in words
    assert "ann 2 20" in words
    assert "chat.message" not in words  # not the area's
    for path in ("/admin/members", "/admin/catalog", "/admin/bills", "/admin/leases"):
        assert (await operator.get(path)).headers["location"] == "/admin/area"

    form = hidden_fields(page)
    refused = await operator.post(f"/admin/areas/{lease.id}/services",
                                  {**form, "code": "files.lib42.download", "credits": "45"})
    assert refused.status_code == 422
    assert "1-30" in text_of(refused)
    outside = await operator.post(f"/admin/areas/{lease.id}/services",
                                  {**form, "code": "chat.message", "credits": "5"})
    assert outside.status_code == 422
    saved = await operator.post(f"/admin/areas/{lease.id}/services",
                                {**form, "code": "files.lib42.download", "credits": "12"})
    assert saved.status_code == 303
    prices = {s.code: s.credits for s in chat.catalog().services}
    assert prices == {"files.lib42.download": 12, "chat.message": 1}
    entries = [e for e in list_audit(store, "chat") if e.action.startswith("lease.")]
    assert (entries[0].action, entries[0].user_email) == (
        "lease.service_set", staff.support.email)

    # The owner sees every lease and the area's page; a lease ended stops the operator's edits.
    assert "files.lib42." in text_of(await owner.get("/admin/leases"))
    assert "4 credits earned" in text_of(await owner.get(f"/admin/areas/{lease.id}"))
    chat.end_lease(lease.id, reason="closing", actor=staff.owner)
    ended = await operator.get(f"/admin/areas/{lease.id}")
    assert "This lease ended" in text_of(ended)
    assert "Save the price" not in ended.text
    late = await operator.post(f"/admin/areas/{lease.id}/services",
                               {**form, "code": "files.lib42.download", "credits": "13"})
    assert late.status_code == 403
    invariants(store)
