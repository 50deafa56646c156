"""A signed-in staff user's browser, in-process: the dashboard's pages over httpx's ASGI client.

`signed_in(store, clock, user, password)` yields a `Desk` that keeps cookies and the session's
CSRF token, reads the hidden fields of the last form it saw (`form_values`), and posts forms.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

import jeton
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.services.access.staff import StaffUser
from jeton.store.engine import Store
from jeton.web import create_dashboard_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class Desk:
    """One browser's cookies and the last CSRF token it was given."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    async def get(self, path: str) -> httpx.Response:
        response = await self.client.get(path)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def post(self, path: str, data: dict[str, str] | None = None, *,
                   csrf: bool = True) -> httpx.Response:
        form = {"csrf_token": self.csrf, **(data or {})} if csrf else dict(data or {})
        response = await self.client.post(path, data=form)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def sign_in(self, email: str, password: str, **extra: str) -> httpx.Response:
        """Post the sign-in form (with `extra` fields, e.g. a code); on success (303) open the
        dashboard to pick up the session's CSRF token."""
        await self.get("/admin/sign-in")
        response = await self.post("/admin/sign-in",
                                   {"email": email, "password": password, **extra})
        if response.status_code == 303:
            await self.get("/admin/")
        return response


def hidden_fields(page: httpx.Response, action: str = "") -> dict[str, str]:
    """The hidden inputs of the form posting to `action` (of the whole page without one)."""
    text = page.text
    if action:
        text = text[text.index(f'action="{action}"'):]
        text = text[:text.index("</form>")]
    return {name: html.unescape(value) for name, value in HIDDEN.findall(text)
            if name != "csrf_token"}


def text_of(page: httpx.Response) -> str:
    """The page's text without tags and with entities decoded, for `in` checks."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text)))


@asynccontextmanager
async def signed_in(store: Store, clock: ManualClock, user: StaffUser, password: str,
                    j: jeton.Jeton | None = None) -> AsyncIterator[Desk]:
    settings = Settings(public_url="http://testserver")
    app = create_dashboard_app(store, clock, settings, jeton=j)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=settings.public_url) as client:
        desk = Desk(client)
        response = await desk.sign_in(user.email, password)
        assert response.status_code == 303, response.text
        yield desk
