"""A caller who mistypes a path or a method, or points a browser at the server's root."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.conftest import LiveServer, run_live_server
from conftest import make_sqlite_store


def _auth(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key}"}


def test_a_path_no_route_serves_is_a_404_saying_where_the_routes_are(
        live_server: LiveServer) -> None:
    for path in ("/v1/charge", "/v1", "/v2/charges"):
        answer = httpx.post(f"{live_server.base_url}{path}", headers=_auth(live_server),
                            json={})
        assert answer.status_code == 404, path
        problem = answer.json()
        assert problem["code"] == "not_found"
        assert problem["instance"] == path
        assert problem["detail"].startswith(f"no route for POST {path};")
        assert "/docs" in problem["detail"]
        assert "/openapi.json" in problem["detail"]


def test_a_routes_own_404_keeps_its_words(live_server: LiveServer) -> None:
    answer = httpx.get(f"{live_server.base_url}/v1/members/nobody/balance",
                       headers=_auth(live_server))
    assert answer.status_code == 404
    assert answer.json()["code"] == "member_not_found"
    assert "no route" not in answer.json()["detail"]


def test_a_wrong_method_names_the_methods_the_path_answers(live_server: LiveServer) -> None:
    answer = httpx.delete(f"{live_server.base_url}/v1/charges", headers=_auth(live_server))
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.json()["detail"] == "DELETE /v1/charges: this path answers POST only"


def test_the_root_sends_a_browser_to_the_dashboard(tmp_path: Path) -> None:
    with run_live_server(make_sqlite_store(tmp_path / "jeton.db"), include_web=True) as server:
        answer = httpx.get(f"{server.base_url}/")
        assert answer.status_code == 307
        assert answer.headers["location"] == "/admin"
        landed = httpx.get(f"{server.base_url}/", follow_redirects=True)
        assert landed.status_code == 200
        assert "text/html" in landed.headers["content-type"]


def test_without_the_pages_the_root_is_a_404_saying_where_the_routes_are(
        live_server: LiveServer) -> None:
    answer = httpx.get(f"{live_server.base_url}/")
    assert answer.status_code == 404
    assert answer.json()["detail"].startswith("no route for GET /;")
