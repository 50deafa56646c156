"""Sub-leased areas, as a community owner runs them: the file library under `files.lib42.` is
leased to Olga, its operator. She prices her files within the owner's bounds; every download in
her area pays her 20 % in the same transfer as the charge (beside the uploader's royalty); the
area's report shows uses, credits earned and top members; ending the lease stops the share at
that instant and moves nothing already paid; everything is in the audit log. On SQLite and
PostgreSQL, `jeton verify` after each step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access import staff as staff_users
from jeton.services.access.audit import list_audit
from jeton.services.charging.metered import Metering
from jeton.services.ledger.state import wallet_id

from .conftest import Check

LIBRARY = """
[services."files.lib42.download"]
name = "Download from library 42"
credits = 10
splits = [{ to = "party:uploader", share_bp = 3000 }]

[services."files.lib42.preview"]
name = "Preview"
credits = 2

[services."files.public.download"]
name = "Public download"
credits = 5
"""


@pytest.fixture
def town(j: jeton.Jeton) -> jeton.Community:
    c = j.create_community("Town", "town")
    for member in ("olga", "ann", "bob", "uploader"):
        c.create_member(member)
    for member in ("ann", "bob"):
        c.grant(member, 200, idempotency_key=f"welcome-{member}")
    c.load_catalog(LIBRARY)
    return c


def _lease(town: jeton.Community) -> jeton.LeaseInfo:
    return town.create_lease("files.lib42.", "olga", share_bp=2000, price_min=1,
                             price_max=30, kinds=["fixed"], idempotency_key="lease-lib42")


def test_every_charge_in_the_area_pays_the_operator_in_the_same_transfer(
        town: jeton.Community, invariants: Check) -> None:
    lease = _lease(town)
    assert (lease.area, lease.operator_id, lease.share_bp, lease.active) == (
        "files.lib42.", "olga", 2000, True)
    assert _lease(town).id == lease.id  # the same key: the same lease

    checked = town.check("ann", "files.lib42.download", context={"uploader": "uploader"})
    assert {(s.member or s.account): s.amount for s in checked.splits} == {
        "uploader": 3, "olga": 2, "revenue": 5}
    receipt = town.charge("ann", "files.lib42.download", idempotency_key="d1",
                          context={"uploader": "uploader"})
    assert receipt.charged == 10
    paid = {(s.member or s.account): s.amount for s in receipt.splits}
    assert paid == {"uploader": 3, "olga": 2, "revenue": 5}
    transfer = town.get_transfer(receipt.transfer_id or "")
    legs = {p.account_id: p.amount for p in transfer.postings}
    assert legs[wallet_id("olga", "CREDIT")] == 2  # in the charge's own transfer
    assert legs[wallet_id("ann", "CREDIT")] == -10
    assert town.balance("olga").posted == 2
    # Outside the area, and the operator's own uses, pay no share.
    town.charge("ann", "files.public.download", idempotency_key="p1")
    town.grant("olga", 10, idempotency_key="olga-credits")
    town.charge("olga", "files.lib42.preview", idempotency_key="o1")
    assert town.balance("olga").posted == 2 + 10 - 2
    invariants(town.jeton.store)

    for n in range(3):
        town.charge("bob", "files.lib42.preview", idempotency_key=f"b{n}")
    report = town.area_report(lease.id)
    assert (report.uses, report.credits_charged, report.credits_earned) == (5, 18, 2)
    assert [(s.service, s.uses, s.credits, s.earned) for s in report.services] == [
        ("files.lib42.download", 1, 10, 2), ("files.lib42.preview", 4, 8, 0)]
    assert [(m.member_id, m.uses, m.credits) for m in report.top_members] == [
        ("ann", 1, 10), ("bob", 3, 6), ("olga", 1, 2)]


def test_the_operator_prices_the_area_within_the_bounds_and_the_audit_says_so(
        town: jeton.Community, invariants: Check) -> None:
    lease = _lease(town)
    done = town.set_area_service(lease.id, "files.lib42.download",
                                 {"credits": 25, "class_credits": {"vip": 15}},
                                 actor="olga")
    assert (done.credits, done.class_credits) == (25, {"vip": 15})
    assert done.splits == ["party:uploader 30.00%"]  # the owner's split stays
    assert done.name == "Download from library 42"
    added = town.set_area_service(lease.id, "files.lib42.audio",
                                  {"name": "Audio", "credits": 4,
                                   "access": {"level": "locked", "any_of": ["key:audio"]}},
                                  actor="olga")
    assert (added.credits, added.access) == (4, "locked")
    receipt = town.charge("ann", "files.lib42.download", idempotency_key="d1",
                          context={"uploader": "uploader"})
    assert receipt.charged == 25
    for code, entry in [
            ("files.lib42.download", {"credits": 31}),  # over the bound
            ("files.lib42.download", {"credits": 0}),  # under it
            ("files.lib42.download", {"credits": 5, "class_credits": {"vip": 40}}),
            ("files.lib42.video", {"kind": "per_unit", "credits": 2, "unit": "minute"}),
            ("files.public.download", {"credits": 3}),  # outside the area
            ("files.lib42.download", {"credits": 5, "splits": []}),  # not the operator's
    ]:
        with pytest.raises(jeton.InvalidRequest):
            town.set_area_service(lease.id, code, entry, actor="olga")
    assert {s.code: s.credits for s in town.catalog().services}["files.lib42.download"] == 25
    actions = [e.action for e in list_audit(town.jeton.store, "town")
               if e.action.startswith("lease.")]
    assert actions.count("lease.service_set") == 2
    assert "lease.created" in actions
    invariants(town.jeton.store)


def test_ending_a_lease_stops_the_share_at_that_instant_and_moves_nothing(
        town: jeton.Community, clock: ManualClock, invariants: Check) -> None:
    lease = _lease(town)
    town.charge("ann", "files.lib42.preview", idempotency_key="before")
    clock.advance(timedelta(hours=1))
    ended = town.end_lease(lease.id, reason="Olga moved to another town")
    assert not ended.active
    assert ended.end_reason == "Olga moved to another town"
    assert town.end_lease(lease.id, reason="again").end_reason == ended.end_reason
    town.charge("ann", "files.lib42.preview", idempotency_key="after")
    assert town.balance("olga").posted == 0  # 20 % of 2 rounds down to 0 before, none after

    town.charge("bob", "files.lib42.download", idempotency_key="after-2",
                context={"uploader": "uploader"})
    assert town.balance("olga").posted == 0
    with pytest.raises(jeton.Declined):
        town.set_area_service(lease.id, "files.lib42.preview", {"credits": 3}, actor="olga")
    # The area may be leased again, to someone else.
    again = town.create_lease("files.lib42.", "bob", share_bp=5000, price_min=0,
                              price_max=50, idempotency_key="lease-lib42-bob")
    town.charge("ann", "files.lib42.download", idempotency_key="bob-era",
                context={"uploader": "uploader"})
    assert town.balance("bob").posted == 200 - 10 + 5
    assert town.area_report(lease.id).credits_earned == 0
    assert town.area_report(again.id).credits_earned == 5
    actions = [e.action for e in list_audit(town.jeton.store, "town")]
    assert "lease.ended" in actions
    invariants(town.jeton.store)


def test_overlapping_areas_and_bad_terms_are_refused_and_change_nothing(
        town: jeton.Community) -> None:
    _lease(town)
    for area in ("files.", "files.lib42.sub."):
        with pytest.raises(jeton.Conflict):
            town.create_lease(area, "bob", share_bp=100, price_min=0, price_max=5,
                              idempotency_key=f"overlap-{area}")
    for bad in ({"area": "files.lib43"}, {"share_bp": 10_001}, {"price_min": 9, "price_max": 3},
                {"kinds": ["auction"]}, {"operator": "nobody"}):
        terms = {"area": "files.lib43.", "operator": "bob", "share_bp": 100, "price_min": 0,
                 "price_max": 5} | bad
        with pytest.raises((jeton.InvalidRequest, jeton.NotFound)):
            town.create_lease(terms.pop("area"), terms.pop("operator"),  # type: ignore[arg-type]
                              idempotency_key=f"bad-{sorted(bad)}", **terms)  # type: ignore[arg-type]
    assert len(town.list_leases()) == 1
    with pytest.raises(jeton.IdempotencyConflict):
        town.create_lease("files.lib44.", "bob", share_bp=1, price_min=0, price_max=1,
                          idempotency_key="lease-lib42")


def test_the_operator_account_sees_only_its_area(town: jeton.Community,
                                                 j: jeton.Jeton) -> None:
    lease = _lease(town)
    owner = staff_users.bootstrap_owner(j.store, j.clock, "town", email="owner@town.example",
                                        password="a long owner password")
    support = staff_users.create_staff_user(
        j.store, j.clock, owner, email="olga@town.example", password="olga's long password",
        role=staff_users.StaffRole.support)
    assert support.can(staff_users.Permission.view)
    with pytest.raises(jeton.InvalidRequest):
        staff_users.create_staff_user(j.store, j.clock, owner, email="x@town.example",
                                      password="another long password",
                                      role=staff_users.StaffRole.operator)
    town.bind_lease_staff(lease.id, email="olga@town.example", actor=owner)
    olga = staff_users.get_staff_user(j.store, "town", support.user_id)
    assert olga.role is staff_users.StaffRole.operator
    assert olga.area_lease_id == lease.id
    assert not olga.can(staff_users.Permission.view)
    assert olga.can(staff_users.Permission.operate_area)
    town.set_area_service(lease.id, "files.lib42.preview", {"credits": 3}, actor=olga)
    other = town.create_lease("files.lib43.", "bob", share_bp=100, price_min=0, price_max=9,
                              idempotency_key="lease-lib43")
    with pytest.raises(jeton.Declined):
        town.set_area_service(other.id, "files.lib43.x", {"credits": 3}, actor=olga)
    entries = [e for e in list_audit(j.store, "town") if e.action == "lease.service_set"]
    assert entries[0].user_email == "olga@town.example"
    # The lease ends: the account keeps its area and nothing more; a new lease may take it on.
    town.end_lease(lease.id, reason="moved", actor=owner)
    ended = staff_users.get_staff_user(j.store, "town", support.user_id)
    assert (ended.role, ended.area_lease_id) == (staff_users.StaffRole.operator, lease.id)
    assert not ended.can(staff_users.Permission.view)
    with pytest.raises(jeton.Conflict):
        town.bind_lease_staff(lease.id, email="olga@town.example", actor=owner)  # ended
    later = town.create_lease("files.lib99.", "olga", share_bp=100, price_min=0, price_max=9,
                              idempotency_key="lease-lib99")
    town.bind_lease_staff(later.id, email="olga@town.example", actor=owner)
    assert staff_users.get_staff_user(j.store, "town", support.user_id).area_lease_id \
        == later.id


STREAMING = LIBRARY + """
[services."files.lib42.stream"]
name = "Stream from library 42"
kind = "per_unit"
credits = 5
unit = "minute"
"""


def test_metered_use_in_the_area_pays_the_share_of_what_is_captured(
        town: jeton.Community, invariants: Check) -> None:
    """A stream in the area holds its estimate and, when it ends, pays the operator her share of
    what was captured, in the capture's own transfer; the area's report counts it. After the
    lease ends a capture pays none (decision 0093)."""
    town.load_catalog(STREAMING)
    lease = _lease(town)
    stream = town.start_metered("ann", "files.lib42.stream", 10, idempotency_key="s1")
    assert stream.held == 50
    receipt = town.finish_metered(stream.id, 6, idempotency_key="s1-end")
    assert receipt.captured == 30
    assert {(s.member or s.account): s.amount for s in receipt.splits} == {
        "olga": 6, "revenue": 24}
    transfer = town.get_transfer(receipt.transfer_id or "")
    assert {p.account_id: p.amount for p in transfer.postings}[wallet_id("olga", "CREDIT")] == 6
    assert transfer.metadata["lease_id"] == lease.id
    assert town.balance("olga").posted == 6
    assert town.balance("ann").available == 200 - 30
    report = town.area_report(lease.id)
    assert [(s.service, s.uses, s.credits, s.earned) for s in report.services] == [
        ("files.lib42.stream", 1, 30, 6)]

    # Started under the lease, captured after its end: no share (the capture is the transfer).
    later = town.start_metered("bob", "files.lib42.stream", 2, idempotency_key="s2")
    town.end_lease(lease.id, reason="the library closed")
    done = town.finish_metered(later.id, 2, idempotency_key="s2-end")
    assert {(s.member or s.account): s.amount for s in done.splits} == {"revenue": 10}
    assert town.balance("olga").posted == 6
    invariants(town.jeton.store)


def test_a_lease_that_changes_while_a_metered_use_is_priced_is_read_again_at_capture(
        town: jeton.Community, invariants: Check, monkeypatch: pytest.MonkeyPatch) -> None:
    """The share goes to the lease running in the capture's own transaction: a lease ended
    (and another begun) after the finish was priced and before its capture is seen there, and
    the finish is priced again (decision 0093)."""
    town.load_catalog(STREAMING)
    first = _lease(town)
    stream = town.start_metered("ann", "files.lib42.stream", 10, idempotency_key="s1")
    priced = Metering._price
    calls: list[str] = []

    def price_then_hand_over(self: Metering, *args: object) -> object:
        plan = priced(self, *args)  # type: ignore[arg-type]
        calls.append("priced")
        if len(calls) == 1:  # between this price and its capture, the area changes hands
            town.end_lease(first.id, reason="handed over")
            town.create_lease("files.lib42.", "bob", share_bp=1000, price_min=1, price_max=30,
                              kinds=["fixed"], idempotency_key="lease-lib42-bob")
        return plan

    monkeypatch.setattr(Metering, "_price", price_then_hand_over)
    receipt = town.finish_metered(stream.id, 6, idempotency_key="s1-end")
    assert calls == ["priced", "priced"]
    assert receipt.captured == 30
    assert {(s.member or s.account): s.amount for s in receipt.splits} == {
        "bob": 3, "revenue": 27}
    assert town.balance("olga").posted == 0
    assert town.get_transfer(receipt.transfer_id or "").metadata["lease_id"] != first.id
    invariants(town.jeton.store)


def test_a_finish_priced_from_leases_read_before_a_hand_over_pays_the_lease_running_now(
        town: jeton.Community, invariants: Check, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finish in the process that started the use prices from the leases it read last
    (decision 0106); its capture reads them again, finds another lease running, and the
    finish is priced again from the database's rows."""
    town.load_catalog(STREAMING)
    first = _lease(town)
    warm = town.start_metered("ann", "files.lib42.stream", 2, idempotency_key="s0")
    town.finish_metered(warm.id, 2, idempotency_key="s0-end")  # the leases read: olga's
    stream = town.start_metered("ann", "files.lib42.stream", 10, idempotency_key="s1")
    town.end_lease(first.id, reason="handed over")
    town.create_lease("files.lib42.", "bob", share_bp=1000, price_min=1, price_max=30,
                      kinds=["fixed"], idempotency_key="lease-lib42-bob")
    calls: list[str] = []
    for name in ("_price_remembered", "_price"):
        monkeypatch.setattr(Metering, name, _noting(calls, name, getattr(Metering, name)))
    receipt = town.finish_metered(stream.id, 6, idempotency_key="s1-end")
    assert calls == ["_price_remembered", "_price"]
    assert receipt.captured == 30
    assert {(s.member or s.account): s.amount for s in receipt.splits} == {
        "bob": 3, "revenue": 27}
    assert town.balance("olga").posted == 2  # 20 % of the first use's 10 only
    invariants(town.jeton.store)


def _noting(calls: list[str], name: str, method: Any) -> Any:
    def noted(*args: Any) -> Any:
        calls.append(name)
        return method(*args)
    return noted
