"""The HTTP layer itself: problems, limits, rate limits, idempotency edge cases, and the client's
retries. Most run against the live server; the client's retries against a scripted transport."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from starlette.requests import Request

import jeton
from jeton.api.idempotency import path_and_query
from jeton.api.problems import HTTP_STATUS, problem_type
from jeton.core.errors import Conflict, InsufficientCredits, JetonError, error_for
from jeton.core.limits import api_body_bytes_max
from jeton.core.ratelimit import RateLimiter
from jeton.core.statuses import Status
from jeton.services.ledger.http_idempotency import _FIND as http_idempotency_find
from jeton.services.ledger.http_idempotency import Answer, HttpIdempotency, Outcome
from jeton.store.engine import Store
from jeton.store.fastsql import compiled
from jeton.store.tables.api import http_idempotency

from .conftest import LiveServer, run_live_server


def _auth(server: LiveServer, key: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key}", **({"Idempotency-Key": key} if key
                                                            else {})}


def test_every_status_has_an_http_status_and_a_stable_type() -> None:
    assert set(HTTP_STATUS) == set(Status) - {Status.ok}
    assert problem_type(Status.insufficient_credits) == "/problems/insufficient-credits"
    for status, (http_status, title) in HTTP_STATUS.items():
        assert 400 <= http_status < 600
        assert title
        # The class the client raises for a problem is the one the service raises in-process.
        assert isinstance(error_for(status, "x"), JetonError)


def test_a_decline_is_a_402_problem_with_balance_and_required(live_server: LiveServer) -> None:
    chat = live_server.client()
    chat.create_member("alice")
    chat.grant("alice", 2, idempotency_key="g")
    answer = httpx.post(f"{live_server.base_url}/v1/spends", headers=_auth(live_server, "s"),
                        json={"member": "alice", "amount": 5})
    assert answer.status_code == 402
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "/problems/insufficient-credits"
    assert problem["code"] == "insufficient_credits"
    assert (problem["balance"], problem["required"], problem["status"]) == (2, 5, 402)
    # A declined request keeps nothing: once topped up, the same key goes through.
    chat.grant("alice", 10, idempotency_key="top-up")
    again = httpx.post(f"{live_server.base_url}/v1/spends", headers=_auth(live_server, "s"),
                       json={"member": "alice", "amount": 5})
    assert again.status_code == 201


def test_decline_hooks_add_their_fields(tmp_path: object) -> None:
    from conftest import make_sqlite_store
    from jeton.api import routes

    def suggest(community: jeton.Community, error: JetonError) -> dict[str, object]:
        return {"suggested_packs": [{"id": "pack-20", "credits": 20}]}

    routes.DECLINE_HOOKS.append(suggest)
    store = make_sqlite_store(tmp_path / "jeton.db")  # type: ignore[operator]
    try:
        with run_live_server(store) as server:
            chat = server.client()
            chat.create_member("alice")
            with pytest.raises(InsufficientCredits) as declined:
                chat.spend("alice", 5, idempotency_key="s")
            assert declined.value.extra["suggested_packs"] == [{"id": "pack-20", "credits": 20}]
    finally:
        routes.DECLINE_HOOKS.remove(suggest)
        store.dispose()


def test_validation_errors_are_problems_naming_the_field(live_server: LiveServer) -> None:
    answer = httpx.post(f"{live_server.base_url}/v1/spends", headers=_auth(live_server, "v-1"),
                        json={"member": "alice", "amount": "5"})
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "amount_invalid"  # as in-process: one vocabulary
    assert problem["errors"][0]["loc"] == ["body", "amount"]
    answer = httpx.post(f"{live_server.base_url}/v1/spends", headers=_auth(live_server, "v-2"),
                        json={"member": "alice", "amount": 1, "colour": "red"})
    assert answer.json()["code"] == "value_invalid"
    unknown = httpx.get(f"{live_server.base_url}/v1/members?limt=5", headers=_auth(live_server))
    assert unknown.status_code == 422
    assert "limt" in unknown.json()["detail"]


def test_a_json_body_sent_without_its_content_type_is_refused_saying_so(
        live_server: LiveServer) -> None:
    """What curl's `-d` sends without `-H "Content-Type: application/json"`: a form type."""
    headers = {"Authorization": f"Bearer {live_server.api_key}",
               "Content-Type": "application/x-www-form-urlencoded"}
    answer = httpx.post(f"{live_server.base_url}/v1/ping", headers=headers,
                        content=b'{"message":"hello"}')
    assert answer.status_code == 422
    assert answer.json()["code"] == "value_invalid"
    assert ("read as JSON only when sent with Content-Type: application/json; this request's "
            "is 'application/x-www-form-urlencoded'") in answer.json()["detail"]
    sent_as_json = httpx.post(f"{live_server.base_url}/v1/ping", headers=headers | {
        "Content-Type": "application/json"}, content=b'{"message":"hello"}')
    assert sent_as_json.status_code == 200
    wrong_field = httpx.post(f"{live_server.base_url}/v1/ping", headers=headers | {
        "Content-Type": "application/json"}, content=b'{"message":7}')
    assert "Content-Type" not in wrong_field.json()["detail"]  # a JSON body's own error


def test_a_body_over_the_limit_is_refused_before_it_is_read(live_server: LiveServer) -> None:
    answer = httpx.post(f"{live_server.base_url}/v1/members", headers=_auth(live_server),
                        content=b"{" + b" " * api_body_bytes_max + b"}")
    assert answer.status_code == 413
    assert answer.json()["code"] == "request_too_large"

    def chunks() -> object:
        for _ in range(api_body_bytes_max // 65_536 + 2):
            yield b" " * 65_536

    streamed = httpx.post(f"{live_server.base_url}/v1/members", headers=_auth(live_server),
                          content=chunks())  # type: ignore[arg-type]
    assert streamed.status_code == 413


def test_a_wrong_method_is_405_with_every_allowed_method(live_server: LiveServer) -> None:
    answer = httpx.delete(f"{live_server.base_url}/v1/members", headers=_auth(live_server))
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"


def test_a_post_without_idempotency_key_gets_one_made_by_the_server(
        live_server: LiveServer) -> None:
    # Only where nothing moves credits or money; there a key is required (400 without).
    chat = live_server.client()
    chat.create_member("alice")
    pack = {"name": "Twenty", "credits": 20, "price_minor": 600}
    first = httpx.post(f"{live_server.base_url}/v1/packs", headers=_auth(live_server),
                       json=pack)
    second = httpx.post(f"{live_server.base_url}/v1/packs", headers=_auth(live_server),
                        json=pack)
    assert first.status_code == second.status_code == 201
    assert first.headers["idempotency-key"] != second.headers["idempotency-key"]
    assert len(chat.list_packs()) == 2  # no protection: two requests, two packs
    refused = httpx.post(f"{live_server.base_url}/v1/grants", headers=_auth(live_server),
                         json={"member": "alice", "amount": 1})
    assert refused.status_code == 400
    assert chat.balance("alice").posted == 0
    bad = httpx.post(f"{live_server.base_url}/v1/grants", headers=_auth(live_server, "x" * 256),
                     json={"member": "alice", "amount": 1})
    assert bad.status_code == 422


@pytest.mark.parametrize(("path", "query"), [
    ("/v1/charges", b""), ("/v1/holds/h 1/capture", b"x=1&y=%20"), ("/v1/a?b#c\\d", b""),
    ("//v1/charges", b"q"), ("/v1/m\u00e9mbers/\u00e9", "\u00e9=1".encode()),
])
def test_a_requests_path_and_query_for_its_digest_are_what_its_url_names(
        path: str, query: bytes) -> None:
    # The digest's path and query come off the scope; they must be what Starlette's URL says,
    # or a key answered before would no longer match the same request.
    scope = {"type": "http", "method": "POST", "scheme": "http", "path": path,
             "query_string": query, "headers": [(b"host", b"127.0.0.1:8000")],
             "server": ("127.0.0.1", 8000)}
    url = Request(scope).url
    assert path_and_query(scope) == (url.path, url.query)


def test_rate_limit_answers_429_with_retry_after(tmp_path: object) -> None:
    from conftest import make_sqlite_store

    store = make_sqlite_store(tmp_path / "jeton.db")  # type: ignore[operator]
    try:
        with run_live_server(store, rate_per_s=0.5, rate_burst=3) as server:
            statuses = [httpx.get(f"{server.base_url}/v1/community",
                                  headers=_auth(server)).status_code for _ in range(3)]
            limited = httpx.get(f"{server.base_url}/v1/community", headers=_auth(server))
            assert statuses == [200, 200, 200]
            assert limited.status_code == 429
            assert limited.headers["retry-after"] == "2"
            assert limited.json()["code"] == "rate_limited"
    finally:
        store.dispose()


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, monotonic=lambda: now[0])
    assert [limiter.take("k") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("k") == pytest.approx(0.5)
    assert limiter.take("other") == 0.0  # each key has its own bucket
    now[0] = 1.0
    assert limiter.take("k") == 0.0


def test_a_key_is_in_flight_only_while_its_request_runs(sqlite_store: Store) -> None:
    kept = HttpIdempotency(sqlite_store)
    ok = Answer(201, "application/json", '{"ok": 1}')
    assert kept.claim("c", "k", "POST /v1/spends", "digest").outcome is Outcome.claimed
    assert kept.claim("c", "k", "POST /v1/spends", "digest").outcome is Outcome.in_flight
    assert kept.claim("c", "k", "POST /v1/spends", "other").outcome is Outcome.mismatch
    assert kept.claim("c2", "k", "POST /v1/spends", "digest").outcome is Outcome.claimed
    assert kept.finish("c", "k", "POST /v1/spends", "digest", ok) is None  # ours is kept
    replay = kept.claim("c", "k", "POST /v1/spends", "digest")
    assert (replay.outcome, replay.answer) == (Outcome.replay, ok)
    assert kept.claim("c", "k", "POST /v1/spends", "other").outcome is Outcome.mismatch
    assert kept.claim("c", "k", "POST /v1/holds", "digest").outcome is Outcome.mismatch


def test_a_failed_request_leaves_nothing_behind(sqlite_store: Store) -> None:
    kept = HttpIdempotency(sqlite_store)
    assert kept.claim("c", "k", "POST /v1/spends", "digest").outcome is Outcome.claimed
    assert kept.finish("c", "k", "POST /v1/spends", "digest", None) is None
    assert kept.claim("c", "k", "POST /v1/spends", "other").outcome is Outcome.claimed
    with sqlite_store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM http_idempotency").scalar_one() == 0


def test_a_copy_that_arrives_while_another_reads_the_kept_answer_gets_the_same_outcome(
        sqlite_store: Store) -> None:
    kept = HttpIdempotency(sqlite_store)
    kept.claim("c", "k", "POST /v1/spends", "first")
    kept.finish("c", "k", "POST /v1/spends", "first", Answer(201, "application/json", "{}"))
    reading, go_on = threading.Event(), threading.Event()
    find = kept._find

    def slow_find(space: str, key: str) -> Any:
        reading.set()
        go_on.wait(10)
        return find(space, key)

    kept._find = slow_find  # type: ignore[method-assign]
    outcomes: list[Outcome] = []
    early = threading.Thread(target=lambda: outcomes.append(
        kept.claim("c", "k", "POST /v1/spends", "second").outcome))
    early.start()
    assert reading.wait(10)
    late = threading.Thread(target=lambda: outcomes.append(
        kept.claim("c", "k", "POST /v1/spends", "second").outcome))
    late.start()
    late.join(0.2)
    assert late.is_alive()  # it waits for the first copy's reading, not "in flight"
    kept._find = find  # type: ignore[method-assign]
    go_on.set()
    early.join(10)
    late.join(10)
    assert outcomes == [Outcome.mismatch, Outcome.mismatch]


def test_when_two_processes_answer_one_key_the_first_answer_is_sent(sqlite_store: Store) -> None:
    here, there = HttpIdempotency(sqlite_store), HttpIdempotency(sqlite_store)
    first = Answer(201, "application/json", '{"replayed": false}')
    second = Answer(201, "application/json", '{"replayed": true}')
    for kept in (here, there):
        assert kept.claim("c", "k", "POST /v1/spends", "digest").outcome is Outcome.claimed
    assert there.finish("c", "k", "POST /v1/spends", "digest", first) is None
    assert here.finish("c", "k", "POST /v1/spends", "digest", second) == first
    assert here.claim("c", "k", "POST /v1/spends", "digest").answer == first
    # another request that ran under the key (its service refused or ran it) keeps its own
    assert here.claim("c", "k2", "POST /v1/spends", "a").outcome is Outcome.claimed
    assert there.claim("c", "k2", "POST /v1/spends", "b").outcome is Outcome.claimed
    assert there.finish("c", "k2", "POST /v1/spends", "b", first) is None
    assert here.finish("c", "k2", "POST /v1/spends", "a", second) is None


def test_dashboard_is_served_beside_the_api(tmp_path: object) -> None:
    from conftest import make_sqlite_store

    store = make_sqlite_store(tmp_path / "jeton.db")  # type: ignore[operator]
    try:
        # The first page and the schema are built on first use: on a busy machine that took
        # longer than httpx's 5 s default.
        with run_live_server(store, include_web=True) as server, \
                httpx.Client(base_url=server.base_url, timeout=30) as client:
            assert client.get("/admin/sign-in").status_code == 200
            assert client.get("/healthz").status_code == 200
            schema = client.get("/openapi.json").json()
            assert not [p for p in schema["paths"] if p.startswith("/admin")]
    finally:
        store.dispose()


# ---- the client's retries, against a scripted server ----

def _scripted(answers: list[httpx.Response | Exception]) -> tuple[httpx.MockTransport,
                                                                  list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


_MEMBER = {"id": "alice", "name": "", "email": None, "metadata": {},
           "created_at": "2026-01-01T00:00:00Z"}


def _problem(status: Status, http_status: int, **extra: object) -> httpx.Response:
    return httpx.Response(http_status, json={"type": problem_type(status), "title": "t",
                                             "status": http_status, "detail": "d",
                                             "code": status.value, **extra},
                          headers={"content-type": "application/problem+json",
                                   "retry-after": "0"})


def test_client_retries_with_the_same_idempotency_key() -> None:
    transport, seen = _scripted([
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        _problem(Status.internal_error, 503),
        _problem(Status.request_in_flight, 409),
        httpx.Response(201, json=_MEMBER),
    ])
    client = jeton.Client("http://127.0.0.1:9", "key", transport=transport, max_retries=4)
    with client:
        assert client.create_member("alice").id == "alice"
    assert len(seen) == 5
    assert len({r.headers["idempotency-key"] for r in seen}) == 1


def test_client_gives_up_after_max_retries_and_raises_the_problem() -> None:
    transport, seen = _scripted([_problem(Status.rate_limited, 429) for _ in range(3)])
    with jeton.Client("http://127.0.0.1:9", "key", transport=transport,
                      max_retries=2) as client, pytest.raises(JetonError) as failed:
        client.get_member("alice")
    assert failed.value.status is Status.rate_limited
    assert len(seen) == 3


def test_client_never_retries_a_decline() -> None:
    transport, seen = _scripted([_problem(Status.already_reversed, 409)])
    with jeton.Client("http://127.0.0.1:9", "key", transport=transport) as client, \
            pytest.raises(Conflict) as refused:
        client.reverse("t", idempotency_key="r")
    assert refused.value.status is Status.already_reversed
    assert len(seen) == 1


def test_client_flags_http_replays_like_ledger_replays() -> None:
    transport, _ = _scripted([httpx.Response(201, json={
        "id": "t", "kind": "grant", "asset": "CREDIT", "amount": 1, "postings": [], "lots": [],
        "effective_at": "2026-01-01T00:00:00Z"}, headers={"idempotent-replayed": "true"})])
    with jeton.Client("http://127.0.0.1:9", "key", transport=transport) as client:
        assert client.grant("alice", 1, idempotency_key="g").replayed


@pytest.mark.postgres
def test_a_kept_answer_is_found_by_its_key_on_a_new_table(pg_store: Store) -> None:
    """A new database has no statistics: the lookup by key must still use the primary key, not
    read every answer of the community (it did, through the purge job's index)."""
    kept = HttpIdempotency(pg_store)
    with pg_store.write() as conn:  # 1,000 answers, as a busy hour leaves them
        conn.execute(http_idempotency.insert(), [
            {"community_id": "c", "key": f"k{i}", "method_path": "POST /v1/spends",
             "request_sha256": "d", "status_code": 201, "content_type": "application/json",
             "response_body": "{}", "created_at_us": 1_700_000_000_000_000 + i}
            for i in range(1000)])
    with pg_store.read() as conn:
        plan = "\n".join(conn.exec_driver_sql(
            "EXPLAIN " + compiled(http_idempotency_find, "postgresql"),
            {"space": "c", "key": "k7"}).scalars())
    assert "pk_http_idempotency" in plan, plan
    assert kept.claim("c", "k7", "POST /v1/spends", "d").outcome is Outcome.replay


def test_a_ledger_routes_claim_reads_nothing_and_never_waits(sqlite_store: Store) -> None:
    kept = HttpIdempotency(sqlite_store)

    def no_read(space: str, key: str) -> Any:
        raise AssertionError("a ledger route's claim read the kept answers")

    kept.claim("c", "k", "POST /v1/members", "m")  # another route's copy, still being checked
    kept._find = no_read  # type: ignore[method-assign]
    kept._running[("c", "k")].checked = False
    charge = kept.claim("c", "k", "POST /v1/charges", "d", ledger_keeps=True)
    assert charge.outcome is Outcome.mismatch  # at once: no wait for the other copy's read
    assert kept.claim("c", "k2", "POST /v1/charges", "d", ledger_keeps=True).outcome is (
        Outcome.claimed)
    assert kept.claim("c", "k2", "POST /v1/charges", "d", ledger_keeps=True).outcome is (
        Outcome.in_flight)


@pytest.mark.parametrize("sql_spend", [False, True])
def test_a_ledger_write_under_a_key_another_route_answered_is_a_conflict(
        store: Store, sql_spend: bool) -> None:
    """The answer kept for another route leaves a marker among the ledger's keys: a spend (in
    Python or, on PostgreSQL, in SQL), a charge or a grant under that key is refused and
    writes nothing."""
    if sql_spend and store.dialect != "postgresql":
        pytest.skip("the SQL spend is PostgreSQL's")
    j = jeton.Jeton(store)
    j.ledger.spend_in_sql = sql_spend
    chat = j.create_community("Chat", "chat")
    chat.create_member("alice")
    chat.grant("alice", 10, idempotency_key="seed")
    kept = HttpIdempotency(store)
    assert kept.claim("chat", "k", "POST /v1/members", "m").outcome is Outcome.claimed
    assert kept.finish("chat", "k", "POST /v1/members", "m",
                       Answer(201, "application/json", '{"id": "bob"}')) is None
    with pytest.raises(jeton.IdempotencyConflict):
        chat.spend("alice", 1, idempotency_key="k")
    with pytest.raises(jeton.IdempotencyConflict):
        chat.grant("alice", 1, idempotency_key="k")
    assert chat.balance("alice").available == 10
    # the operator's answers are not a community's keys: they leave no marker
    assert kept.claim("~operator", "k2", "POST /v1/communities", "o").outcome is Outcome.claimed
    kept.finish("~operator", "k2", "POST /v1/communities", "o", Answer(201, "text/plain", "x"))
    assert chat.spend("alice", 1, idempotency_key="k2").amount == 1


def test_a_charge_reusing_the_key_of_another_posts_answer_is_refused(
        live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {live_server.api_key}", "Idempotency-Key": "reused"}
    chat = live_server.client()
    chat.create_member("alice")
    chat.grant("alice", 10, idempotency_key="seed")
    made = httpx.post(f"{live_server.base_url}/v1/members", headers=headers, json={"id": "bob"})
    assert made.status_code == 201, made.text
    spent = httpx.post(f"{live_server.base_url}/v1/spends", headers=headers,
                       json={"member": "alice", "amount": 1})
    assert spent.status_code == 422, spent.text
    assert spent.json()["code"] == "idempotency_conflict"
    assert "(another API request)" in spent.json()["detail"]
    assert chat.balance("alice").available == 10
