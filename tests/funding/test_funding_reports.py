"""The owner's report counts money taken, packs sold and recharges."""

from __future__ import annotations

from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.reports.standing import search_subscriptions
from jeton.store.engine import Store
from meanwhile import write_after

from .conftest import CANCEL, SUCCESS, pay


def test_report_counts_money_taken_and_packs_sold(jeton_app: jeton.Jeton, clock: ManualClock,
                                                  store: Store) -> None:
    chat = jeton_app.create_community("Reports", "rep")
    chat.create_member("alice")
    pack = chat.create_pack("Twenty", credits=20, price_minor=6000, currency="USD")
    checkout = chat.buy_pack("alice", pack.id, provider="offline", idempotency_key="buy-1",
                             success_url="https://chat.example/ok",
                             cancel_url="https://chat.example/no")
    chat.record_offline_payment(checkout.purchase_id, reference="check 1042")
    report = chat.report()
    money = [row for row in report.table("money_per_day").rows if row[-1]]
    assert [row[1:] for row in money] == [["USD", "60.00", "0.00", "60.00", 1]]
    assert report.table("packs_sold").rows == [["Twenty", "pack", 1, 20, "USD", 6000]]
    assert report.table("recharges").rows == []
    assert report.table("money_per_day").to_csv().startswith(
        "day,currency,taken,refunded,net,purchases")
    assert report.table("money_total").rows == [["USD", "60.00", "0.00", "60.00", 1]]


def _buy(chat: jeton.Community, pack_id: str, member: str, key: str) -> None:
    checkout = chat.buy_pack(member, pack_id, provider="offline", idempotency_key=key,
                             success_url="https://chat.example/ok",
                             cancel_url="https://chat.example/no")
    chat.record_offline_payment(checkout.purchase_id, reference=key)


def test_money_per_day_is_one_row_per_day_and_currency_for_every_day(
        jeton_app: jeton.Jeton, clock: ManualClock) -> None:
    chat = jeton_app.create_community("Money", "money")
    for member in ("alice", "bob"):
        chat.create_member(member)
    usd = chat.create_pack("Twenty", credits=20, price_minor=6000, currency="USD")
    eur = chat.create_pack("Fifty", credits=50, price_minor=14950, currency="EUR")
    start = clock.now().date()
    # Four purchases in one day, at different hours: one row for the day, not four.
    for i, member in enumerate(("alice", "bob", "alice", "bob")):
        _buy(chat, usd.id, member, f"usd-{i}")
        clock.advance(hours=1)
    _buy(chat, eur.id, "alice", "eur-0")
    clock.advance(days=2)
    _buy(chat, usd.id, "bob", "usd-late")
    report = chat.report(since=start, until=start + timedelta(days=4))
    rows = report.table("money_per_day").rows
    days = [(start + timedelta(days=n)).isoformat() for n in range(4)]
    assert rows == [
        [days[0], "EUR", "149.50", "0.00", "149.50", 1],
        [days[0], "USD", "240.00", "0.00", "240.00", 4],
        [days[1], "EUR", "0.00", "0.00", "0.00", 0],
        [days[1], "USD", "0.00", "0.00", "0.00", 0],
        [days[2], "EUR", "0.00", "0.00", "0.00", 0],
        [days[2], "USD", "60.00", "0.00", "60.00", 1],
        [days[3], "EUR", "0.00", "0.00", "0.00", 0],
        [days[3], "USD", "0.00", "0.00", "0.00", 0],
    ]
    assert report.table("money_total").rows == [["EUR", "149.50", "0.00", "149.50", 1],
                                                 ["USD", "300.00", "0.00", "300.00", 5]]


def test_the_overviews_money_today_is_within_its_days_while_purchases_land(
        jeton_app: jeton.Jeton, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The overview reads the report over its days and over today in one snapshot: a purchase
    paid between the two is in both or in neither, never in today alone."""
    from jeton.services.reports import service

    chat = jeton_app.create_community("Overview", "ov")
    chat.create_member("alice")
    pack = chat.create_pack("Twenty", credits=20, price_minor=6000, currency="USD")
    _buy(chat, pack.id, "alice", "first")
    build_in = service.build_in
    calls: list[int] = []

    def paid_between(*args: object, **kwargs: object) -> object:
        if len(calls) == 1:  # after the days' report, before today's
            _buy(chat, pack.id, "alice", "meanwhile")
        calls.append(1)
        return build_in(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "build_in", paid_between)
    seen = chat.overview()
    assert [(m.currency, m.amount) for m in seen.money_days] == [("USD", "60.00")]
    assert [(m.currency, m.amount) for m in seen.money_today] == [("USD", "60.00")]
    monkeypatch.undo()
    assert [m.amount for m in chat.overview().money_today] == ["120.00"]


def test_a_subscription_row_shows_its_status_and_period_as_of_one_moment(
        j: jeton.Jeton, club: jeton.Community) -> None:
    """The owner's list of subscriptions reads each one's status and its paid period in one
    statement: a first payment landing meanwhile (the cycle granted and the subscription made
    active together) shows as both or as neither."""
    club.create_plan("Club monthly", plan_id="monthly", cycle="monthly", credits=100,
                     price_minor=1000)
    sub = club.subscribe("bob", "monthly", idempotency_key="bob-monthly", success_url=SUCCESS,
                         cancel_url=CANCEL)
    assert sub.checkout is not None
    checkout = sub.checkout
    with write_after(j.store, "FROM subscriptions JOIN plans", lambda: pay(j, checkout)) as paid:
        [row] = search_subscriptions(j.store, "chess").data
    assert len(paid) == 1  # the payment landed after the subscriptions were read
    assert (row.status, row.current_period_end) == ("incomplete", None)
    [row] = search_subscriptions(j.store, "chess").data
    assert row.status == "active"
    assert row.current_period_end == club.get_subscription(sub.id).current_period_end
