"""The owner's reports, on every store, from a small month of activity."""

from __future__ import annotations

from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.reports import service as reports
from jeton.store.engine import Store


def test_month_of_activity_adds_up(jeton_app: jeton.Jeton, clock: ManualClock,
                                   store: Store) -> None:
    chat = jeton_app.create_community("Reports", "rep")
    for m in ("alice", "bob"):
        chat.create_member(m)
    chat.grant("alice", 100, idempotency_key="buy", paid=True, cost_minor=3000,
               cost_currency="USD", source="purchase")
    chat.grant("bob", 20, idempotency_key="bonus", source="bonus",
               expires_at=clock.now() + timedelta(days=2))
    chat.spend("alice", 10, service="files.download", idempotency_key="d1")
    refunded = chat.spend("alice", 5, service="video.minute", idempotency_key="v1")
    chat.spend("bob", 4, service="chat.message", idempotency_key="c1")
    chat.reverse(refunded.id, idempotency_key="r1")
    clock.advance(days=3)
    chat.run_expiry()

    today = clock.now().date()
    report = reports.build(store, "rep", since=today - timedelta(days=5), today=today)
    per_day = report.table("per_day")
    assert sum(r[1] for r in per_day.rows) == 120
    assert sum(r[2] for r in per_day.rows) == 14
    assert sum(r[3] for r in per_day.rows) == 16
    issued = {(r[0], r[1]): r[2] for r in report.table("issued_by_source").rows}
    assert issued == {("purchase", True): 100, ("bonus", False): 20}
    consumed = {r[0]: r[1] for r in report.table("consumed_by_service").rows}
    assert consumed == {"files.download": 10, "chat.message": 4, "video.minute": 0}
    assert report.table("float").rows == [["USD", 90, 2700]]
    assert report.table("top_members").rows == [["alice", 10], ["bob", 4]]
    assert report.table("per_day").to_csv().startswith("day,issued,consumed,expired")


def test_a_reports_tables_agree_while_spends_commit_in_between(
        jeton_app: jeton.Jeton, clock: ManualClock, store: Store,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table of a report reads one snapshot: a spend that commits while the report is
    being built is in all of its tables or in none."""
    chat = jeton_app.create_community("Reports", "rep")
    chat.create_member("alice")
    chat.grant("alice", 100, idempotency_key="g", paid=True, cost_minor=1000,
               cost_currency="USD")
    chat.spend("alice", 3, service="chat.message", idempotency_key="s0")
    by_service = reports._consumed_by_service

    def spend_first(*args: object) -> reports.ReportTable:  # a write lands between two tables
        chat.spend("alice", 5, service="chat.message", idempotency_key="meanwhile")
        return by_service(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(reports, "_consumed_by_service", spend_first)
    today = clock.now().date()
    report = reports.build(store, "rep", since=today - timedelta(days=1), today=today)
    assert sum(r[2] for r in report.table("per_day").rows) == 3
    assert report.table("consumed_by_service").rows == [["chat.message", 3, 1]]
    assert report.table("float").rows[0][1] == 97
    monkeypatch.undo()
    again = reports.build(store, "rep", since=today - timedelta(days=1), today=today)
    assert again.table("consumed_by_service").rows == [["chat.message", 8, 2]]
