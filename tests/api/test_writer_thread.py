"""The routes that are one ledger write run on one writer thread, in batches that commit once,
and each request is answered only after the commit that holds its write (api/writer.py,
decision 0117 for SQLite, 0119 for PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Connection

from conftest import check_invariants
from jeton.api.routes import charges
from jeton.api.writer import Writer
from jeton.services.bench.charging import CATALOG, DOWNLOAD_BYTES
from jeton.services.charging.together import charge_together
from jeton.services.ledger.batches import BatchWriter
from jeton.store.engine import Store

from .conftest import LiveServer

pytestmark = pytest.mark.timeout(120)

CONNECTIONS = 16


def _batch_writer(server: LiveServer) -> BatchWriter:
    writer: Writer = server.app.state.jeton_api.writer
    assert writer.batches is not None
    return writer.batches


def _batches(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batches the server's writer runs from now on."""
    batches = _batch_writer(server)
    sizes: list[int] = []
    run_batch = batches._run_batch

    def counted(items: list[Any]) -> None:
        sizes.append(len(items))
        run_batch(items)

    monkeypatch.setattr(batches, "_run_batch", counted)
    return sizes


def _reached(server: LiveServer, sizes: list[int], n: int) -> None:
    """Wait until `n` requests have reached the server's writer: queued, or in its batches."""
    batches = _batch_writer(server)
    deadline = time.monotonic() + 30
    while batches._queue.qsize() + sum(sizes) < n:
        assert time.monotonic() < deadline, "the requests never reached the writer"
        time.sleep(0.01)


def _together(server: LiveServer, posts: list[tuple[str, dict[str, Any], str]],
              sizes: list[int], held: Callable[[], None],
              lock: Any = "sqlite") -> list[httpx.Response]:
    """Send `posts` (path, body, key) at once, each on a connection of its own, while the
    writer waits for the database (SQLite's lock taken here; `lock` None: the caller holds
    the writer), then call `held` and let it go."""
    answers: list[httpx.Response | None] = [None] * len(posts)
    headers = {"Authorization": f"Bearer {server.api_key}"}

    def send(i: int) -> None:
        path, body, key = posts[i]
        answers[i] = httpx.post(f"{server.base_url}{path}", json=body, timeout=60,
                                headers={**headers, "Idempotency-Key": key})

    with server.jeton.store._sqlite_write_lock if lock else contextlib.nullcontext():
        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(posts))]
        for t in threads:
            t.start()
        _reached(server, sizes, len(posts) + (0 if lock else 1))  # the first batch waits
        held()
    for t in threads:
        t.join()
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def _seeded(server: LiveServer) -> list[str]:
    chat = server.client()
    names = [f"m{i}" for i in range(CONNECTIONS)]
    for name in names:
        chat.create_member(name)
        if name != "m0":  # m0 has nothing to spend
            chat.grant(name, 100, idempotency_key=f"seed-{name}")
    return names


@pytest.fixture
def members(live_server: LiveServer) -> list[str]:
    return _seeded(live_server)


def _spends_made_together(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many spends each group the server's writer made together made (`spend_together`)."""
    made: list[int] = []
    ledger = server.jeton.ledger
    spend_together = ledger.spend_together

    def counted(*args: Any, **kwargs: Any) -> list[Any]:
        found = spend_together(*args, **kwargs)
        made.append(sum(1 for f in found if f is not None))
        return found

    monkeypatch.setattr(ledger, "spend_together", counted)
    return made


def test_concurrent_writes_share_a_commit_and_each_answers_its_own(
        live_server: LiveServer, members: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = _batches(live_server, monkeypatch)
    made = _spends_made_together(live_server, monkeypatch)
    posts = [("/v1/spends", {"member": name, "amount": 7}, f"spend-{name}")
             for name in members]
    answers = _together(live_server, posts, sizes, lambda: None)
    by_member = {name: a for name, a in zip(members, answers, strict=True)}
    assert by_member["m0"].status_code == 402, by_member["m0"].text  # its own decline
    assert by_member["m0"].json()["code"] == "insufficient_credits"
    for name in members[1:]:
        assert by_member[name].status_code == 201, by_member[name].text
        assert by_member[name].json()["balance_after"] == 93
    assert sum(sizes) == len(posts)
    assert max(sizes) > 1  # some shared one commit
    assert max(made) > 1  # and were made together (decision 0121): all but m0's decline and
    assert len(posts) - 1 - sizes[0] <= sum(made) <= len(posts) - 1  # the first batch's
    community = live_server.community
    assert [community.balance(name).available for name in members] == [0] + [93] * 15
    check_invariants(live_server.jeton.store, live_server.community_id)


def test_no_request_of_a_batch_whose_commit_fails_is_answered_as_done(
        live_server: LiveServer, members: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    store = live_server.jeton.store
    end = store._sqlite_end
    failures: list[str] = []

    def failing_commit(conn: Connection, *, failed: bool = False) -> None:
        if not failed and threading.current_thread().name == "jeton-writer" and not failures:
            failures.append("commit")
            end(conn, failed=True)
            raise sqlite3.OperationalError("disk I/O error")
        end(conn, failed=failed)

    registry = live_server.app.state.jeton_api.metrics.registry

    def spends_counted() -> float:
        return registry.get_sample_value("jeton_charges_total", {"kind": "spend"}) or 0.0

    posts = [("/v1/spends", {"member": name, "amount": 5}, f"spend-{name}")
             for name in members]
    sizes = _batches(live_server, monkeypatch)
    answers = _together(live_server, posts, sizes,
                        lambda: monkeypatch.setattr(store, "_sqlite_end", failing_commit))
    failed_batch = sizes[0]
    assert len([a for a in answers if a.status_code >= 500]) == failed_batch >= 1
    done = [a for a in answers if a.status_code == 201]
    assert len(done) + failed_batch + (answers[0].status_code == 402) == len(members)
    balances = [live_server.community.balance(name).available for name in members]
    assert sum(balances) == 15 * 100 - 5 * len(done)  # none of the failed batch's spends
    assert spends_counted() == len(done)  # nor counted
    # The same requests again: the failed ones are done now, the others answer as before.
    headers = {"Authorization": f"Bearer {live_server.api_key}"}
    for path, body, key in posts:
        again = httpx.post(f"{live_server.base_url}{path}", json=body, timeout=60,
                           headers={**headers, "Idempotency-Key": key})
        assert again.status_code == (402 if body["member"] == "m0" else 201), again.text
    assert [live_server.community.balance(name).available for name in members] == \
        [0] + [95] * 15
    assert spends_counted() == 15
    check_invariants(store, live_server.community_id)


@pytest.fixture
def probe_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'writer.db'}")
    store.create_schema()
    with store.write() as conn:
        conn.exec_driver_sql("CREATE TABLE probe (n INTEGER)")
    yield store
    store.dispose()


WHO = contextvars.ContextVar("who", default="nobody")


def _insert(store: Store, n: int) -> tuple[str, str]:
    store.run_write(lambda conn: conn.exec_driver_sql("INSERT INTO probe VALUES (?)", (n,)))
    return threading.current_thread().name, WHO.get()


def test_the_writer_runs_in_the_callers_context_and_ends_when_idle(probe_store: Store) -> None:
    writer = Writer(probe_store)
    assert writer.batches is not None
    writer.batches.idle_s = 0.2

    async def call(n: int) -> tuple[str, str]:
        WHO.set(f"caller {n}")
        return await writer.run(_insert, store=probe_store, n=n)  # type: ignore[no-any-return]

    assert asyncio.run(call(1)) == ("jeton-writer", "caller 1")
    deadline = time.monotonic() + 10
    while writer.batches._thread is not None:  # no request for idle_s: the thread is gone
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert asyncio.run(call(2)) == ("jeton-writer", "caller 2")  # and starts again
    with probe_store.read() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT n FROM probe ORDER BY n")] == [1, 2]


def test_a_failed_commit_gives_each_call_of_its_batch_its_own_error(
        probe_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each request raises its error on its own task: one exception object shared by all
    # would gather every request's traceback.
    end = probe_store._sqlite_end

    def failing_commit(conn: Connection, *, failed: bool = False) -> None:
        end(conn, failed=True)
        if not failed:
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(probe_store, "_sqlite_end", failing_commit)
    outcomes: list[tuple[bool, Any]] = []
    BatchWriter(probe_store)._run_batch(
        [(lambda n=n: _insert(probe_store, n), lambda ok, value: outcomes.append((ok, value)),
          None, None) for n in range(3)])
    errors = [value for ok, value in outcomes if not ok]
    assert len(errors) == 3
    assert len({id(e) for e in errors}) == 3
    assert all(isinstance(e, sqlite3.OperationalError) and str(e) == "disk I/O error"
               for e in errors)
    with probe_store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM probe").scalar() == 0


@pytest.mark.postgres
def test_on_postgresql_concurrent_writes_share_a_transaction_and_each_answers_its_own(
        pg_live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on SQLite, in one transaction of PostgreSQL (decision 0119): each write under its
    # savepoint, so m0's decline is its own, and every wallet locked first in one order.
    names = _seeded(pg_live_server)
    sizes = _batches(pg_live_server, monkeypatch)
    made = _spends_made_together(pg_live_server, monkeypatch)
    gate = threading.Event()
    _batch_writer(pg_live_server).submit(gate.wait, lambda ok, value: None)  # holds it
    posts = [("/v1/spends", {"member": name, "amount": 7,
                             "splits": [{"member": names[(k + 1) % len(names)], "amount": 2}]},
              f"spend-{name}") for k, name in enumerate(names)]
    answers = _together(pg_live_server, posts, sizes, gate.set, lock=None)
    by_member = {name: a for name, a in zip(names, answers, strict=True)}
    assert by_member["m0"].status_code == 402, by_member["m0"].text
    for name in names[1:]:
        assert by_member[name].status_code == 201, by_member[name].text
    assert max(sizes) > 1  # some shared one transaction
    assert max(made) > 1  # made together (decision 0121)
    assert sum(made) == len(names) - 1  # but m0's decline, made alone
    community = pg_live_server.community
    # each but m0 paid 7 and got 2 from the member before it (m0's split to m1 was declined)
    assert [community.balance(name).available for name in names] == \
        [2] + [93] + [95] * 14
    check_invariants(pg_live_server.jeton.store, pg_live_server.community_id)


@pytest.mark.parametrize("server_fixture", ["live_server", "pg_live_server"])
def test_charges_waiting_together_are_made_together_and_each_answers_its_own(
        server_fixture: str, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Decisions 0120 and 0121: the charges of one batch are planned together (on PostgreSQL,
    # two round trips for all); m0's decline is left to be made alone (its 402, its event),
    # as is a replay.
    server: LiveServer = request.getfixturevalue(server_fixture)
    names = _seeded(server)
    community = server.community
    community.create_account("appstore")
    community.create_member("uploader")
    community.load_catalog(CATALOG, "toml", actor="test")
    made: list[int] = []

    def counted(*args: Any) -> list[Any]:
        found = charge_together(*args)
        made.append(sum(1 for f in found if f is not None))
        return found

    monkeypatch.setattr(charges, "charge_together", counted)
    sizes = _batches(server, monkeypatch)
    gate = threading.Event()
    _batch_writer(server).submit(gate.wait, lambda ok, value: None)  # holds it
    body = {"service": "bench.download", "quantity": DOWNLOAD_BYTES,
            "context": {"uploader": "uploader"}}
    posts = [("/v1/charges", {**body, "member": name}, f"charge-{name}") for name in names]
    answers = _together(server, posts, sizes, gate.set, lock=None)
    by_member = {name: a for name, a in zip(names, answers, strict=True)}
    assert by_member["m0"].status_code == 402, by_member["m0"].text
    assert by_member["m0"].json()["code"] == "insufficient_credits"
    for name in names[1:]:
        assert by_member[name].status_code == 201, by_member[name].text
        assert by_member[name].json()["balance_after"] == 80  # 10 KiB at 2 credits
    assert max(made) > 1  # some together
    assert sum(made) == len(names) - 1  # all but m0's
    assert [community.balance(name).available for name in names] == [0] + [80] * 15
    assert community.balance("uploader").available == 6 * 15
    again = httpx.post(f"{server.base_url}/v1/charges", json={**body, "member": "m1"},
                       headers={"Authorization": f"Bearer {server.api_key}",
                                "Idempotency-Key": "charge-m1"}, timeout=60)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert {**again.json(), "replayed": False} == by_member["m1"].json()
    check_invariants(server.jeton.store, server.community_id)


def _on(writer: Writer, member: str) -> str:
    """The thread a request naming `member` ran on."""
    kwargs = {"body": _Body(member), "caller": _Caller()}

    async def call() -> str:
        return await writer.run(lambda **_: threading.current_thread().ident,  # type: ignore[no-any-return]
                                **kwargs)

    return asyncio.run(call())


class _Body:
    def __init__(self, member: str) -> None:
        self.member = member


class _Caller:
    principal = type("P", (), {"key": type("K", (), {"community_id": "c"})()})()
    key = principal.key


@pytest.mark.postgres
def test_on_postgresql_each_member_keeps_to_one_of_the_writers_and_0_is_the_thread_pool(
        pg_store: Store) -> None:
    writer = Writer(pg_store, 3)
    assert len(writer.writers) == 3
    for each in writer.writers:  # no thread ends (and another starts) between two requests
        each.idle_s = 60
    members = [f"m{i}" for i in range(12)]
    threads = {m: _on(writer, m) for m in members}
    assert all(_on(writer, m) == threads[m] for m in members)  # the same writer each time
    assert len(set(threads.values())) > 1  # spread over the writers
    pool = Writer(pg_store, 0)
    assert pool.batches is None
    assert threading.current_thread().ident != _on(pool, "m0")
    with pytest.raises(ValueError, match="0-64"):
        Writer(pg_store, 65)


def test_the_writers_setting_is_checked_when_the_app_is_made(probe_store: Store) -> None:
    import jeton
    from jeton.api.app import create_app
    from jeton.config import Settings

    made = jeton.Jeton(probe_store, settings=Settings.from_env({"JETON_API_WRITERS": "2"}))
    assert create_app(made).state.jeton_api.writer.postgres_writers == 2
    wrong = jeton.Jeton(probe_store, settings=Settings.from_env({"JETON_API_WRITERS": "two"}))
    with pytest.raises(ValueError, match="JETON_API_WRITERS must be a whole number 0-64"):
        create_app(wrong)
