"""Webhooks, events, low-balance alerts and member portal links over HTTP.

A host app registers an endpoint on a receiver of its own (on 127.0.0.1, which the server is
told to allow), sets a member's low-balance threshold, and receives `balance.low` signed the
Standard Webhooks way; it reads the event and the delivery, redelivers it, rotates the secret
and deletes the endpoint. Then it asks for a portal link and the member's browser opens it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest

from conftest import make_sqlite_store
from jeton import InvalidRequest, JetonError, NotFound, Status
from jeton.api.routes.webhooks import DeliveryStatus
from jeton.services.events import endpoints as webhooks
from jeton.store.tables.webhooks import DELIVERY_STATUSES

from .conftest import LiveServer, run_live_server


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A host app's webhook receiver on 127.0.0.1 that answers 204 to everything."""
    found: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            found.append(Received({k.lower(): v for k, v in self.headers.items()},
                                  self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/jeton", found)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A live server whose webhooks may go to 127.0.0.1, with the member pages mounted."""
    monkeypatch.setenv("JETON_WEBHOOKS_ALLOW_PRIVATE", "1")
    store = make_sqlite_store(tmp_path / "jeton.db")
    try:
        with run_live_server(store, include_web=True) as live:
            assert live.jeton.settings.webhooks_allow_private
            yield live
    finally:
        store.dispose()


def verify(secret: str, received: Received) -> dict[str, Any]:
    """Check a message as a host app would (Standard Webhooks), and return its payload."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = (f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}."
              .encode() + received.body)
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    signatures = [s.partition(",")[2] for s in received.headers["webhook-signature"].split()]
    assert expected in signatures
    payload: dict[str, Any] = json.loads(received.body)
    return payload


def deliver(server: LiveServer) -> None:
    """What the worker's jobs do: make deliveries of new events, and send what is due."""
    wh = webhooks.service(server.jeton)
    wh.fan_out(server.community_id)
    wh.deliver_due(server.community_id)


def test_an_endpoint_made_over_http_receives_signed_events(server: LiveServer,
                                                           receiver: Receiver) -> None:
    chat = server.client()
    chat.create_member("alice")
    chat.grant("alice", 20, idempotency_key="g")

    endpoint = chat.create_webhook_endpoint(receiver.url, event_types=["balance.low"],
                                            description="host app", idempotency_key="ep-1")
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.event_types == ["balance.low"]
    # The secret is shown once: a replay of the request answers without it.
    replay = chat.create_webhook_endpoint(receiver.url, event_types=["balance.low"],
                                          description="host app", idempotency_key="ep-1")
    assert (replay.id, replay.secret) == (endpoint.id, "")
    listed = chat.list_webhook_endpoints()
    assert [e.id for e in listed.data] == [endpoint.id]
    assert "whsec_" not in httpx.get(f"{server.base_url}/v1/webhook_endpoints", headers={
        "Authorization": f"Bearer {server.api_key}"}).text
    assert chat.get_webhook_endpoint(endpoint.id).description == "host app"

    assert chat.low_balance_alert("alice") is None
    alert = chat.set_low_balance_threshold("alice", 10)
    assert alert is not None
    assert (alert.threshold, alert.armed) == (10, True)
    assert chat.low_balance_alert("alice") == alert
    chat.spend("alice", 15, idempotency_key="s-1")  # 20 -> 5: under 10
    deliver(server)
    # Sent once for this crossing: disarmed until the balance is back at 10 or above.
    assert chat.low_balance_alert("alice") == alert.model_copy(update={"armed": False})
    assert chat.low_balance_alert("alice") == server.community.low_balance_alert("alice")

    assert len(receiver.received) == 1
    message = verify(endpoint.secret, receiver.received[0])
    assert message["type"] == "balance.low"
    assert message["data"]["member_id"] == "alice"
    assert message["data"]["available"] == 5

    events = chat.list_events(type="balance.low")
    assert len(events.data) == 1
    event = chat.get_event(events.data[0].id)
    assert event.data["threshold"] == 10
    assert chat.list_events(member_id="alice").data[0].member_id == "alice"

    deliveries = chat.list_webhook_deliveries(endpoint_id=endpoint.id)
    assert [(d.event_id, d.status, d.attempts) for d in deliveries.data] == [
        (event.id, "succeeded", 1)]
    delivery = chat.get_webhook_delivery(deliveries.data[0].id)
    assert [(a.attempt, a.status_code) for a in delivery.attempt_log] == [(1, 204)]

    # Redelivered at once, signed with a rotated secret (and the old one, for a grace period).
    assert chat.redeliver_webhook(delivery.id).status == "pending"
    rotated = chat.rotate_webhook_secret(endpoint.id, grace_s=60)
    assert rotated.secret != endpoint.secret
    assert rotated.previous_secret_expires_at is not None
    deliver(server)
    assert len(receiver.received) == 2
    assert verify(rotated.secret, receiver.received[1]) == message
    assert verify(endpoint.secret, receiver.received[1]) == message
    assert chat.get_webhook_delivery(delivery.id).attempts == 2

    # Paging, changes, and the end of the endpoint.
    second = chat.create_webhook_endpoint(receiver.url)
    assert second.event_types is None  # every type
    first_page = chat.list_webhook_endpoints(limit=1)
    assert first_page.has_more
    assert [e.id for e in chat.list_webhook_endpoints(
        starting_after=first_page.next_cursor).data] == [second.id]
    changed = chat.update_webhook_endpoint(second.id, enabled=False, description="paused",
                                           event_types=["charge.declined", "balance.low"])
    assert (changed.enabled, changed.description) == (False, "paused")
    assert changed.event_types == ["balance.low", "charge.declined"]
    assert chat.update_webhook_endpoint(second.id, event_types=["*"]).event_types is None
    gone = chat.delete_webhook_endpoint(second.id)
    assert gone.deleted_at is not None
    assert [e.id for e in chat.list_webhook_endpoints().data] == [endpoint.id]
    assert len(chat.list_webhook_endpoints(include_deleted=True).data) == 2
    with pytest.raises(JetonError) as deleted:
        chat.rotate_webhook_secret(second.id)
    assert deleted.value.status is Status.conflict

    with pytest.raises(InvalidRequest):
        chat.create_webhook_endpoint("ftp://127.0.0.1/x")
    with pytest.raises(InvalidRequest):
        chat.create_webhook_endpoint(receiver.url, event_types=["balance.nothing"])
    with pytest.raises(NotFound):
        chat.get_event("01900000-0000-7000-8000-000000000000")

    assert chat.set_low_balance_threshold("alice", None) is None
    assert chat.low_balance_alert("alice") is None
    with pytest.raises(NotFound) as nobody:
        chat.set_low_balance_threshold("nobody", 5)
    assert nobody.value.status is Status.member_not_found
    with pytest.raises(NotFound) as unknown:
        chat.low_balance_alert("nobody")
    assert unknown.value.status is Status.member_not_found


def test_webhook_reads_and_writes_need_their_scopes(server: LiveServer,
                                                    receiver: Receiver) -> None:
    admin = server.client()
    endpoint = admin.create_webhook_endpoint(receiver.url)
    hooks = server.client(admin.create_api_key("hooks", ["webhooks:write"]).token)
    reports = server.client(admin.create_api_key("reports", ["reports:read"]).token)
    assert hooks.get_webhook_endpoint(endpoint.id).id == endpoint.id
    assert reports.list_events().data == []
    refusals: list[Callable[[], object]] = [
        reports.list_webhook_endpoints, hooks.list_events,
        lambda: reports.create_webhook_endpoint(receiver.url)]
    for refused in refusals:
        with pytest.raises(JetonError) as no_scope:
            refused()
        assert no_scope.value.status is Status.scope_missing


def test_a_portal_link_opens_the_members_pages_once(server: LiveServer) -> None:
    chat = server.client()
    chat.create_member("alice")
    link = chat.create_member_link("alice", return_url="https://host.example/account",
                                   ttl_s=120)
    assert link.member_id == "alice"
    path = httpx.URL(link.url).path
    assert path.startswith("/m/open/")

    with httpx.Client(base_url=server.base_url) as browser:
        opened = browser.get(path)
        assert opened.status_code == 303
        assert opened.headers["referrer-policy"] == "no-referrer"
        home = browser.get(opened.headers["location"])
        assert home.status_code == 200
        assert "alice" in home.text
    with httpx.Client(base_url=server.base_url) as someone_else:
        assert someone_else.get(path).status_code == 410  # used once already

    headers = {"Authorization": f"Bearer {server.api_key}", "Idempotency-Key": "link-1"}
    made = httpx.post(f"{server.base_url}/v1/members/alice/portal_links", json={},
                      headers=headers)
    assert made.status_code == 201
    assert made.json()["url"].startswith("http")
    replayed = httpx.post(f"{server.base_url}/v1/members/alice/portal_links", json={},
                          headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["url"] == ""  # the link is a secret shown once
    with pytest.raises(NotFound):
        chat.create_member_link("nobody")
    with pytest.raises(InvalidRequest):
        chat.create_member_link("alice", ttl_s=0)


def test_the_delivery_statuses_of_the_api_are_the_stores() -> None:
    assert set(get_args(DeliveryStatus)) == set(DELIVERY_STATUSES)
