"""Fixtures for webhooks: a Jeton with the webhooks service, and a real receiver.

The receiver is a small HTTP server on 127.0.0.1 (a free port, a background thread) that checks
every message with the `standardwebhooks` library exactly as a host app would, and answers with
the status codes a test scripts. It stops when the test ends, or by itself after a minute.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

import jeton
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.services.events import endpoints as webhooks
from jeton.services.events.endpoints import Webhooks

RECEIVER_LIFETIME_S = 60.0


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    verified: bool
    error: str | None
    answered: int
    data: Any = None


@dataclass
class Receiver:
    """Collects webhooks. Set `secret` once the endpoint is made; push answers on `script`."""

    url: str = ""
    secret: str | None = None
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, body: bytes, headers: dict[str, str]) -> tuple[Any, str | None]:
        if self.secret is None:
            return None, "no secret set"
        try:
            return Webhook(self.secret).verify(body, headers), None
        except WebhookVerificationError as exc:
            return None, str(exc)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        data, error = self.verify(body, headers)
        with self._lock:
            answer = 400 if error is not None else self.script.pop(0) if self.script else 204
            self.received.append(Received(body, headers, error is None, error, answer, data))
        return answer

    @property
    def verified(self) -> list[Received]:
        return [r for r in self.received if r.verified]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            answer = receiver.handle(body, {k.lower(): v for k, v in self.headers.items()})
            reply = b"ok" if answer < 300 else b"receiver says no"
            self.send_response(answer)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing its kept-alive connection is how every conversation ends.
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = _Server(("127.0.0.1", 0), _handler(rec))
    rec._server = server
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    # However the test ends, the server does not outlive it for long.
    stopper = threading.Timer(RECEIVER_LIFETIME_S, server.shutdown)
    stopper.daemon = True
    stopper.start()
    try:
        yield rec
    finally:
        stopper.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))


def open_jeton(tmp_path: Path, clock: ManualClock, *, allow_private: bool = True) -> jeton.Jeton:
    """A second Jeton, on a database of its own, for tests that need other settings."""
    return jeton.open("sqlite:///" + str(tmp_path / "other.db"), clock=clock,
                      settings=Settings(webhooks_allow_private=allow_private))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def j(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[jeton.Jeton]:
    """A Jeton whose webhooks may go to 127.0.0.1 (the receiver), on each store."""
    settings = Settings(webhooks_allow_private=True)
    if request.param == "sqlite":
        app = jeton.open("sqlite:///" + str(tmp_path / "jeton.db"), clock=clock,
                         settings=settings)
    else:
        app = jeton.Jeton(request.getfixturevalue("pg_store"), clock=clock, settings=settings)
    yield app
    app.close()


@pytest.fixture
def wh(j: jeton.Jeton) -> Webhooks:
    # No jitter: retries come exactly on the schedule, so a test moves the clock by it.
    return webhooks.install(j, jitter_ratio=0.0)


@pytest.fixture
def chat(j: jeton.Jeton, wh: Webhooks) -> jeton.Community:
    c = j.create_community("Chat room", community_id="chat")
    for member in ("alice", "bob"):
        c.create_member(member)
    return c


def event_types(wh: Webhooks, community_id: str = "chat") -> list[str]:
    """Every event of the community, oldest first."""
    page = wh.events.list_events(community_id, limit=500)
    return [e.type for e in reversed(page.data)]
