"""Charging over HTTP through `jeton.Client`: the catalog, check, charge (with a royalty split),
declines, metered use, rewards, and the owner's report as JSON and CSV.

A file library prices downloads per started KiB and pays 30 % to the uploader and a fixed fee
to an app store; a video call is metered per minute; members are rewarded for polls.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from jeton import InsufficientCredits, InvalidRequest, NotFound, Status
from jeton.core.catalog import load_catalog
from jeton.services.charging.results import ChargeReceipt

from .conftest import LiveServer

CATALOG = """
[services."files.download"]
name = "File download"
kind = "per_unit"
credits = 1              # one credit per started KiB
unit_size = 1024
unit = "byte"
splits = [
  { to = "party:uploader", share_bp = 3000 },   # 30 % to whoever uploaded the file
  { to = "account:appstore", fee = 1 },         # one credit to the app store
]

[services."video.minute"]
name = "Video call"
kind = "per_unit"
credits = 2
unit = "minute"

[rewards."poll.completed"]
name = "Poll completed"
credits = 5
limit = 1
per = "day"
"""

# Three mistakes, each reported with its line.
BROKEN = """
[services."chat.message"]
name = "Chat message"
credits = "one"

[services."video.minute"]
name = "Video call"
kind = "per_fortnight"
credits = 2

[rewards."poll.completed"]
credits = 5
limit = -1
per = "day"
"""


def shop(server: LiveServer) -> None:
    chat = server.client()
    chat.create_account("appstore")
    for member in ("reader", "uploader", "poor"):
        chat.create_member(member)
    chat.grant("reader", 100, idempotency_key="g-reader")
    chat.grant("poor", 2, idempotency_key="g-poor")
    loaded = chat.load_catalog(CATALOG)
    assert (loaded.version, loaded.changed, loaded.services, loaded.rewards) == (1, True, 2, 1)


def test_a_download_is_charged_with_a_royalty_to_the_uploader(live_server: LiveServer) -> None:
    shop(live_server)
    chat = live_server.client()

    asked = chat.check("reader", "files.download", 10_000, context={"uploader": "uploader"})
    assert asked.allowed
    assert asked.charge == 10  # ten started KiB
    assert asked.balance == 100
    assert chat.balance("reader").posted == 100  # a check writes nothing

    receipt = chat.charge("reader", "files.download", 10_000, context={"uploader": "uploader"},
                          idempotency_key="dl-1")
    assert receipt.charged == 10
    assert receipt.price.units == 10
    assert [(s.target, s.member or s.account, s.amount) for s in receipt.splits] == [
        ("party:uploader", "uploader", 3),  # 30 %
        ("account:appstore", "appstore", 1),
        ("account:revenue", "revenue", 6),
    ]
    assert receipt.balance_after == 90
    assert not receipt.replayed
    again = chat.charge("reader", "files.download", 10_000, context={"uploader": "uploader"},
                        idempotency_key="dl-1")
    assert again.replayed
    assert again.id == receipt.id
    assert chat.balance("uploader").posted == 3
    assert chat.account_balance("appstore").posted == 1
    assert chat.account_balance("revenue").posted == 6
    assert live_server.community.balance("reader") == chat.balance("reader")

    with pytest.raises(InvalidRequest, match="uploader"):  # the split's party is not named
        chat.charge("reader", "files.download", 10_000, idempotency_key="dl-2")
    with pytest.raises(NotFound) as unknown:
        chat.charge("reader", "files.nothing", idempotency_key="dl-3")
    assert unknown.value.status is Status.service_not_found


def test_a_member_short_of_credits_gets_a_402_with_balance_and_required(
        live_server: LiveServer) -> None:
    shop(live_server)
    chat = live_server.client()
    with pytest.raises(InsufficientCredits) as declined:
        chat.charge("poor", "video.minute", 5, idempotency_key="call-1")
    assert declined.value.extra["balance"] == 2
    assert declined.value.extra["required"] == 10
    assert "suggested_packs" in declined.value.extra
    assert chat.balance("poor").posted == 2

    answer = httpx.post(f"{live_server.base_url}/v1/charges", json={
        "member": "poor", "service": "video.minute", "quantity": 5},
        headers={"Authorization": f"Bearer {live_server.api_key}",
                 "Idempotency-Key": "call-2"})
    assert answer.status_code == 402
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert (problem["code"], problem["balance"], problem["required"]) == (
        "insufficient_credits", 2, 10)
    assert isinstance(problem["suggested_packs"], list)
    assert {"kind": "buy_credits", "credits": 8} in problem["fixes"]

    # The same key may be sent again once the member has topped up.
    chat.grant("poor", 20, idempotency_key="top-up")
    assert chat.charge("poor", "video.minute", 5, idempotency_key="call-1").charged == 10

    asked = chat.check("poor", "video.minute", 50)
    assert not asked.allowed
    assert asked.status == "insufficient_credits"


def test_a_metered_call_holds_the_estimate_and_captures_what_was_used(
        live_server: LiveServer) -> None:
    shop(live_server)
    chat = live_server.client()
    session = chat.start_metered("reader", "video.minute", 10, idempotency_key="call-1")
    assert session.held == 20
    assert session.hold_id == session.id
    assert chat.balance("reader").available == 80
    assert chat.get_hold(session.id).status == "active"

    done = chat.finish_metered(session.id, 6, idempotency_key="call-1-end")
    assert (done.captured, done.released) == (12, 8)
    assert chat.balance("reader").available == 88
    replay = chat.finish_metered(session.id, 6, idempotency_key="call-1-end")
    assert replay.replayed
    with pytest.raises(InsufficientCredits):
        chat.start_metered("poor", "video.minute", 10, idempotency_key="call-2")
    with pytest.raises(NotFound):
        chat.finish_metered("01900000-0000-7000-8000-000000000000", 1,
                            idempotency_key="call-3")


def test_a_metered_start_is_one_write_and_replays_as_the_first(live_server: LiveServer) -> None:
    """The start's answer is kept with its ledger write (decision 0105): the HTTP layer keeps no
    copy of its own, a replay answers the first, flagged, and another body under the key is a
    conflict."""
    shop(live_server)
    with live_server.jeton.store.read() as conn:
        kept = conn.exec_driver_sql("SELECT count(*) FROM http_idempotency").scalar_one()
    headers = {"Authorization": f"Bearer {live_server.api_key}", "Idempotency-Key": "call-9"}
    body = {"member": "reader", "service": "video.minute", "estimated_quantity": 5}
    first = httpx.post(f"{live_server.base_url}/v1/metered", headers=headers, json=body)
    again = httpx.post(f"{live_server.base_url}/v1/metered", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 201), first.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    other = httpx.post(f"{live_server.base_url}/v1/metered", headers=headers,
                       json={**body, "estimated_quantity": 6})
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_conflict")
    with live_server.jeton.store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM http_idempotency").scalar_one() == kept
    assert live_server.client().balance("reader").pending == 10  # one hold: 5 minutes at 2


def test_rewards_are_posted_until_their_limit(live_server: LiveServer) -> None:
    shop(live_server)
    chat = live_server.client()
    first = chat.reward("poor", "poll.completed", idempotency_key="poll-1")
    assert (first.status, first.credits, first.balance_after) == ("ok", 5, 7)
    second = chat.reward("poor", "poll.completed", idempotency_key="poll-2")
    assert (second.status, second.credits, second.left) == ("limit_exceeded", 0, 0)
    assert chat.balance("poor").posted == 7


def test_catalog_errors_come_back_with_their_lines_and_nothing_is_loaded(
        live_server: LiveServer) -> None:
    shop(live_server)
    chat = live_server.client()
    with pytest.raises(InvalidRequest) as refused:
        chat.load_catalog(BROKEN)
    assert refused.value.status is Status.catalog_invalid
    errors = refused.value.extra["errors"]
    assert len(errors) >= 3
    assert {e["line"] for e in errors} >= {4, 8}
    assert all(set(e) == {"line", "where", "reason"} for e in errors)

    answer = httpx.put(f"{live_server.base_url}/v1/catalog",
                       json={"catalog": BROKEN, "format": "toml"},
                       headers={"Authorization": f"Bearer {live_server.api_key}"})
    assert answer.status_code == 422
    assert answer.json()["code"] == "catalog_invalid"
    assert answer.json()["errors"] == errors

    unreadable = httpx.put(f"{live_server.base_url}/v1/catalog",
                           json={"catalog": "services: [", "format": "yaml"},
                           headers={"Authorization": f"Bearer {live_server.api_key}"})
    assert unreadable.status_code == 422
    assert unreadable.json()["errors"][0]["line"] >= 1

    assert chat.catalog().version == 1
    # A dry run compares and writes nothing; the active catalog again changes nothing.
    trial = chat.load_catalog(CATALOG.replace("credits = 2", "credits = 3"), dry_run=True)
    assert (trial.dry_run, trial.updated) == (True, ["video.minute"])
    assert chat.load_catalog(CATALOG).changed is False
    # A catalog built in Python travels as the file it stands for.
    built = load_catalog(CATALOG, "toml").catalog
    assert built is not None
    assert chat.set_catalog(built).changed is False
    info = chat.catalog()
    assert info.version == 1
    assert [s.code for s in info.services] == ["files.download", "video.minute"]
    assert [r.code for r in info.rewards] == ["poll.completed"]


def test_the_report_as_json_and_one_table_as_csv(live_server: LiveServer) -> None:
    shop(live_server)
    chat = live_server.client()
    chat.charge("reader", "files.download", 1024, context={"uploader": "uploader"},
                idempotency_key="dl-1")
    chat.charge("reader", "video.minute", 2, idempotency_key="call-1")

    report = chat.report()
    assert report.community_id == live_server.community_id
    assert report.until - report.since == timedelta(days=30)
    consumed = report.table("consumed_by_service")
    assert {row[0]: row[1] for row in consumed.rows} == {"files.download": 1,
                                                         "video.minute": 4}
    assert report == live_server.community.report()

    text = chat.report_csv("consumed_by_service")
    lines = text.splitlines()
    assert lines[0] == ",".join(consumed.columns)
    assert len(lines) == 1 + len(consumed.rows)
    assert text == consumed.to_csv()

    headers = {"Authorization": f"Bearer {live_server.api_key}"}
    answer = httpx.get(f"{live_server.base_url}/v1/reports/per_day.csv", headers=headers,
                       params={"since": report.since.isoformat()})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="per_day-')
    with pytest.raises(NotFound):
        chat.report_csv("no_such_table")
    bad = httpx.get(f"{live_server.base_url}/v1/reports", headers=headers,
                    params={"since": "2024-02-01", "until": "2024-01-01"})
    assert bad.status_code == 422
    reader = live_server.client(chat.create_api_key("reports", ["reports:read"]).token)
    assert reader.report().tables
    with pytest.raises(Exception) as refused:
        live_server.client(chat.create_api_key("members", ["members:read"]).token).report()
    assert getattr(refused.value, "status", None) is Status.scope_missing


def test_a_charge_answers_with_the_json_kept_under_its_key(live_server: LiveServer) -> None:
    """The answer is serialized once: the bytes sent are those the ledger kept with the key,
    and the answer is what the receipt's model says it is."""
    shop(live_server)
    headers = {"Authorization": f"Bearer {live_server.api_key}", "Idempotency-Key": "once"}
    body = {"member": "reader", "service": "files.download", "quantity": 10_000,
            "context": {"uploader": "uploader"}}
    first = httpx.post(f"{live_server.base_url}/v1/charges", headers=headers, json=body)
    assert first.status_code == 201, first.text
    assert first.headers["content-type"] == "application/json"
    with live_server.jeton.store.read() as conn:
        kept = conn.exec_driver_sql(
            "SELECT response_json FROM idempotency_keys WHERE key = 'once'").scalar_one()
    assert first.content == kept.encode()
    receipt = ChargeReceipt.model_validate_json(first.content)
    assert receipt.model_dump(mode="json") == first.json()
    assert (receipt.charged, receipt.replayed) == (10, False)
    again = httpx.post(f"{live_server.base_url}/v1/charges", headers=headers, json=body)
    assert again.status_code == 201
    assert again.json() == {**first.json(), "replayed": True}
