"""Gamification over HTTP, through `jeton.Client` and raw requests, on SQLite and PostgreSQL:
the host app shows a member's achievements and the week's leaderboard; the owner reads the
rules and who earned what. The answers are the in-process ones, parsed into the same classes."""

from __future__ import annotations

import httpx
import pytest

from conftest import check_invariants

from .conftest import LiveServer

CATALOG = """
[services."files.download"]
name = "File download"
credits = 4
splits = [{ to = "party:uploader", share_bp = 5000 }]

[points."downloads"]
on = "charge"
service = "files.download"
points = 10

[badges."first-download"]
name = "First download"
emoji = "⬇️"
rule = { uses = 1, service = "files.download" }

[[levels]]
name = "Visitor"
points = 0

[[levels]]
name = "Member"
points = 20
"""


def _scenario(server: LiveServer) -> None:
    owner = server.client()
    for member in ("alice", "bob"):
        owner.create_member(member)
    owner.load_catalog(CATALOG, "toml")
    owner.grant("alice", 50, idempotency_key="g")
    for n in range(2):
        owner.charge("alice", "files.download", context={"uploader": "bob"},
                     idempotency_key=f"d{n}")
    server.community.award_achievements()  # what `jeton worker` does every two seconds

    mine = owner.achievements("alice")
    assert mine == server.community.achievements("alice")
    assert mine.points == 20
    assert mine.level is not None
    assert mine.level.name == "Member"
    assert [b.code for b in mine.badges if b.awarded_at is not None] == ["first-download"]

    board = owner.leaderboard("royalties", period="all")
    assert [(e.rank, e.member_id, e.total) for e in board.entries] == [(1, "bob", 4)]
    assert owner.leaderboard("points").window == server.community.leaderboard("points").window
    awards = owner.achievement_awards()
    assert {(a.member_id, a.kind, a.code) for a in awards} == {
        ("alice", "badge", "first-download"), ("alice", "level", "2")}
    assert [r.code for r in owner.achievement_rules().points] == ["downloads"]

    headers = {"Authorization": f"Bearer {server.api_key}"}
    raw = httpx.get(f"{server.base_url}/v1/leaderboards/points", params={"period": "month"},
                    headers=headers)
    assert raw.status_code == 200
    assert raw.json()["entries"][0] == {"rank": 1, "member_id": "alice", "name": "",
                                        "total": 20}
    unknown = httpx.get(f"{server.base_url}/v1/leaderboards/karma", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    bad = httpx.get(f"{server.base_url}/v1/leaderboards/points", params={"period": "year"},
                    headers=headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "value_invalid"
    nobody = httpx.get(f"{server.base_url}/v1/members/nobody/achievements", headers=headers)
    assert nobody.status_code == 404
    assert nobody.json()["code"] == "member_not_found"
    check_invariants(server.jeton.store)


def test_achievements_and_leaderboards_over_http(live_server: LiveServer) -> None:
    _scenario(live_server)


@pytest.mark.postgres
def test_achievements_and_leaderboards_over_http_on_postgresql(
        pg_live_server: LiveServer) -> None:
    _scenario(pg_live_server)
