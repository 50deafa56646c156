"""An idempotency storm: every kind of POST sent 2-10 times at once with one `Idempotency-Key`,
some copies with another body.

Whichever request claims the key first wins: it runs once and every copy of it gets its answer,
byte for byte, or "still in flight" (409) while it runs; copies with the other body are refused
(422). Afterwards the ledger shows the effect exactly once, and sending the winner again replays
it (`Idempotent-Replayed: true`) while the loser is still refused.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from jeton.core.errors import NotFound

from .conftest import LiveServer

# Answers that show a secret once; their replays show `token: null` (docs/api/README.md).
SECRET_FIELDS = ("token",)


@dataclass
class Kind:
    name: str
    path: str
    body: dict[str, Any]
    other: dict[str, Any]
    check: Callable[[dict[str, Any]], None]  # given the winning body: its effect, once
    token: str | None = None  # the admin key unless set


def _normalized(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()

    def drop(value: Any) -> Any:
        # A replay says `replayed: true` where the first answer said false; the rest is equal.
        if isinstance(value, dict):
            return {k: drop(v) for k, v in value.items()
                    if k not in SECRET_FIELDS and k != "replayed"}
        return value

    return response.status_code, drop(body)


def _storm(base: str, token: str, kind: Kind, copies: int, others: int,
           ) -> list[tuple[int, httpx.Response]]:
    barrier = threading.Barrier(copies)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"storm-{kind.name}"}

    def send(i: int) -> tuple[int, httpx.Response]:
        variant = 1 if i < others else 0
        barrier.wait(timeout=10)
        with httpx.Client(timeout=30) as http:
            return variant, http.post(base + kind.path, headers=headers,
                                      json=kind.other if variant else kind.body)

    with ThreadPoolExecutor(copies) as pool:
        return list(pool.map(send, range(copies)))


def _kinds(server: LiveServer) -> tuple[list[Kind], Callable[[], None]]:
    """The kinds of POST, and what to call before each storm (notes the balances then)."""
    chat = server.community
    chat.create_member("alice")
    chat.create_member("bob")
    chat.grant("alice", 1_000, idempotency_key="setup-grant")
    capture_hold = chat.hold("alice", 50, idempotency_key="setup-hold-1")
    void_hold = chat.hold("alice", 50, idempotency_key="setup-hold-2")
    to_reverse = chat.grant("bob", 30, idempotency_key="setup-grant-bob")
    spare_key = server.client().create_api_key("spare", ["members:read"])
    before: dict[str, int] = {}

    def note_balances() -> None:
        before["alice"] = chat.balance("alice").posted
        before["pending"] = chat.balance("alice").pending

    def alice_moved(by: Callable[[dict[str, Any]], int]) -> Callable[[dict[str, Any]], None]:
        def check(body: dict[str, Any]) -> None:
            assert chat.balance("alice").posted - before["alice"] == by(body)
        return check

    def member(body: dict[str, Any]) -> None:
        assert chat.get_member("storm-member").name == body.get("name", "")

    def hold_made(body: dict[str, Any]) -> None:
        assert chat.balance("alice").pending - before["pending"] == body["amount"]

    def captured(body: dict[str, Any]) -> None:
        assert chat.get_hold(capture_hold.id).captured == body["amount"]
        assert before["alice"] - chat.balance("alice").posted == body["amount"]

    def voided(body: dict[str, Any]) -> None:
        assert chat.get_hold(void_hold.id).status == "voided"

    def reversed_once(body: dict[str, Any]) -> None:
        reversals = [line for line in chat.statement("bob").data if line.kind == "reversal"]
        assert len(reversals) == 1
        assert reversals[0].memo == body.get("memo", "")

    def credit_line(body: dict[str, Any]) -> None:
        assert chat.balance("bob").available == chat.balance("bob").posted - body["floor"]

    def asset(body: dict[str, Any]) -> None:
        assert {a.code: a.scale for a in chat.assets()}["POINTS"] == body.get("scale", 0)

    def account(body: dict[str, Any]) -> None:
        chat.account_balance(body["name"])
        other = "tips" if body["name"] == "fees" else "fees"
        with pytest.raises(NotFound):
            chat.account_balance(other)

    def key_made(body: dict[str, Any]) -> None:
        named = [k for k in server.client().list_api_keys(limit=500).data
                 if k.name.startswith("storm")]
        assert [k.name for k in named] == [body["name"]]

    def revoked(body: dict[str, Any]) -> None:
        keys = {k.id: k for k in server.client().list_api_keys(limit=500).data}
        assert keys[spare_key.id].revoked_at is not None

    def community(body: dict[str, Any]) -> None:
        made = [c for c in server.jeton.communities() if c.id == "storm"]
        assert [c.name for c in made] == [body["name"]]

    kinds = [
        Kind("member", "/v1/members", {"id": "storm-member"},
             {"id": "storm-member", "name": "Someone else"}, member),
        Kind("grant", "/v1/grants", {"member": "alice", "amount": 10},
             {"member": "alice", "amount": 11}, alice_moved(lambda b: b["amount"])),
        Kind("spend", "/v1/spends", {"member": "alice", "amount": 3},
             {"member": "alice", "amount": 4}, alice_moved(lambda b: -b["amount"])),
        Kind("batch", "/v1/spends/batch",
             {"items": [{"member": "alice", "amount": 1, "idempotency_key": "storm-item"}]},
             {"items": [{"member": "alice", "amount": 2, "idempotency_key": "storm-item"}]},
             alice_moved(lambda b: -b["items"][0]["amount"])),
        Kind("transfer", "/v1/transfers", {"from_member": "alice", "to_member": "bob",
                                           "amount": 5},
             {"from_member": "alice", "to_member": "bob", "amount": 6},
             alice_moved(lambda b: -b["amount"])),
        Kind("hold", "/v1/holds", {"member": "alice", "amount": 7},
             {"member": "alice", "amount": 8}, hold_made),
        Kind("capture", f"/v1/holds/{capture_hold.id}/capture", {"amount": 2, "final": False},
             {"amount": 3, "final": False}, captured),
        Kind("void", f"/v1/holds/{void_hold.id}/void", {}, {"actor": "someone"}, voided),
        Kind("reverse", f"/v1/transfers/{to_reverse.id}/reverse", {}, {"memo": "other"},
             reversed_once),
        Kind("credit_line", "/v1/members/bob/credit_line", {"floor": -5}, {"floor": -6},
             credit_line),
        Kind("asset", "/v1/assets", {"code": "POINTS"}, {"code": "POINTS", "scale": 2}, asset),
        Kind("account", "/v1/accounts", {"name": "fees"}, {"name": "tips"}, account),
        Kind("api_key", "/v1/api_keys", {"name": "storm", "scopes": ["members:read"]},
             {"name": "storm too", "scopes": ["members:read"]}, key_made),
        Kind("revoke", f"/v1/api_keys/{spare_key.id}/revoke", {}, {"unexpected": True},
             revoked),
        Kind("community", "/v1/communities", {"id": "storm", "name": "Storm"},
             {"id": "storm", "name": "Storm two"}, community, token=server.operator_token),
    ]
    return kinds, note_balances


@pytest.mark.parametrize("server_fixture", [
    "live_server", pytest.param("pg_live_server", marks=pytest.mark.postgres)])
def test_each_post_takes_effect_once_whatever_the_storm(server_fixture: str,
                                                        request: pytest.FixtureRequest) -> None:
    live_server: LiveServer = request.getfixturevalue(server_fixture)
    base = live_server.base_url
    kinds, note_balances = _kinds(live_server)
    for number, kind in enumerate(kinds):
        note_balances()
        copies = 2 + number % 9  # 2..10
        others = copies // 3
        token = kind.token or live_server.api_key
        answers = _storm(base, token, kind, copies, others)

        won = [(variant, r) for variant, r in answers if r.is_success]
        assert won, (kind.name, [(r.status_code, r.text) for _, r in answers])
        winners = {variant for variant, _ in won}
        assert len(winners) == 1, (kind.name, "both bodies took effect")
        winner = winners.pop()
        assert len({json.dumps(_normalized(r), sort_keys=True) for _, r in won}) == 1, kind.name
        for variant, r in answers:
            if r.is_success:
                continue
            code = r.json()["code"]
            if variant == winner:
                assert (r.status_code, code) == (409, "request_in_flight"), (kind.name, r.text)
            else:
                assert (r.status_code, code) == (422, "idempotency_conflict"), (kind.name, r.text)

        # Once the storm is over: the effect is there once, a replay is identical, no 409.
        winning_body = kind.other if winner else kind.body
        kind.check(winning_body)
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"storm-{kind.name}"}
        replay = httpx.post(base + kind.path, headers=headers, json=winning_body)
        assert replay.headers.get("idempotent-replayed") == "true", (kind.name, replay.text)
        assert _normalized(replay) == _normalized(won[0][1]), kind.name
        loser = httpx.post(base + kind.path, headers=headers,
                           json=kind.body if winner else kind.other)
        assert loser.status_code == 422, (kind.name, loser.text)
        kind.check(winning_body)  # nothing more happened


def test_a_first_answer_with_replayed_in_its_metadata_is_not_flagged_a_replay(
        live_server: LiveServer) -> None:
    c = live_server.community
    c.create_member("meta")
    c.grant("meta", 10, idempotency_key="meta-seed")
    headers = {"Authorization": f"Bearer {live_server.api_key}", "Idempotency-Key": "meta-1"}
    body = {"member": "meta", "amount": 1, "metadata": {"replayed": True}}
    first = httpx.post(live_server.base_url + "/v1/spends", headers=headers, json=body)
    assert first.status_code == 201, first.text
    assert first.headers.get("idempotent-replayed") is None
    assert first.json()["replayed"] is False
    again = httpx.post(live_server.base_url + "/v1/spends", headers=headers, json=body)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["replayed"] is True
