"""The whole API through `jeton.Client` against a real server, on SQLite and on PostgreSQL.

The scenario is what a host app does: register members, give them credits, charge them (with a
royalty to an uploader and a fee to an app store), meter a video call with a hold, let members
send each other credits, correct a mistake with a reversal, and read balances, lots and
statements. After each step the balances are what a person would expect.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import jeton
from jeton import (
    Community,
    Conflict,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    JetonError,
    NotFound,
    SpendRequest,
    Split,
    Status,
)
from jeton.client import create_community

from .conftest import LiveServer


def run_scenario(server: LiveServer) -> None:
    chat = server.client()
    assert chat.info().id == server.community_id
    assert [a.code for a in chat.assets()] == ["CREDIT"]
    chat.create_account("appstore")

    alice = chat.create_member("alice", name="Alice", email="alice@example.org",
                               metadata={"tier": "gold"})
    assert alice.name == "Alice"
    assert chat.create_member("alice").created_at == alice.created_at  # idempotent
    chat.create_member("bob", name="Bob")
    chat.create_member("carol", name="Carol the uploader")
    assert chat.get_member("bob").name == "Bob"

    # Credits in: a paid pack with a cost basis, and free welcome credits that expire.
    paid = chat.grant("alice", 100, idempotency_key="pack-1", paid=True, cost_minor=500,
                      cost_currency="USD", source="pack")
    assert paid.balance_after == 100
    soon = datetime.now(UTC) + timedelta(days=7)
    chat.grant("alice", 20, idempotency_key="welcome-alice", expires_at=soon, memo="welcome")
    chat.grant("bob", 10, idempotency_key="welcome-bob")
    lots = chat.lots("alice")
    assert [(lot.amount, lot.paid) for lot in lots] == [(20, False), (100, True)]  # expiring first

    # A download: 12 credits, 30% royalty to the uploader (3), 1 credit to the app store.
    download = chat.spend("alice", 12, idempotency_key="dl-1", service="files.download",
                          splits=[Split(member="carol", amount=3), {"account": "appstore",
                                                                    "amount": 1}])
    assert download.balance_after == 108
    assert not download.replayed
    again = chat.spend("alice", 12, idempotency_key="dl-1", service="files.download",
                       splits=[Split(member="carol", amount=3), {"account": "appstore",
                                                                 "amount": 1}])
    assert again.replayed
    assert again.id == download.id
    assert chat.balance("carol").posted == 3
    assert chat.account_balance("appstore").posted == 1
    assert chat.account_balance("revenue").posted == 8

    # Declines come back as the very exceptions of the in-process API, with their fields.
    with pytest.raises(InsufficientCredits) as declined:
        chat.spend("bob", 50, idempotency_key="too-much")
    assert declined.value.status is Status.insufficient_credits
    assert declined.value.extra["balance"] == 10
    assert declined.value.extra["required"] == 50
    with pytest.raises(IdempotencyConflict):
        chat.spend("alice", 13, idempotency_key="dl-1")
    with pytest.raises(NotFound) as missing:
        chat.get_member("nobody")
    assert missing.value.status is Status.member_not_found
    with pytest.raises(InvalidRequest):
        chat.spend("alice", 0, idempotency_key="zero")

    # A batch of chat messages: one declined item does not stop the others.
    items = chat.spend_batch([
        SpendRequest(member="alice", amount=1, idempotency_key="msg-1", service="chat.message"),
        {"member": "bob", "amount": 999, "idempotency_key": "msg-2"},
        {"member": "alice", "amount": 1, "idempotency_key": "msg-3"},
    ])
    assert [i.status for i in items] == ["ok", "insufficient_credits", "ok"]
    assert chat.balance("alice").posted == 106

    # Metered video: hold 10, capture 6 (not final), then 2 final; the rest goes back.
    hold = chat.hold("bob", 10, idempotency_key="call-1", service="video.minute")
    assert chat.balance("bob").available == 0
    partial = chat.capture(hold.id, 6, idempotency_key="call-1-min-6", final=False)
    assert partial.status == "active"
    assert partial.captured == 6
    done = chat.capture(hold.id, 2, idempotency_key="call-1-end")
    assert done.status == "captured"
    assert done.voided == 2
    assert chat.get_hold(hold.id).captured == 8
    assert chat.balance("bob").available == 2
    with pytest.raises(Conflict) as closed:
        chat.void(hold.id, idempotency_key="call-1-void")
    assert closed.value.status is Status.hold_not_active
    other = chat.hold("alice", 5, idempotency_key="call-2")
    assert chat.void(other.id, idempotency_key="call-2-void").status == "voided"

    # Members send credits; a mistaken transfer is reversed, lots and all.
    gift = chat.transfer("alice", "bob", 5, idempotency_key="gift-1", fee=1, memo="thanks")
    assert chat.balance("bob").posted == 7
    back = chat.reverse(gift.id, idempotency_key="undo-gift-1", memo="sent by mistake")
    assert back.reverses_id == gift.id
    assert chat.balance("bob").posted == 2
    assert chat.get_transfer(gift.id).kind == "transfer"
    with pytest.raises(Conflict):
        chat.reverse(gift.id, idempotency_key="undo-gift-1-again")

    # A credit line lets a member go below zero.
    line = chat.set_credit_line("bob", -5)
    assert line.available == 7

    # Statements page newest first, with running balances.
    first = chat.statement("alice", limit=3)
    assert first.has_more
    assert len(first.data) == 3
    rest = chat.statement("alice", limit=50, starting_after=first.next_cursor)
    lines = first.data + rest.data
    assert not rest.has_more
    assert lines[0].balance_after == chat.balance("alice").posted
    assert {line.transfer_id for line in lines} >= {paid.id, download.id}

    # Members list and search, paged.
    page = chat.list_members(limit=2)
    assert [m.id for m in page.data] == ["alice", "bob"]
    assert page.has_more
    assert [m.id for m in chat.list_members(starting_after=page.next_cursor).data] == ["carol"]
    assert [m.id for m in chat.list_members(search="UPLOAD").data] == ["carol"]

    # The HTTP view and the in-process view are one ledger.
    assert server.community.balance("alice") == chat.balance("alice")


def test_client_runs_the_whole_api_on_sqlite(live_server: LiveServer) -> None:
    run_scenario(live_server)


@pytest.mark.postgres
def test_client_runs_the_whole_api_on_postgres(pg_live_server: LiveServer) -> None:
    run_scenario(pg_live_server)


def test_a_key_never_sees_another_communitys_objects(live_server: LiveServer) -> None:
    mine = live_server.client()
    mine.create_member("alice")
    grant = mine.grant("alice", 5, idempotency_key="g")
    theirs, _ = live_server.new_community("other")
    for call in (lambda: theirs.get_member("alice"), lambda: theirs.get_transfer(grant.id),
                 lambda: theirs.balance("alice"),
                 lambda: theirs.spend("alice", 1, idempotency_key="steal")):
        with pytest.raises(NotFound):
            call()
    # The same idempotency key in another community is another key.
    theirs.create_member("alice")
    assert not theirs.grant("alice", 5, idempotency_key="g").replayed


def test_api_keys_are_shown_once_scoped_and_revocable(live_server: LiveServer) -> None:
    admin = live_server.client()
    made = admin.create_api_key("reader", ["members:read"], idempotency_key="key-1")
    assert made.token is not None
    assert made.token.startswith("jtk_live_")
    replay = admin.create_api_key("reader", ["members:read"], idempotency_key="key-1")
    assert replay.id == made.id
    assert replay.token is None
    assert made.token not in httpx.get(f"{live_server.base_url}/v1/api_keys", headers={
        "Authorization": f"Bearer {live_server.api_key}"}).text

    reader = live_server.client(made.token)
    admin.create_member("alice")
    assert reader.get_member("alice").id == "alice"
    with pytest.raises(JetonError) as refused:
        reader.create_member("bob")
    assert refused.value.status is Status.scope_missing
    with pytest.raises(JetonError) as escalation:
        live_server.client(admin.create_api_key("keys", ["keys:write"]).token).create_api_key(
            "sneaky", ["admin"])
    assert escalation.value.status is Status.scope_missing

    listed = admin.list_api_keys()
    assert made.id in {k.id for k in listed.data}
    assert admin.revoke_api_key(made.id).revoked_at is not None
    with pytest.raises(JetonError) as revoked:
        reader.get_member("alice")
    assert revoked.value.status is Status.unauthenticated


def test_operator_token_makes_communities_and_nothing_else(live_server: LiveServer) -> None:
    operator = jeton.Client(live_server.base_url, live_server.operator_token)
    try:
        with pytest.raises(JetonError) as refused:
            operator.get_member("alice")
        assert refused.value.status is Status.scope_missing
    finally:
        operator.close()
    with pytest.raises(JetonError) as not_operator:
        create_community(live_server.base_url, live_server.api_key, "sneaky", "Sneaky")
    assert not_operator.value.status is Status.scope_missing
    with pytest.raises(Conflict):  # an existing community is not made again
        live_server.new_community(live_server.community_id)


def test_health_metrics_and_offline_docs(live_server: LiveServer) -> None:
    base = live_server.base_url
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "database": "ok"}
    chat = live_server.client()
    chat.create_member("alice")
    chat.grant("alice", 1, idempotency_key="g")
    with pytest.raises(InsufficientCredits):
        chat.spend("alice", 5, idempotency_key="s")
    chat.spend("alice", 1, idempotency_key="s")
    metrics = httpx.get(f"{base}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'jeton_http_requests_total{method="POST",route="/v1/spends",status="201"} 1.0' in text
    assert 'jeton_declines_total{code="insufficient_credits"} 1.0' in text
    assert 'jeton_charges_total{kind="spend"} 1.0' in text
    assert "jeton_http_request_duration_seconds_bucket" in text
    assert "jeton_recharges_total" in text
    assert "jeton_webhook_delivery_failures_total" in text

    page = httpx.get(f"{base}/docs")
    assert page.status_code == 200
    # Every script, style and icon the page names is served by us: nothing from the internet.
    for url in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
                "/docs/assets/favicon.svg", "/openapi.json"):
        assert url in page.text
        assert httpx.get(base + url).status_code == 200
    assert "https://" not in page.text.replace("https://swagger.io", "")
    schema = httpx.get(f"{base}/openapi.json").json()
    assert schema["openapi"].startswith("3.1")


# The ledger's methods, all served by the API: each must be on the Client.
LEDGER_METHODS = {
    "info", "create_asset", "assets", "create_account", "create_member", "get_member",
    "list_members", "set_credit_line", "grant", "spend", "spend_batch", "transfer", "hold",
    "capture", "void", "get_hold", "reverse", "balance", "account_balance", "lots", "statement",
    "get_transfer",
}

# The funding services' methods, all served by the API (docs/api/packs.md ... settings.md).
FUNDING_METHODS = {
    "create_pack", "list_packs", "get_pack", "set_pack_active", "buy_pack",
    "record_offline_payment", "get_purchase", "list_purchases", "set_payment_method",
    "refund_purchase", "refund_as_credits", "refund_charge", "create_plan", "list_plans",
    "subscribe", "cancel_subscription", "get_subscription", "list_subscriptions",
    "set_auto_recharge", "get_auto_recharge", "set_signup_bonus", "get_signup_bonus",
    "staff_grant", "staff_charge", "set_role_limit", "set_transfer_limits",
    "get_transfer_limits", "create_coupon", "get_coupon", "redeem_coupon",
    "set_affiliate_program", "create_affiliate_codes", "grant_class", "grant_key",
    "member_holdings", "set_billing_settings", "billing_settings", "issue_bill", "get_bill",
    "list_bills", "pay_bill", "bill_csv", "create_lease", "end_lease", "get_lease",
    "list_leases", "bind_lease_staff", "set_area_service", "area_report",
}
# Charging, reports, webhooks and member links, all served by the API (docs/api/catalog.md,
# charges.md, metered.md, rewards.md, reports.md, webhooks.md, portal-links.md).
CHARGING_METHODS = {
    "set_catalog", "load_catalog", "catalog", "check", "charge", "start_metered",
    "finish_metered", "reward", "report", "create_member_link", "create_webhook_endpoint",
    "list_webhook_endpoints", "get_webhook_endpoint", "update_webhook_endpoint",
    "delete_webhook_endpoint", "rotate_webhook_secret", "list_events", "get_event",
    "list_webhook_deliveries", "get_webhook_delivery", "redeliver_webhook",
    "set_low_balance_threshold", "low_balance_alert",
}
# Gamification, served by the API (docs/api/achievements.md, leaderboards.md).
GAMIFICATION_METHODS = {"achievements", "leaderboard", "achievement_awards", "achievement_rules"}
# Community methods that are deliberately not over HTTP, with the reason (README.md lists
# them: "A first charge, in-process").
IN_PROCESS_ONLY = {
    "run_funding_jobs": "jobs run in `jeton serve` / `jeton worker`, not on a client's request",
    "run_expiry": "expiry is a job too",
    "award_achievements": "awarding is a job too (`achievements.award`)",
    "add_funding_source": "a funding source is Python code that runs inside the server's "
                          "process, beside the wallet; a remote client has none to give",
}
# Client methods a Community has not, with the reason.
CLIENT_ONLY = {
    "close": "the client holds a connection pool",
    "report_csv": "the report's tables as the API's CSV download",
    "create_api_key": "a key manages its own community's keys over HTTP; in-process, "
                      "ApiKeys (and `jeton keys`) do it",
    "list_api_keys": "as create_api_key",
    "revoke_api_key": "as create_api_key",
    "own_key_budget": "the budget of the key the client calls with; in-process there is none",
}


def _public(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items()
            if not name.startswith("_") and (callable(value) or isinstance(value, property))}


def test_client_and_community_differ_only_where_the_readme_says() -> None:
    # The README once said "the methods are the same" of `jeton.open(...)`'s Jeton and the
    # Client; the Client is a Community over HTTP, and these are the only differences.
    assert _public(Community) - _public(jeton.Client) == set(IN_PROCESS_ONLY)
    assert _public(jeton.Client) - _public(Community) == set(CLIENT_ONLY)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in [*IN_PROCESS_ONLY, *CLIENT_ONLY]:
        assert f"`{name}`" in readme, name
    assert not hasattr(jeton.Client, "create_community")


def test_client_mirrors_the_community_api() -> None:
    """Same method names, parameters (names, kinds, defaults) and result types.

    Every method the Client has must match Community's exactly. Community methods of other
    services (packs, catalog, ...) join the Client when their routers do (src/jeton/api/docs.md).
    """
    shared = [name for name, _ in inspect.getmembers(Community, inspect.isfunction)
              if not name.startswith("_") and hasattr(jeton.Client, name)]
    assert set(shared) >= LEDGER_METHODS
    assert set(shared) >= FUNDING_METHODS
    assert set(shared) >= CHARGING_METHODS
    assert set(shared) >= GAMIFICATION_METHODS
    assert not set(shared) & set(IN_PROCESS_ONLY)
    for name in shared:
        local_sig = inspect.signature(getattr(Community, name))
        remote_sig = inspect.signature(getattr(jeton.Client, name))
        assert list(local_sig.parameters) == list(remote_sig.parameters), name
        for param, local in local_sig.parameters.items():
            other = remote_sig.parameters[param]
            assert (local.kind, local.default) == (other.kind, other.default), (name, param)
        assert local_sig.return_annotation == remote_sig.return_annotation, name
