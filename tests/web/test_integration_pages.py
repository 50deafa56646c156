"""Webhook endpoints and API keys in the dashboard: secrets shown once, disabling and revoking,
every delivery attempt visible; owners only."""

from __future__ import annotations

import re

import httpx
import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.api_keys import ApiKeys
from jeton.services.access.audit import list_audit
from jeton.services.events import endpoints as webhooks
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk, hidden_fields, signed_in, text_of

pytestmark = pytest.mark.anyio
PUBLIC_ADDRESS = "93.184.216.34"


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)

    def receiver(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="down for maintenance")

    webhooks.install(j, resolver=lambda host, port: [PUBLIC_ADDRESS], jitter_ratio=0.0,
                     transport=httpx.MockTransport(receiver))
    return j


def actions(store: Store) -> list[str]:
    return [entry.action for entry in list_audit(store, "chat")]


# ---- webhooks ----

async def test_endpoint_secret_is_shown_once(owner: Desk, j: jeton.Jeton, store: Store) -> None:
    form = hidden_fields(await owner.get("/admin/webhooks/new"))
    data = {**form, "url": "https://hooks.example.org/jeton", "description": "Forum",
            "type:balance.low": "1", "type:member.created": "1"}
    created = await owner.post("/admin/webhooks", data)
    assert created.status_code == 200
    secret = re.search(r'<code id="endpoint-secret">(whsec_[^<]+)</code>', created.text)
    assert secret is not None
    again = await owner.post("/admin/webhooks", data)  # the same form sent twice
    assert "whsec_" not in again.text
    assert "its secret was shown then and is not shown again" in text_of(again)
    endpoints = j.community("chat").list_webhook_endpoints().data
    assert [(e.url, e.event_types) for e in endpoints] == [
        ("https://hooks.example.org/jeton", ["balance.low", "member.created"])]
    listing = text_of(await owner.get("/admin/webhooks"))
    assert "https://hooks.example.org/jeton" in listing
    assert "enabled" in listing
    assert actions(store).count("webhook_endpoint.created") == 1


async def test_a_refused_url_is_explained(owner: Desk, j: jeton.Jeton) -> None:
    form = hidden_fields(await owner.get("/admin/webhooks/new"))
    page = await owner.post("/admin/webhooks", {**form, "url": "ftp://files.example.org/"})
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    empty = await owner.post("/admin/webhooks", {**form, "url": ""})
    assert "A URL is needed." in text_of(empty)
    assert j.community("chat").list_webhook_endpoints().data == []


async def test_deliveries_and_their_attempts_are_shown(owner: Desk, j: jeton.Jeton,
                                                       clock: ManualClock,
                                                       store: Store) -> None:
    chat = j.community("chat")
    endpoint = chat.create_webhook_endpoint("https://hooks.example.org/jeton",
                                            event_types=["balance.depleted"])
    chat.create_member("alice")
    chat.grant("alice", 5, idempotency_key="g1")
    chat.spend("alice", 5, idempotency_key="s1")
    wh = webhooks.service(j)
    wh.fan_out("chat")
    wh.deliver_due("chat")
    page = await owner.get(f"/admin/webhooks/{endpoint.id}")
    text = text_of(page)
    assert "balance.depleted" in text
    assert "pending" in text
    assert "HTTP 503" in text
    delivery = chat.list_webhook_deliveries().data[0]
    detail = text_of(await owner.get(f"/admin/webhooks/deliveries/{delivery.id}"))
    assert "HTTP 503" in detail
    assert "down for maintenance" in detail
    resent = await owner.post(f"/admin/webhooks/deliveries/{delivery.id}/redeliver")
    assert resent.headers["location"].endswith("notice=delivery_resent")
    assert "webhook_delivery.resent" in actions(store)


async def test_disable_and_enable_an_endpoint(owner: Desk, j: jeton.Jeton, store: Store) -> None:
    endpoint = j.community("chat").create_webhook_endpoint("https://hooks.example.org/jeton")
    done = await owner.post(f"/admin/webhooks/{endpoint.id}/disable")
    assert done.headers["location"] == (f"/admin/webhooks/{endpoint.id}"
                                        "?notice=endpoint_disabled")
    await owner.post(f"/admin/webhooks/{endpoint.id}/disable")  # again: nothing more
    assert not j.community("chat").get_webhook_endpoint(endpoint.id).enabled
    assert actions(store).count("webhook_endpoint.disabled") == 1
    page = await owner.get(done.headers["location"])
    assert "The endpoint was disabled" in page.text
    assert ">Enable</button>" in page.text
    await owner.post(f"/admin/webhooks/{endpoint.id}/enable")
    assert j.community("chat").get_webhook_endpoint(endpoint.id).enabled


# ---- API keys ----

async def test_api_key_token_is_shown_once_and_revoking_needs_a_confirmation(
        owner: Desk, store: Store, clock: ManualClock) -> None:
    form = hidden_fields(await owner.get("/admin/api-keys/new"))
    data = {**form, "name": "forum backend", "scope:members:read": "1",
            "scope:charges:write": "1"}
    created = await owner.post("/admin/api-keys", data)
    assert created.status_code == 200
    token = re.search(r'<code id="api-token">(jtk_live_[^<]+)</code>', created.text)
    assert token is not None
    keys = ApiKeys(store, clock)
    holder = keys.authenticate(token.group(1))
    assert holder is not None
    assert holder.community_id == "chat"
    again = await owner.post("/admin/api-keys", data)
    assert "jtk_live_" not in again.text.replace("jtk_live_…", "")
    assert "cannot be shown again" in text_of(again)
    listing = await owner.get("/admin/api-keys")
    text = text_of(listing)
    assert "forum backend" in text
    assert f"staff:{'owner@example.org'}" in text
    assert "charges:write" in text
    assert "live" in text

    key_id = keys.list("chat").data[0].id
    confirm = await owner.get(f"/admin/api-keys/{key_id}/revoke")
    assert "Revoke “forum backend”?" in text_of(confirm)
    assert keys.authenticate(token.group(1)) is not None  # not yet
    revoked = await owner.post(f"/admin/api-keys/{key_id}/revoke")
    assert revoked.headers["location"] == "/admin/api-keys?notice=key_revoked"
    await owner.post(f"/admin/api-keys/{key_id}/revoke")
    assert keys.authenticate(token.group(1)) is None
    assert actions(store).count("api_key.revoked") == 1
    assert actions(store).count("api_key.created") == 1


async def test_an_api_key_needs_a_name_and_a_scope(owner: Desk, store: Store,
                                                   clock: ManualClock) -> None:
    form = hidden_fields(await owner.get("/admin/api-keys/new"))
    page = await owner.post("/admin/api-keys", {**form, "name": ""})
    assert page.status_code == 400
    text = text_of(page)
    assert "A name is needed." in text
    assert "Choose at least one scope." in text
    assert ApiKeys(store, clock).list("chat").data == []


# ---- who may ----

@pytest.mark.parametrize("role", ["support", "moderator"])
async def test_only_owners_see_webhooks_and_api_keys(role: str, store: Store, clock: ManualClock,
                                                    staff: Staff, j: jeton.Jeton) -> None:
    endpoint = j.community("chat").create_webhook_endpoint("https://hooks.example.org/jeton")
    user = staff.support if role == "support" else staff.moderator
    async with signed_in(store, clock, user, staff.password, j) as desk:
        home = await desk.get("/admin/")
        assert "/admin/webhooks" not in home.text
        assert "/admin/api-keys" not in home.text
        for path in ("/admin/webhooks", "/admin/webhooks/new", f"/admin/webhooks/{endpoint.id}",
                     "/admin/api-keys", "/admin/api-keys/new"):
            assert (await desk.get(path)).status_code == 403, path
        for path in ("/admin/webhooks", f"/admin/webhooks/{endpoint.id}/disable",
                     "/admin/api-keys"):
            refused = await desk.post(path, {"url": "https://x.example.org/", "name": "x",
                                             "key": "k", "scope:admin": "1"})
            assert refused.status_code == 403, path
    assert j.community("chat").get_webhook_endpoint(endpoint.id).enabled
    assert ApiKeys(store, clock).list("chat").data == []


async def test_integration_forms_need_the_csrf_token(owner: Desk, j: jeton.Jeton) -> None:
    endpoint = j.community("chat").create_webhook_endpoint("https://hooks.example.org/jeton")
    refused = await owner.post(f"/admin/webhooks/{endpoint.id}/disable", {}, csrf=False)
    assert refused.status_code == 403
    assert j.community("chat").get_webhook_endpoint(endpoint.id).enabled
