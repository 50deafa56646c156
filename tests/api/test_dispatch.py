"""The app finds a request's route in one step (decision 0103): the entry `FirstByPath` sends a
request to is the one FastAPI's own walk of the app's routes would have chosen, for every
route the app serves, and a request to a late router no longer asks the routers before it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match

import jeton
from jeton.api.app import create_app
from jeton.api.dispatch import _SELECTED, FirstByPath
from jeton.store.engine import Store


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('dispatch') / 'api.db'}")
    store.create_schema()
    return create_app(jeton.Jeton(store))


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
            "query_string": b""}


def _walked(entries: list[BaseRoute], method: str, path: str) -> BaseRoute | None:
    """The entry FastAPI's walk picks: the first that matches fully."""
    for entry in entries:
        if entry.matches(_scope(method, path))[0] == Match.FULL:
            return entry
    return None


def _requests(app: Any) -> list[tuple[str, str]]:
    """A request for every method of every route the app serves, its path parameters filled."""
    out = []
    for route in iter_route_contexts(app.router.routes):
        if route.path is None:
            continue
        path = re.sub(r"\{[^}]+\}", "x1", route.path)
        out.extend((method, path) for method in sorted(route.methods or {"GET"}))
    return out


def test_the_finder_goes_first_and_knows_every_entry(app: Any) -> None:
    first = app.router.routes[0]
    assert isinstance(first, FirstByPath)
    assert first.entries == app.router.routes[1:]


def test_every_route_is_sent_where_fastapi_would_send_it(app: Any) -> None:
    first: FirstByPath = app.router.routes[0]
    requests = _requests(app)
    assert len(requests) > 150
    for method, path in requests:
        expected = _walked(first.entries, method, path)
        match, child_scope = first.matches(_scope(method, path))
        if expected is None or getattr(expected, "path_format", None) is not None:
            # no entry matches fully, or the app's own route or mount (the OpenAPI document,
            # the docs, the static files): the walk goes on as before
            assert match == Match.NONE, (method, path)
            continue
        assert match == Match.FULL, (method, path)  # found in one step, not left to the walk
        assert child_scope[_SELECTED] is expected, (method, path)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/nothing-here"),  # no route serves the path: FastAPI's 404
    ("DELETE", "/v1/ping"),  # the path is served, not the method: FastAPI's 405
    ("GET", "/v1/members/x1/balance/extra"),
])
def test_a_request_no_route_serves_fully_is_left_to_fastapi(app: Any, method: str,
                                                          path: str) -> None:
    first: FirstByPath = app.router.routes[0]
    assert first.matches(_scope(method, path)) == (Match.NONE, {})


def test_a_late_router_is_found_without_asking_the_routers_before_it(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    first: FirstByPath = app.router.routes[0]
    asked: list[int] = []

    def counting(i: int, matches: Any) -> Any:
        def counted(scope: Any) -> Any:
            asked.append(i)
            return matches(scope)
        return counted

    for i, entry in enumerate(first.entries):
        monkeypatch.setattr(entry, "matches", counting(i, entry.matches))
    ping = next(i for i, e in enumerate(first.entries)
                if any(r.path == "/v1/ping" for r in iter_route_contexts([e])))
    assert ping > 20  # a late router: the walk would have asked every one before it
    assert first.matches(_scope("POST", "/v1/ping"))[0] == Match.FULL
    assert asked == [ping]


def test_answers_over_http_are_fastapis(app: Any) -> None:
    """Through the whole app: a route, a 404, a 405 with every allowed method, and the
    redirect to a path's form without its trailing slash."""
    transport = httpx.ASGITransport(app=app)

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://jeton.test") as http:
            return [await http.get("/healthz"), await http.get("/v1/nothing-here"),
                    await http.delete("/v1/ping"), await http.get("/healthz/")]

    ok, missing, wrong_method, slash = asyncio.run(run())
    assert ok.status_code == 200
    assert missing.status_code == 404
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["allow"]
    assert slash.status_code in (307, 308)
    assert slash.headers["location"].endswith("/healthz")


def test_pages_mounted_later_are_found_too(tmp_path: Path) -> None:
    """A host app that adds the pages after `create_app` gets the finder again, with them."""
    from jeton.api.app import mount_web
    store = Store(f"sqlite:///{tmp_path / 'api.db'}")
    store.create_schema()
    j = jeton.Jeton(store)
    app = create_app(j, include_web=False)
    mount_web(app, j)
    first = app.router.routes[0]
    assert isinstance(first, FirstByPath)
    assert sum(isinstance(r, FirstByPath) for r in app.router.routes) == 1
    match, child_scope = first.matches(_scope("GET", "/admin/sign-in"))
    assert match == Match.FULL
    assert child_scope[_SELECTED] is _walked(first.entries, "GET", "/admin/sign-in")
