"""What every server-rendered page of Jeton shares, whoever it is for (staff or members): the
security headers, the CSRF check's pieces, and how a refusal from a service is told to people.

The dashboard (`web/admin/security.py`) and the member pages (`web/member/security.py`) each
keep their own session and error pages, and build on these: `PageError` and its kinds are
raised by pages of either, and `PageRoute` turns them (and services' refusals) into pages.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine, Iterable
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.routing import APIRoute

from jeton.core.errors import Conflict, Declined, InvalidRequest, JetonError, NotFound

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SECURITY_HEADERS = {
    # Scripts and styles come from our own /static only: no inline script, no CDN.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    # Pages carry CSRF tokens and members' data: never keep them in a shared cache.
    "cache-control": "no-store",
}


async def sent_csrf_token(request: Request) -> str | None:
    """The token a request carries: the `X-CSRF-Token` header (htmx) or the form field."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    return sent


def csrf_matches(sent: str | None, expected: Iterable[str]) -> bool:
    """Whether `sent` is one of the `expected` tokens (compared in constant time)."""
    return bool(sent) and any(
        token and hmac.compare_digest(token.encode(), (sent or "").encode())
        for token in expected)


def is_cross_site(request: Request, public_url: str) -> bool:
    """Browsers say where a request came from; anything but this site is refused outright."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return origin not in {origin_of(public_url), origin_of(str(request.base_url))}


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def service_refusal(exc: JetonError) -> tuple[int, str] | None:
    """The HTTP status and page title for an error a service raised on purpose, or None for
    errors that are bugs (let them through: a 500)."""
    if isinstance(exc, NotFound):
        return 404, "Not found"
    if isinstance(exc, Declined):
        return 403, "Not allowed"
    if isinstance(exc, InvalidRequest):
        return 400, "Something is wrong with this request"
    if isinstance(exc, Conflict):
        return 409, "That cannot be done now"
    return None


class PageError(Exception):
    """An error shown to the person as a page with this status, title and message."""

    status_code = 400
    title = "Something is wrong with this request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(PageError):
    status_code = 403
    title = "Not allowed"


class CsrfRejected(PageError):
    status_code = 403
    title = "This form could not be accepted"


class PageNotFound(PageError):
    status_code = 404
    title = "Not found"


def area_error_page(request: Request, status_code: int, title: str, message: str, *,
                    context_of: Callable[[Request], object],
                    render: Callable[..., HTMLResponse], template: str) -> Response:
    """An area's error page (`template`, with `title` and `message`), or plain text when the
    area is not bound to this request yet (`context_of` raises): nothing to render with."""
    try:
        context_of(request)
    except JetonError:
        return PlainTextResponse(f"{title}: {message}", status_code=status_code)
    return render(request, template, {"title": title, "message": message},
                  status_code=status_code)


def set_page_cookie(response: Response, name: str, value: str, *, path: str, secure: bool,
                    max_age_s: int) -> None:
    """Every cookie of the pages: HttpOnly, SameSite=Lax, sent only under its area's path."""
    response.set_cookie(name, value, max_age=max_age_s, path=path, secure=secure,
                        httponly=True, samesite="lax")


def clear_page_cookie(response: Response, name: str, *, path: str, secure: bool) -> None:
    response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="lax")


class PageRoute(APIRoute):
    """A server-rendered route: errors become pages, and every response gets the security
    headers. An area says how its error page looks (`error_page`) and what its own exceptions
    become (`page_for`, calling this one for the rest)."""

    def error_page(self, request: Request, status_code: int, title: str,
                   message: str) -> Response:
        raise NotImplementedError

    def page_for(self, request: Request, exc: Exception) -> Response:
        """The page for `exc`; anything else than a refusal is a bug, raised again (a 500)."""
        if isinstance(exc, PageError):
            return self.error_page(request, exc.status_code, exc.title, exc.message)
        if isinstance(exc, JetonError):
            refusal = service_refusal(exc)
            if refusal is not None:
                return self.error_page(request, refusal[0], refusal[1], exc.detail)
        raise exc

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:  # page_for raises again what is not a page
                response = self.page_for(request, exc)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return route_handler
