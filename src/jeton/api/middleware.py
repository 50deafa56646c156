"""Request size: a body over `limits.api_body_bytes_max` is refused (413) before it is read."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jeton.api.problems import HttpProblem, problem_response
from jeton.core.statuses import Status


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
