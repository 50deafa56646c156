"""Member links and sessions: single use, expiry, the cookie, scope to one member, CSRF."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

import jeton
from jeton.core import limits
from jeton.core.clock import ManualClock
from jeton.services.access import member_links
from jeton.services.access.member_links import LinkStatus, exchange_member_link
from jeton.services.ledger.jobs import REGISTRY
from jeton.store.engine import Store
from jeton.store.tables.member_links import member_links as links_table
from jeton.store.tables.member_links import member_sessions

from .member_support import BASE, Shop, browser_for, closing, make_shop, member_app, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def shop(store: Store, clock: ManualClock) -> Iterator[Shop]:
    yield from closing(make_shop(store, clock))


# ---- the service ----

def test_a_link_is_made_for_a_known_member_with_a_bounded_lifetime(shop: Shop) -> None:
    link = shop.chat.create_member_link("alice", return_url="https://chat.example/account")
    assert link.member_id == "alice"
    assert link.url.startswith(f"{BASE}/m/open/")
    assert link.expires_at == shop.clock.now() + timedelta(
        seconds=limits.member_link_ttl_s_default)
    with pytest.raises(jeton.NotFound):
        shop.chat.create_member_link("nobody")
    for ttl in (0, limits.member_link_ttl_s_max + 1, "60", 1.5):
        with pytest.raises(jeton.InvalidRequest):
            shop.chat.create_member_link("alice", ttl_s=ttl)  # type: ignore[arg-type]
    for url in ("javascript:alert(1)", "/relative", "https://x.example/\nSet-Cookie: a=b",
                "https://[Q",  # a host urllib cannot read: refused, not a server error
                "https://x.example/" + "a" * limits.member_return_url_chars_max):
        with pytest.raises(jeton.InvalidRequest):
            shop.chat.create_member_link("alice", return_url=url)


def test_the_store_keeps_digests_never_tokens(shop: Shop) -> None:
    link = shop.chat.create_member_link("alice")
    token = link.url.rsplit("/", 1)[1]
    opened = exchange_member_link(shop.j, token)
    assert opened.status is LinkStatus.opened
    assert opened.token is not None
    with shop.j.store.read() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(links_table)).mappings()]
        rows += [dict(r) for r in conn.execute(sa.select(member_sessions)).mappings()]
    stored = " ".join(str(v) for row in rows for v in row.values())
    assert token not in stored
    assert opened.token not in stored
    assert token.split(".")[1] not in stored


def test_a_link_is_exchanged_once_even_by_its_own_caller(shop: Shop) -> None:
    token = shop.chat.create_member_link("alice").url.rsplit("/", 1)[1]
    first = exchange_member_link(shop.j, token)
    assert first.status is LinkStatus.opened
    assert exchange_member_link(shop.j, token).status is LinkStatus.used
    # The browser holding the session it opened may open it again (a reload): no new session.
    again = exchange_member_link(shop.j, token, current=first.session)
    assert again.status is LinkStatus.reopened
    assert again.token is None
    other = shop.chat.create_member_link("bob").url.rsplit("/", 1)[1]
    bob = exchange_member_link(shop.j, other)
    assert exchange_member_link(shop.j, token, current=bob.session).status is LinkStatus.used


def test_browsers_racing_to_open_one_link_get_one_session(shop: Shop) -> None:
    token = shop.chat.create_member_link("alice").url.rsplit("/", 1)[1]
    start = threading.Barrier(6)

    def race() -> LinkStatus:
        start.wait()
        return exchange_member_link(shop.j, token).status

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: race(), range(6)))
    assert sorted(statuses) == [LinkStatus.opened] + [LinkStatus.used] * 5
    with shop.j.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(member_sessions)).scalar() == 1


def test_an_expired_link_opens_nothing(shop: Shop) -> None:
    token = shop.chat.create_member_link("alice", ttl_s=2).url.rsplit("/", 1)[1]
    shop.clock.advance(seconds=2)
    assert exchange_member_link(shop.j, token).status is LinkStatus.expired
    with shop.j.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(member_sessions)).scalar() == 0


def test_made_up_tokens_are_unknown(shop: Shop) -> None:
    token = shop.chat.create_member_link("alice").url.rsplit("/", 1)[1]
    prefix, secret = token.split(".")
    changed = secret[:-1] + ("B" if secret.endswith("A") else "A")
    for bad in ("", "x", "a.b.c", "!!!.x", f"{prefix}.{changed}", "Y2hhdA." + "A" * 43,
                "b3RoZXI." + secret, "a" * 300):
        assert exchange_member_link(shop.j, bad).status is LinkStatus.unknown, bad


def test_old_links_and_sessions_are_purged_a_day_after_they_expire(shop: Shop) -> None:
    assert "member_links.purge" in REGISTRY
    token = shop.chat.create_member_link("alice").url.rsplit("/", 1)[1]
    exchange_member_link(shop.j, token)
    shop.chat.create_member_link("bob")
    shop.clock.advance(seconds=limits.member_session_lifetime_s)
    assert member_links.purge_member_links(shop.j, "chat") == 0
    shop.clock.advance(seconds=limits.member_links_retention_s + 1)
    assert member_links.purge_member_links(shop.j, "chat") == 3


# ---- over HTTP ----

async def test_opening_a_link_sets_a_member_cookie_and_goes_to_the_overview(shop: Shop) -> None:
    async with browser_for(member_app(shop)) as browser:
        response = await browser.client.get(shop.link("alice"))
        assert response.status_code == 303
        assert response.headers["location"] == "/m/"
        assert response.headers["referrer-policy"] == "no-referrer"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("jeton_member=")
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/m" in cookie
        assert f"Max-Age={limits.member_session_lifetime_s}" in cookie
        assert "Secure" not in cookie
        home = await browser.get("/m/")
        assert home.status_code == 200
        assert "Signed in as Alice Liddell" in text_of(home)
        assert home.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in home.headers["content-security-policy"]


async def test_a_used_link_is_refused_to_another_browser_and_reopens_for_its_own(
        shop: Shop) -> None:
    path = shop.link("alice", return_url="https://chat.example/me")
    app = member_app(shop)
    async with browser_for(app) as first, browser_for(app) as second:
        assert (await first.open(path)).status_code == 303
        assert (await first.open(path)).status_code == 303  # a reload of the link
        refused = await second.client.get(path)
        assert refused.status_code == 410
        assert "This link was used already" in text_of(refused)
        assert 'href="https://chat.example/me"' in refused.text
        assert "set-cookie" not in refused.headers
        assert (await second.get("/m/")).status_code == 401


async def test_an_expired_link_is_refused(shop: Shop) -> None:
    path = shop.link("alice", ttl_s=2)
    shop.clock.advance(seconds=3)
    async with browser_for(member_app(shop)) as browser:
        response = await browser.client.get(path)
        assert response.status_code == 410
        assert "This link has expired" in text_of(response)
        assert (await browser.get("/m/")).status_code == 401


async def test_a_head_request_does_not_use_the_link(shop: Shop) -> None:
    """Link checkers and some mail scanners send HEAD: the member's click must still work."""
    path = shop.link("alice")
    app = member_app(shop)
    async with browser_for(app) as scanner, browser_for(app) as member:
        checked = await scanner.client.head(path)
        assert checked.status_code == 405
        assert "set-cookie" not in checked.headers
        assert (await member.open(path)).status_code == 303


async def test_the_session_ends_after_an_hour_and_at_sign_out(shop: Shop) -> None:
    async with browser_for(member_app(shop)) as browser:
        await browser.open(shop.link("alice"))
        shop.clock.advance(seconds=limits.member_session_lifetime_s - 1)
        assert (await browser.get("/m/")).status_code == 200
        shop.clock.advance(seconds=1)
        ended = await browser.get("/m/")
        assert ended.status_code == 401
        assert "Your session has ended" in text_of(ended)
        assert 'jeton_member=""' in ended.headers["set-cookie"]

    async with browser_for(member_app(shop)) as browser:
        await browser.open(shop.link("alice", return_url="https://chat.example/me"))
        out = await browser.post("/m/sign-out")
        assert out.status_code == 200
        assert "You are signed out" in text_of(out)
        assert 'href="https://chat.example/me"' in out.text
        assert "Sign out" not in text_of(out)
        assert (await browser.get("/m/")).status_code == 401


async def test_pages_need_a_session(shop: Shop) -> None:
    async with browser_for(member_app(shop)) as browser:
        for path in ("/m/", "/m/store", "/m/plans", "/m/recharge", "/m/coupon", "/m/transfer"):
            response = await browser.get(path)
            assert response.status_code == 401, path
            assert "Open your account from the site" in text_of(response)
        refused = await browser.post("/m/coupon", {"code": "X", "key": "k" * 24}, csrf=False)
        assert refused.status_code == 401


async def test_posts_need_the_session_csrf_token_and_this_site(shop: Shop) -> None:
    shop.chat.create_coupon("WELCOME", credits=10)
    async with browser_for(member_app(shop)) as browser:
        await browser.open(shop.link("alice"))
        page = await browser.get("/m/coupon")
        form = {"code": "WELCOME", "key": browser.key}
        assert (await browser.post("/m/coupon", form, csrf=False)).status_code == 403
        forged = {**form, "csrf_token": "x" * 43}
        assert (await browser.post("/m/coupon", forged, csrf=False)).status_code == 403
        other_site = await browser.post("/m/coupon", form,
                                        headers={"origin": "https://evil.example"})
        assert other_site.status_code == 403
        cross = await browser.post("/m/coupon", form, headers={"sec-fetch-site": "cross-site"})
        assert cross.status_code == 403
        assert shop.chat.balance("alice").available == 0
        assert page.status_code == 200
        ok = await browser.post("/m/coupon", form, headers={"origin": BASE})
        assert ok.status_code == 303
        assert shop.chat.balance("alice").available == 10


async def test_a_session_shows_its_own_member_only(shop: Shop) -> None:
    """Whatever the URL or the form says, the member is the session's."""
    shop.chat.grant("alice", 7, idempotency_key="a")
    shop.chat.grant("bob", 900, idempotency_key="b", memo="Bob's secret prize")
    bob_buys = shop.chat.buy_pack("bob", "starter", idempotency_key="bob-buys",
                                  success_url=BASE + "/ok", cancel_url=BASE + "/no")
    async with browser_for(member_app(shop)) as browser:
        await browser.open(shop.link("alice"))
        for path in ("/m/?member=bob", "/m/?member_id=bob&after=", "/m/store?member=bob"):
            page = text_of(await browser.get(path))
            assert "Alice Liddell" in page
            assert "900" not in page, path
            assert "Bob" not in page, path
        other = await browser.get(f"/m/purchases/{bob_buys.purchase_id}")
        assert other.status_code == 404
        assert (await browser.get(f"/m/pay/{bob_buys.purchase_id}")).status_code == 404
        paid = await browser.post(f"/m/pay/{bob_buys.purchase_id}", {"action": "pay"})
        assert paid.status_code == 404
        assert shop.chat.get_purchase(bob_buys.purchase_id).status == "pending"
        status = await browser.get(f"/m/purchases/{bob_buys.purchase_id}/status")
        assert status.status_code == 404


async def test_a_session_of_one_community_sees_nothing_of_another(
        store: Store, clock: ManualClock) -> None:
    shop = make_shop(store, clock)
    try:
        other = shop.j.create_community("Film club", "films")
        other.create_member("alice", name="Alice in Films")
        other.grant("alice", 444, idempotency_key="films-alice")
        shop.chat.grant("alice", 5, idempotency_key="chat-alice")
        async with browser_for(member_app(shop)) as browser:
            await browser.open(shop.link("alice"))
            page = text_of(await browser.get("/m/"))
            assert "Chat room" in page
            assert "Alice Liddell" in page
            assert "444" not in page
            assert "Films" not in page
            # A session token with the other community's prefix and this secret finds nothing.
            token = browser.client.cookies["jeton_member"]
            forged = "ZmlsbXM." + token.split(".")[1]
            browser.client.cookies.set("jeton_member", forged, path="/m")
            assert (await browser.get("/m/")).status_code == 401
    finally:
        shop.j.close()
