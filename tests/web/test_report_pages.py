"""Reports in the dashboard: a chosen range of days, charts with their figures as tables, and
every table as CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk, signed_in, text_of

pytestmark = pytest.mark.anyio
CHART_DATA = re.compile(r'<script type="application/json" id="chart-([a-z_]+)">(.*?)</script>')


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)
    chat = j.community("chat")
    for member in ("alice", "bob"):
        chat.create_member(member)
    chat.grant("alice", 100, idempotency_key="a1", source="signup")
    chat.grant("bob", 40, idempotency_key="b1", source="promo",
               expires_at=clock.now() + timedelta(days=2))
    clock.advance(days=1)
    chat.spend("alice", 30, idempotency_key="a2", service="chat.message")
    chat.spend("bob", 10, idempotency_key="b2", service="files.download")
    clock.advance(days=2)
    chat.run_expiry()
    return j


async def test_reports_show_charts_with_their_figures_as_tables(owner: Desk,
                                                                clock: ManualClock) -> None:
    page = await owner.get("/admin/reports")
    assert page.status_code == 200
    text = text_of(page)
    today = clock.now().date()
    assert f'value="{(today - timedelta(days=29)).isoformat()}"' in page.text
    assert f'value="{today.isoformat()}"' in page.text
    assert "Issued 140 CREDIT" in text
    assert "Consumed 40 CREDIT" in text
    assert "Expired (breakage) 30 CREDIT" in text
    charts = {key: json.loads(data) for key, data in CHART_DATA.findall(page.text)}
    assert {"per_day", "issued_by_source", "consumed_by_service"} <= set(charts)
    per_day = charts["per_day"]
    assert per_day["type"] == "line"
    assert len(per_day["labels"]) == 30
    assert [s["label"] for s in per_day["series"]] == ["Issued", "Consumed", "Expired"]
    by_service = charts["consumed_by_service"]
    assert dict(zip(by_service["labels"], by_service["values"], strict=True)) == {
        "chat.message": 30, "files.download": 10}
    assert charts["issued_by_source"]["labels"] == ["signup (free)", "promo (free)"]
    # Every chart has its table, and every table a CSV link for the same range.
    assert page.text.count("<caption>") == len(re.findall(r"<table>", page.text))
    assert page.text.count('<canvas data-chart="chart-') == len(charts)
    assert "Top members by credits consumed" in text
    assert "Outstanding paid credits (the float)" in text
    assert "/admin/reports/top_members.csv?since=" in page.text
    assert 'src="/static/vendor/chart.umd.min.js"' in page.text
    assert "<script>" not in page.text  # no inline script: the CSP forbids it


async def test_a_range_of_days_is_both_days_included(owner: Desk, clock: ManualClock) -> None:
    day = (clock.now() - timedelta(days=2)).date().isoformat()
    page = await owner.get(f"/admin/reports?since={day}&until={day}")
    charts = {key: json.loads(data) for key, data in CHART_DATA.findall(page.text)}
    assert charts["per_day"]["labels"] == [day]
    assert charts["per_day"]["series"][1]["values"] == [40]


async def test_bad_ranges_are_explained(owner: Desk) -> None:
    backwards = await owner.get("/admin/reports?since=2026-02-01&until=2026-01-01")
    assert backwards.status_code == 400
    assert "The first day must not be after the last day." in text_of(backwards)
    assert 'aria-invalid="true"' in backwards.text
    too_long = await owner.get("/admin/reports?since=2024-01-01&until=2026-01-01")
    assert too_long.status_code == 400
    assert "A report covers at most 366 days." in text_of(too_long)
    garbled = await owner.get("/admin/reports?since=yesterday")
    assert garbled.status_code == 400
    assert "Enter a date as YYYY-MM-DD." in text_of(garbled)
    csv_refused = await owner.get("/admin/reports/per_day.csv?since=2026-02-01&until=2026-01-01")
    assert csv_refused.status_code == 400


async def test_every_table_downloads_as_csv(owner: Desk, clock: ManualClock) -> None:
    today = clock.now().date()
    first = (today - timedelta(days=3)).isoformat()
    response = await owner.get(f"/admin/reports/per_day.csv?since={first}&until={today}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="chat-per_day-{first}-{today.isoformat()}.csv"')
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["day", "issued", "consumed", "expired"]
    assert len(rows) == 1 + 4
    assert sum(int(r[1]) for r in rows[1:]) == 140
    page = await owner.get("/admin/reports")
    for key in re.findall(r"/admin/reports/([a-z_]+)\.csv", page.text):
        table = await owner.get(f"/admin/reports/{key}.csv")
        assert table.status_code == 200, key
        assert table.text.splitlines()[0], key
    assert (await owner.get("/admin/reports/nothing.csv")).status_code == 404


async def test_support_reads_reports(store: Store, clock: ManualClock, staff: Staff,
                                     j: jeton.Jeton) -> None:
    async with signed_in(store, clock, staff.support, staff.password, j) as support:
        assert (await support.get("/admin/reports")).status_code == 200
        assert (await support.get("/admin/reports/float.csv")).status_code == 200


def _buy(chat: jeton.Community, pack_id: str, member: str, key: str) -> None:
    checkout = chat.buy_pack(member, pack_id, provider="offline", idempotency_key=key,
                             success_url="https://chat.example/ok",
                             cancel_url="https://chat.example/no")
    chat.record_offline_payment(checkout.purchase_id, reference=key)


async def test_money_is_per_day_in_major_units_with_a_total(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton) -> None:
    chat = j.community("chat")
    pack = chat.create_pack("Twenty", credits=20, price_minor=6000, currency="USD")
    first = clock.now().date()
    for n, member in enumerate(("alice", "bob", "alice", "bob")):
        _buy(chat, pack.id, member, f"buy-{n}")
        clock.advance(hours=1)
    clock.advance(days=3)
    _buy(chat, pack.id, "alice", "buy-late")
    last = clock.now().date()
    query = f"since={first.isoformat()}&until={last.isoformat()}"
    async with signed_in(store, clock, staff.owner, staff.password, j) as owner:
        page = await owner.get(f"/admin/reports?{query}")
        csv_text = (await owner.get(f"/admin/reports/money_per_day.csv?{query}")).text
    text = text_of(page)
    assert "Revenue (USD, net of refunds) $300.00" in text
    chart = {key: json.loads(data) for key, data in CHART_DATA.findall(page.text)}[
        "money_per_day"]
    assert chart["type"] == "bar"
    assert chart["labels"] == [(first + timedelta(days=n)).isoformat() for n in range(4)]
    assert chart["series"] == [{"label": "Taken (USD)", "values": [240.0, 0, 0, 60.0]}]
    # The table folds the two empty days into one line; the CSV keeps every day.
    quiet = f"{(first + timedelta(days=1)).isoformat()} to {(first + timedelta(days=2))}"
    assert f"{quiet}: no activity" in text
    assert f"{first.isoformat()} USD $240.00 $0.00 $240.00 4" in text
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0] == ["day", "currency", "taken", "refunded", "net", "purchases"]
    assert [r[0] for r in rows[1:]] == chart["labels"]
    assert rows[1][1:] == ["USD", "240.00", "0.00", "240.00", "4"]
