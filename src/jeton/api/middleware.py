"""Request size: a body over `limits.api_body_bytes_max` is refused (413) before it is read.
Input guard: a NUL anywhere in the URL or the headers is refused (422) before any route sees it,
and no exception ever reaches the server (which would close the client's connection)."""

from __future__ import annotations

import logging
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jeton.api.problems import HttpProblem, problem_response
from jeton.core.statuses import Status

log = logging.getLogger("jeton.api")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await problem_response(Status.value_invalid, "Content-Length is not a number",
                                       http_status=400)(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
        received = 0

        async def receive_counted() -> Message:
            # A body sent in chunks (no Content-Length) is counted as it arrives; the route
            # reading it gets the problem, which the app's handlers answer.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HttpProblem(Status.request_too_large, self._detail())
            return message

        await self.app(scope, receive_counted, send)

    def _detail(self) -> str:
        return f"a request body is at most {self.max_bytes} bytes"

    def _too_large(self) -> ASGIApp:
        return problem_response(Status.request_too_large, self._detail())


class InputGuardMiddleware:
    """The one place where input that no store may hold is refused, and where an unexpected
    exception ends as a 500 problem.

    - A NUL (raw or `%00`) in the path, the query or a header is a 422 `value_invalid`:
      PostgreSQL text cannot hold one, and no id, name or key needs one. JSON bodies are checked
      by the request models (`api.schemas.Body`), where `\\u0000` is decoded.
    - Starlette's outermost layer answers an unexpected exception and then raises it again for
      the server to log; uvicorn then closes the connection, and a client on keep-alive loses
      it. Here the exception is logged and answered, and the connection stays open.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _nul_in(scope)
        if where:
            await problem_response(Status.value_invalid, f"the {where} contains a NUL "
                                   "character", instance=scope.get("path"))(scope, receive, send)
            return
        started = False

        async def send_noting(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_noting)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await problem_response(Status.internal_error,
                                       "internal error; see the server's log",
                                       instance=scope.get("path"))(scope, receive, send)


def _nul_in(scope: Scope) -> str:
    if "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(scope.get("raw_path")
                                                                     or b""):
        return "path"
    if b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
        return "query"
    for name, value in scope.get("headers", ()):
        if b"\x00" in name or b"\x00" in value:
            return f"header {bytes(name).decode('latin-1')}"
    return ""
