"""Serving the app with uvicorn: the settings `jeton serve` uses, and a server in a thread for
tests (yours too: it is how Jeton's own tests reach a real HTTP server)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from jeton.core import limits


def server_config(app: FastAPI | str, *, host: str = "127.0.0.1", port: int = 8000,
                  log_level: str = "info", access_log: bool = True,
                  workers: int = 1) -> uvicorn.Config:
    """uvicorn's settings for the API, with Jeton's limits: idle keep-alive connections close
    after `http_keep_alive_s`, at most `http_connections_max` at once, 10 s to finish requests
    under way at shutdown. A request has no deadline of its own: a write cut off half-way could
    still commit; the database bounds each statement instead (docs/decisions/0023-http-api.md).
    With `workers` above 1, `app` is the import string of a factory (`app_from_env`)."""
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=access_log,
        workers=workers, factory=isinstance(app, str),
        timeout_keep_alive=limits.http_keep_alive_s,
        limit_concurrency=limits.http_connections_max, timeout_graceful_shutdown=10,
        server_header=False, ws="none", lifespan="off")


@contextmanager
def serve_in_thread(app: FastAPI, *, host: str = "127.0.0.1", startup_timeout_s: float = 10.0,
                    lifetime_s: float = 600.0) -> Iterator[str]:
    """Run `app` on a free port of `host` in a background thread; yields its base URL and
    stops the server when the block ends, or by itself after `lifetime_s` whatever happens."""
    server = uvicorn.Server(server_config(app, host=host, port=0, log_level="warning",
                                          access_log=False))
    thread = threading.Thread(target=server.run, name="jeton-api-server", daemon=True)
    watchdog = threading.Timer(lifetime_s, setattr, (server, "should_exit", True))
    watchdog.daemon = True
    thread.start()
    watchdog.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        watchdog.cancel()
        server.should_exit = True
        thread.join(timeout=15)


def serve(config: uvicorn.Config) -> None:
    """Run until stopped: in this process, or with `config.workers` processes sharing one
    listening socket under uvicorn's supervisor (which restarts a worker that dies)."""
    if config.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        keep_startup_objects()
        uvicorn.Server(config).run()


def keep_startup_objects() -> None:
    """Set what start-up built aside from the garbage collector, in a serving process.

    The modules, the app, its routes and schemas are some 200,000 objects that live as long as
    the process; every full collection walked them all, a few times a second under load (7 to
    9 % of a server's CPU, measured under `wrk`). Frozen after one last collection, they are
    never walked again; what requests make is collected as before.
    """
    gc.collect()
    gc.freeze()
