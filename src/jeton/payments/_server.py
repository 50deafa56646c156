"""Run an ASGI app with uvicorn in a background thread, on 127.0.0.1 and a free port.

Test doubles that speak HTTP (the fake Stripe API) must be real servers so that real clients
(the Stripe SDK) talk to them unchanged, yet start and stop inside one test. Binding the socket
ourselves to port 0 lets the kernel pick a free port with no race between "find" and "bind".
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from jeton.payments import limits

# Test doubles never listen beyond this machine.
HOST = "127.0.0.1"


class BackgroundServer:
    """One uvicorn server in one daemon thread. Not restartable: make a new one instead."""

    def __init__(self, app: ASGIApp, *, name: str = "jeton-test-server") -> None:
        self._app = app
        self._name = name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._base_url: str | None = None
        self._failure: BaseException | None = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._base_url

    def start(self, timeout_s: float = limits.fake_server_start_timeout_s) -> str:
        """Start serving and return the base URL (`http://127.0.0.1:<port>`)."""
        if self._thread is not None:
            raise RuntimeError("the server was already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((HOST, 0))
        self._socket = sock
        config = uvicorn.Config(
            self._app,
            log_config=None,  # leave the host process's logging alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=self._run, args=(server, sock), name=self._name,
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if self._failure is not None or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"{self._name} failed to start") from self._failure
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{self._name} did not start within {timeout_s} s")
            time.sleep(0.005)
        port = sock.getsockname()[1]
        self._base_url = f"http://{HOST}:{port}"
        return self._base_url

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported by start(); a thread has nobody else to tell
            self._failure = exc

    def stop(self, timeout_s: float = limits.fake_server_stop_timeout_s) -> None:
        """Stop serving and wait for the thread to end. Safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                # Ask harder: drop open connections instead of waiting for them.
                if self._server is not None:
                    self._server.force_exit = True
                self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise TimeoutError(f"{self._name} did not stop within {timeout_s} s")
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._base_url = None
