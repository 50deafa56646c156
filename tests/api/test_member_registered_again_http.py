"""`POST /v1/members` of a member who exists (decision 0114), on SQLite and PostgreSQL: the same
details, or details left out, answer the member as stored; another name, email or metadata is
a 409 `already_exists` naming the field and both values, the status `jeton.Client` raises as
in process, and nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import jeton

from .conftest import LiveServer, live_server_on


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server_on(request.param, tmp_path) as live:
        yield live


def test_registering_a_member_again_with_another_name_is_a_409_that_names_both(
        server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {server.api_key}"}

    def register(body: dict[str, object]) -> httpx.Response:
        return httpx.post(f"{server.base_url}/v1/members", json=body, headers=headers)

    made = register({"id": "ann", "name": "Ann", "metadata": {"plan": "gold"}})
    assert made.status_code == 201, made.text
    for same in ({"id": "ann", "name": "Ann", "metadata": {"plan": "gold"}}, {"id": "ann"}):
        again = register(same)
        assert again.status_code == 201, again.text
        assert again.json() == made.json()

    refused = register({"id": "ann", "name": "Annie"})
    assert refused.status_code == 409, refused.text
    assert refused.json() == {  # as docs/api/members.md shows it
        "type": "/problems/already-exists", "title": "It already exists", "status": 409,
        "detail": "member 'ann' exists with name 'Ann', not 'Annie'; nothing changed",
        "code": "already_exists", "instance": "/v1/members", "field": "name"}

    with pytest.raises(jeton.Conflict) as conflict:  # the client raises the in-process status
        server.client().create_member("ann", email="ann@chess.example")
    assert conflict.value.status == jeton.Status.already_exists
    assert conflict.value.detail == ("member 'ann' exists with no email, not "
                                     "'ann@chess.example'; nothing changed")
    assert server.community.get_member("ann").model_dump(mode="json") == made.json()
