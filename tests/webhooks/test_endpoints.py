"""Managing webhook endpoints, and which URLs they may have."""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

import jeton
from jeton.core import limits
from jeton.core.clock import ManualClock
from jeton.services.events import endpoints as webhooks
from jeton.services.events.endpoints import UNCHANGED, Webhooks
from jeton.services.events.urls import refusal, resolve_host, target_for

from .conftest import open_jeton

REFUSED = [
    "http://127.0.0.1:8000/hooks",
    "http://localhost/hooks",
    "http://[::1]/hooks",
    "http://10.1.2.3/hooks",
    "http://192.168.0.10/hooks",
    "http://172.16.0.1/hooks",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hooks",
    "http://0.0.0.0/hooks",
    "http://224.0.0.1/hooks",
    "http://240.0.0.1/hooks",
    "http://[fc00::1]/hooks",
    "http://[fe80::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[2002:7f00:1::]/hooks",  # 6to4 around 127.0.0.1
]


@pytest.fixture
def public_only(tmp_path: Path, clock: ManualClock) -> jeton.Jeton:
    j = open_jeton(tmp_path, clock, allow_private=False)
    j.create_community("Chat", community_id="chat")
    return j


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_loopback_urls_are_refused(public_only: jeton.Jeton, url: str) -> None:
    wh = webhooks.install(public_only)
    try:
        with pytest.raises(jeton.InvalidRequest, match="url refused"):
            wh.create_endpoint("chat", url)
        assert wh.list_endpoints("chat") == []
    finally:
        public_only.close()


def test_a_public_address_is_accepted_and_the_operator_may_allow_private_ones(
        public_only: jeton.Jeton, chat: jeton.Community, wh: Webhooks) -> None:
    try:
        public = webhooks.install(public_only).create_endpoint("chat", "https://93.184.216.34/h")
        assert public.url == "https://93.184.216.34/h"
    finally:
        public_only.close()
    # `wh` runs with JETON_WEBHOOKS_ALLOW_PRIVATE on, as for a host app on the same network.
    assert wh.create_endpoint("chat", "http://127.0.0.1:8000/hooks").enabled


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///x",
                                 "not a url", "", "http://exa mple.com/",
                                 "https://example.com/" + "x" * limits.webhook_url_chars_max])
def test_malformed_urls_are_refused(chat: jeton.Community, wh: Webhooks, url: str) -> None:
    with pytest.raises(jeton.InvalidRequest):
        wh.create_endpoint("chat", url)


def test_a_name_that_does_not_resolve_is_refused(public_only: jeton.Jeton) -> None:
    wh = webhooks.install(public_only, resolver=lambda host, port: [])
    try:
        with pytest.raises(jeton.InvalidRequest, match="does not resolve"):
            wh.create_endpoint("chat", "https://hooks.example.test/in")
    finally:
        public_only.close()


def test_one_private_answer_among_public_ones_is_refused() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.7, a private address"):
        target_for("https://hooks.example.test/in", allow_private=False,
                   resolver=lambda host, port: ["93.184.216.34", "10.0.0.7"])


def test_address_rules() -> None:
    assert refusal(ipaddress.ip_address("93.184.216.34")) is None
    assert refusal(ipaddress.ip_address("2606:4700::1111")) is None
    assert refusal(ipaddress.ip_address("127.0.0.2")) == "a loopback address"
    assert refusal(ipaddress.ip_address("239.1.1.1")) == "a multicast address"
    assert refusal(ipaddress.ip_address("64:ff9b::7f00:1")) == "a reserved address"
    assert resolve_host("localhost", 80)[0] in ("127.0.0.1", "::1")


def test_an_endpoint_has_a_standard_webhooks_secret_shown_on_creation_only(
        chat: jeton.Community, wh: Webhooks) -> None:
    ep = wh.create_endpoint("chat", "http://127.0.0.1:9/hooks", description="main app",
                            event_types=["balance.low", "charge.declined", "balance.low"])
    assert ep.secret.startswith("whsec_")
    assert len(base64.b64decode(ep.secret.removeprefix("whsec_"))) == 32
    assert ep.event_types == ["balance.low", "charge.declined"]
    shown = wh.get_endpoint("chat", ep.id)
    assert not hasattr(shown, "secret")
    assert shown.model_dump() == {k: v for k, v in ep.model_dump().items() if k != "secret"}
    assert wh.list_endpoints("chat") == [shown]
    assert wh.endpoint_secret("chat", ep.id) == ep.secret
    other = wh.create_endpoint("chat", "http://127.0.0.1:9/other")
    assert other.secret != ep.secret
    assert other.event_types is None  # every type


def test_updating_an_endpoint(chat: jeton.Community, wh: Webhooks, clock: ManualClock) -> None:
    ep = wh.create_endpoint("chat", "http://127.0.0.1:9/hooks", event_types=["balance.low"])
    clock.advance(seconds=10)
    changed = wh.update_endpoint("chat", ep.id, event_types=None, description="all of it")
    assert (changed.event_types, changed.description, changed.url) == (
        None, "all of it", "http://127.0.0.1:9/hooks")
    assert changed.updated_at > ep.updated_at
    off = wh.update_endpoint("chat", ep.id, enabled=False)
    assert not off.enabled
    assert off.disabled_at == clock.now()
    on = wh.update_endpoint("chat", ep.id, enabled=True, url="http://127.0.0.1:9/v2",
                            event_types=["*"])
    assert on.enabled
    assert on.disabled_at is None
    assert on.url == "http://127.0.0.1:9/v2"
    assert on.event_types is None
    assert wh.update_endpoint("chat", ep.id, description=UNCHANGED) == on.model_copy(
        update={"updated_at": clock.now()})
    with pytest.raises(jeton.InvalidRequest, match=r"unknown event types: balance\.lo;"):
        wh.update_endpoint("chat", ep.id, event_types=["balance.lo"])
    with pytest.raises(jeton.InvalidRequest, match="at least one"):
        wh.update_endpoint("chat", ep.id, event_types=[])
    with pytest.raises(jeton.NotFound):
        wh.update_endpoint("chat", "no-such-endpoint", enabled=False)


def test_a_deleted_endpoint_stays_for_history_and_cannot_change(
        chat: jeton.Community, wh: Webhooks) -> None:
    ep = wh.create_endpoint("chat", "http://127.0.0.1:9/hooks")
    gone = wh.delete_endpoint("chat", ep.id)
    assert not gone.enabled
    assert gone.deleted_at is not None
    assert wh.delete_endpoint("chat", ep.id) == gone
    assert wh.list_endpoints("chat") == []
    assert wh.list_endpoints("chat", include_deleted=True) == [gone]
    with pytest.raises(jeton.Conflict):
        wh.update_endpoint("chat", ep.id, enabled=True)
    with pytest.raises(jeton.Conflict):
        wh.rotate_secret("chat", ep.id)


def test_creating_with_an_idempotency_key_twice_makes_one_endpoint(
        chat: jeton.Community, wh: Webhooks) -> None:
    first = wh.create_endpoint("chat", "http://127.0.0.1:9/hooks", idempotency_key="ep-1")
    again = wh.create_endpoint("chat", "http://127.0.0.1:9/hooks", idempotency_key="ep-1")
    assert again == first
    assert len(wh.list_endpoints("chat")) == 1
    with pytest.raises(jeton.IdempotencyConflict):
        wh.create_endpoint("chat", "http://127.0.0.1:9/else", idempotency_key="ep-1")


def test_a_community_has_a_bounded_number_of_endpoints(
        chat: jeton.Community, wh: Webhooks) -> None:
    made = [wh.create_endpoint("chat", f"http://127.0.0.1:9/{i}")
            for i in range(limits.webhook_endpoints_max)]
    with pytest.raises(jeton.Conflict, match="at most"):
        wh.create_endpoint("chat", "http://127.0.0.1:9/one-too-many")
    wh.delete_endpoint("chat", made[0].id)
    wh.create_endpoint("chat", "http://127.0.0.1:9/replacement")


def test_endpoints_of_a_missing_community_are_refused(wh: Webhooks) -> None:
    with pytest.raises(jeton.NotFound):
        wh.create_endpoint("nowhere", "http://127.0.0.1:9/hooks")


def test_installing_twice_gives_the_same_service_and_one_hook(j: jeton.Jeton) -> None:
    first = webhooks.install(j)
    assert webhooks.install(j) is first
    assert webhooks.service(j) is first
    assert j.ledger.hooks.count(first.events.hook) == 1


def test_the_tables_are_made_with_the_schema_even_before_the_service_is_imported() -> None:
    code = ("import sys; from jeton.store.tables import metadata; "
            "assert 'jeton.services.events.endpoints' not in sys.modules; "
            "names = {'webhook_endpoints', 'webhook_deliveries', 'webhook_attempts', "
            "'webhook_cursors', 'member_alerts', 'expiring_lot_notices', 'event_settings'}; "
            "assert names <= set(metadata.tables), names - set(metadata.tables)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
