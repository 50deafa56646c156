"""The member pages in-process: a small app with `create_member_router` and the static files,
a chat community with members, packs and a plan, and a browser's worth of cookies.

`Shop` holds the Jeton, its clock and the community; `MemberBrowser` keeps cookies, the CSRF
token and the form keys of the last page it saw, and opens member links.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

import jeton
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.store.engine import Store
from jeton.web import mount_static
from jeton.web.member import create_member_router

BASE = "http://testserver"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'<input type="hidden" name="key" value="([^"]+)">')
TAGS = re.compile(r"<[^>]+>")


PHONE_ONLY = re.compile(r'<span class="phone-only[^"]*">.*?</span>', re.S)
RECEIPT_CELL = re.compile(r'<td class="receipt">.*?</td>', re.S)  # the link, not a word


def history_of(response: httpx.Response) -> list[str]:
    """The overview's history as lines of words, "What Change Balance" (the date left out)."""
    body = response.text.split('id="history-heading"', 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]  # after the header row
    lines = []
    for row in rows:
        row = RECEIPT_CELL.sub("", PHONE_ONLY.sub("", row))
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[1:]
        lines.append(" ".join(" ".join(html.unescape(TAGS.sub(" ", c)).split()) for c in cells))
    return lines


def text_of(response: httpx.Response) -> str:
    """The page's words, without tags and runs of spaces (for `in` checks)."""
    return " ".join(html.unescape(TAGS.sub(" ", response.text)).split())


@dataclass
class Shop:
    j: jeton.Jeton
    clock: ManualClock
    chat: jeton.Community

    def link(self, member_id: str, **kwargs: object) -> str:
        """A member link's path (the URL without the public address)."""
        made = self.chat.create_member_link(member_id, **kwargs)  # type: ignore[arg-type]
        assert made.url.startswith(BASE + "/m/open/")
        return made.url.removeprefix(BASE)


def make_shop(store: Store, clock: ManualClock, *, offline_default: bool = False,
              settings: Settings | None = None) -> Shop:
    j = jeton.Jeton(store, clock=clock, settings=settings or Settings(public_url=BASE))
    if offline_default:  # members pay by check: the store sells through the offline provider
        j.payments.add(j.payments.get("offline"), default=True)
    chat = j.create_community("Chat room", "chat")
    for member_id, name in (("alice", "Alice Liddell"), ("bob", "Bob Builder"),
                            ("carol", "Carol Singer")):
        chat.create_member(member_id, name=name)
    chat.create_pack("Starter", pack_id="starter", credits=20, price_minor=600)
    chat.create_pack("Big", pack_id="big", credits=50, price_minor=1500, bonus_credits=5)
    chat.create_pack("VIP only", pack_id="vip", credits=100, price_minor=2000,
                     visible_to=["class:vip"])
    chat.create_plan("Monthly 30", plan_id="monthly", cycle="monthly", credits=30,
                     price_minor=900)
    return Shop(j, clock, chat)


def member_app(shop: Shop) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(create_member_router(shop.j))
    mount_static(app)
    return app


class MemberBrowser:
    """One browser: its cookies, the CSRF token and form keys of the last page it read."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""
        self.keys: list[str] = []

    def _read(self, response: httpx.Response) -> httpx.Response:
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        keys = KEY.findall(response.text)
        if keys:
            self.keys = keys
        return response

    async def get(self, path: str) -> httpx.Response:
        return self._read(await self.client.get(path))

    async def post(self, path: str, data: dict[str, str] | None = None, *,
                   csrf: bool = True, headers: dict[str, str] | None = None) -> httpx.Response:
        form = {"csrf_token": self.csrf, **(data or {})} if csrf else dict(data or {})
        return self._read(await self.client.post(path, data=form, headers=headers))

    async def open(self, path: str) -> httpx.Response:
        """Open a member link, then read the overview (for its CSRF token)."""
        response = await self.client.get(path)
        if response.status_code == 303:
            await self.get("/m/")
        return response

    @property
    def key(self) -> str:
        assert self.keys, "the last page had no write form"
        return self.keys[0]


@asynccontextmanager
async def browser_for(app: FastAPI) -> AsyncIterator[MemberBrowser]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield MemberBrowser(c)


def closing(shop: Shop) -> Iterator[Shop]:
    try:
        yield shop
    finally:
        shop.j.close()
