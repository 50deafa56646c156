"""`GET /v1/reports/overview`: the dashboard home's figures over HTTP, as the report counts."""

from __future__ import annotations

from datetime import timedelta

from .conftest import LiveServer


def test_overview_over_http_is_the_report_summed(live_server: LiveServer) -> None:
    chat = live_server.client()
    local = live_server.community
    chat.create_member("alice")
    pack = local.create_pack("Twenty", credits=20, price_minor=6000, currency="USD")
    checkout = local.buy_pack("alice", pack.id, provider="offline", idempotency_key="buy",
                              success_url="https://chat.example/ok",
                              cancel_url="https://chat.example/no")
    local.record_offline_payment(checkout.purchase_id, reference="check 1")
    chat.spend("alice", 4, idempotency_key="s1", service="chat.message")

    over_http = chat.overview()
    assert over_http == local.overview()
    assert [(m.currency, m.amount) for m in over_http.money_today] == [("USD", "60.00")]
    assert over_http.credits_sold == 20
    assert over_http.credits_consumed == 4
    assert over_http.float_credits == 16
    assert [(m.currency, m.amount) for m in over_http.float_money] == [("USD", "48.00")]
    assert over_http.members_active == 1
    report = chat.report(since=over_http.today - timedelta(days=over_http.days - 1))
    assert report.table("money_total").rows == [["USD", "60.00", "0.00", "60.00", 1]]
    assert sum(r[2] for r in report.table("per_day").rows) == over_http.credits_consumed
