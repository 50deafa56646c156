"""The `url` of a purchase on the demo or offline provider opens Jeton's own hosted checkout
page, over HTTP, with no member session: pay or cancel, then back to the host app.

Once it answered `/pay/demo/<id>`, a 404: a host app on the default provider could not complete
a purchase over /v1 at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import make_sqlite_store

from .conftest import LiveServer, run_live_server

SUCCESS = "https://club.example/credits/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://club.example/credits"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    store = make_sqlite_store(tmp_path / "jeton.db")
    try:
        with run_live_server(store, include_web=True) as live:
            shop = live.community
            shop.create_member("ann")
            shop.create_pack("50 credits", pack_id="p50", credits=50, price_minor=500)
            yield live
    finally:
        store.dispose()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, follow_redirects=False,
                      headers={"Authorization": f"Bearer {server.api_key}"}) as client:
        yield client


def buy(http: httpx.Client, key: str, **body: object) -> dict[str, object]:
    answer = http.post("/v1/purchases", headers={"Idempotency-Key": key},
                       json={"member": "ann", "pack_id": "p50", **body})
    assert answer.status_code == 201, answer.text
    found: dict[str, object] = answer.json()
    return found


def page_of(url: object) -> str:
    """The checkout URL on the test server (it is made from JETON_PUBLIC_URL)."""
    parts = urlsplit(str(url))
    assert parts.path.startswith("/pay/")
    assert "sig=" in parts.query
    return f"{parts.path}?{parts.query}"


def form_sig(html: str) -> str:
    match = re.search(r'name="sig" value="([0-9a-f]+)"', html)
    assert match is not None
    return match.group(1)


def test_paying_on_the_hosted_page_grants_the_credits_and_returns_to_success_url(
        server: LiveServer, http: httpx.Client) -> None:
    made = buy(http, "ann-1", provider="demo", success_url=SUCCESS, cancel_url=CANCEL)
    page = httpx.get(server.base_url + page_of(made["url"]))  # no API key, no member session
    assert page.status_code == 200, page.text
    assert "Pay $5.00" in page.text
    assert "club.example" in page.headers["content-security-policy"]  # the redirect may go

    paid = httpx.post(server.base_url + urlsplit(str(made["url"])).path,
                      data={"sig": form_sig(page.text), "action": "pay"})
    assert paid.status_code == 303
    assert paid.headers["location"] == SUCCESS.replace("{CHECKOUT_SESSION_ID}",
                                                       str(made["session_id"]))
    purchase = http.get(f"/v1/purchases/{made['purchase_id']}").json()
    assert purchase["status"] == "completed"
    assert server.community.balance("ann").available == 50

    again = httpx.get(server.base_url + page_of(made["url"]))  # paid: the page says so
    assert (again.status_code, "Thank you" in again.text) == (200, True)


def test_cancel_on_the_hosted_page_expires_the_purchase_and_returns_to_cancel_url(
        server: LiveServer, http: httpx.Client) -> None:
    made = buy(http, "ann-2", provider="demo", success_url=SUCCESS, cancel_url=CANCEL)
    page = httpx.get(server.base_url + page_of(made["url"]))
    gone = httpx.post(server.base_url + urlsplit(str(made["url"])).path,
                      data={"sig": form_sig(page.text), "action": "cancel"})
    assert (gone.status_code, gone.headers["location"]) == (303, CANCEL)
    assert http.get(f"/v1/purchases/{made['purchase_id']}").json()["status"] == "expired"
    assert server.community.balance("ann").available == 0


def test_a_wrong_signature_finds_nothing_and_pays_nothing(server: LiveServer,
                                                          http: httpx.Client) -> None:
    made = buy(http, "ann-3", provider="demo", success_url=SUCCESS, cancel_url=CANCEL)
    path = urlsplit(str(made["url"])).path
    assert httpx.get(f"{server.base_url}{path}?sig={'0' * 32}").status_code == 404
    assert httpx.get(f"{server.base_url}{path}").status_code == 404
    tried = httpx.post(server.base_url + path, data={"sig": "0" * 32, "action": "pay"})
    assert tried.status_code == 404
    assert http.get(f"/v1/purchases/{made['purchase_id']}").json()["status"] == "pending"
    assert server.community.balance("ann").available == 0


def test_an_offline_purchase_needs_no_return_urls_and_its_page_says_how_to_pay(
        server: LiveServer, http: httpx.Client) -> None:
    made = buy(http, "ann-4", provider="offline")
    page = httpx.get(server.base_url + page_of(made["url"]))
    assert page.status_code == 200
    assert "check or bank transfer" in page.text
    assert "Pay $5.00" not in page.text  # staff record the money, not the member
    later = httpx.post(server.base_url + urlsplit(str(made["url"])).path,
                       data={"sig": form_sig(page.text), "action": "later"})
    assert later.status_code == 303
    done = httpx.get(later.headers["location"].replace(
        urlsplit(later.headers["location"]).netloc, urlsplit(server.base_url).netloc))
    assert (done.status_code, "Thank you" in done.text) == (200, True)
    assert http.get(f"/v1/purchases/{made['purchase_id']}").json()["status"] == "pending"
    server.community.record_offline_payment(str(made["purchase_id"]), reference="check 1")
    assert server.community.balance("ann").available == 50
