"""Who is asking on the member pages: the session cookie, CSRF, and error pages.

Every member route is a `MemberRoute` on a router whose first dependencies are
`bind_member_pages(ctx)` (binds the context, reads the session cookie) and `check_csrf`
(refuses a POST without the session's token, or from another site). Pages ask for the member
with `me: CurrentMember`; without a live session the answer is a page saying how to open the
account again (members sign in only through a link from the host app).

The pieces shared with the dashboard (headers, the CSRF comparison, the error kinds, the route
class that turns them and services' refusals into pages) are in `jeton/web/security.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Response

from jeton.payments.errors import ProviderUnavailable
from jeton.services.access.member_links import resolve_member_session
from jeton.web.member.context import (
    Member,
    MemberContext,
    bind_member,
    bind_session,
    load_member,
    member_context,
    session_cookie_seen,
    session_of,
)
from jeton.web.member.templating import render
from jeton.web.security import (
    SAFE_METHODS,
    CsrfRejected,
    PageError,
    PageNotFound,
    PageRoute,
    area_error_page,
    clear_page_cookie,
    csrf_matches,
    is_cross_site,
    sent_csrf_token,
    set_page_cookie,
)

__all__ = ["PageError", "PageNotFound"]

SESSION_COOKIE = "jeton_member"


class SessionRequired(Exception):
    """No live member session: the page says how to open the account again."""


# ---- the router's own dependencies ----

def bind_member_pages(ctx: MemberContext) -> Callable[[Request], None]:
    """The router's first dependency: bind the context and find the session, if any."""
    def bind(request: Request) -> None:
        ctx.bind(request)
        token = request.cookies.get(SESSION_COOKIE)
        session = resolve_member_session(ctx.jeton, token) if token else None
        bind_session(request, session, cookie_seen=bool(token))

    return bind


async def check_csrf(request: Request) -> None:
    """Refuse any request that changes something unless it carries the session's token."""
    if request.method in SAFE_METHODS:
        return
    if is_cross_site(request, member_context(request).jeton.settings.public_url):
        raise CsrfRejected("Requests from other sites are not accepted.")
    session = session_of(request)
    if session is None:
        raise SessionRequired
    if not csrf_matches(await sent_csrf_token(request), [session.csrf_token]):
        raise CsrfRejected(
            "The form was out of date or did not come from these pages. Go back, reload the "
            "page and try again. (Cookies must be allowed for this site.)")


# ---- what pages ask for ----

def current_member(request: Request) -> Member:
    """The member of the session; without a live session, the "open your account" page."""
    session = session_of(request)
    if session is None:
        raise SessionRequired
    member = load_member(member_context(request), session)
    bind_member(request, member)
    return member


CurrentMember = Annotated[Member, Depends(current_member)]


# ---- cookies ----

def cookie_path(request: Request) -> str:
    """Where the member pages are mounted: the cookie goes to no other path."""
    return request.url_for("member.home").path.rstrip("/") or "/"


def set_session_cookie(response: Response, request: Request, token: str,
                       max_age_s: int) -> None:
    set_page_cookie(response, SESSION_COOKIE, token, path=cookie_path(request),
                    secure=member_context(request).cookie_secure, max_age_s=max_age_s)


def clear_session_cookie(response: Response, request: Request) -> None:
    clear_page_cookie(response, SESSION_COOKIE, path=cookie_path(request),
                      secure=member_context(request).cookie_secure)


# ---- the route class ----

class MemberRoute(PageRoute):
    """A member page: errors become member pages; without a session, the page that says how to
    open the account again."""

    def error_page(self, request: Request, status_code: int, title: str,
                   message: str) -> Response:
        return error_page(request, status_code, title, message)

    def page_for(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, SessionRequired):
            return session_ended_page(request)
        if isinstance(exc, ProviderUnavailable):
            return error_page(
                request, 503, "Payments are not available right now",
                "The payment provider could not be reached. Nothing was charged; please try "
                "again in a minute.")
        return super().page_for(request, exc)


def session_ended_page(request: Request) -> Response:
    response = render(request, "member/session_ended.html",
                      {"ended": session_cookie_seen(request)}, status_code=401)
    if session_cookie_seen(request):
        clear_session_cookie(response, request)
    return response


def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    return area_error_page(request, status_code, title, message, context_of=member_context,
                           render=render, template="member/error.html")
