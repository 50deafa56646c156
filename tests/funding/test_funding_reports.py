"""The owner's report counts money taken, packs sold and recharges."""

from __future__ import annotations

import jeton
from jeton.core.clock import ManualClock
from jeton.store.engine import Store


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
    money = report.table("money_per_day").rows
    assert [row[1:] for row in money] == [["USD", 6000, 0, 1]]
    assert report.table("packs_sold").rows == [["Twenty", "pack", 1, 20, "USD", 6000]]
    assert report.table("recharges").rows == []
    assert report.table("money_per_day").to_csv().startswith("day,currency,taken_minor")
