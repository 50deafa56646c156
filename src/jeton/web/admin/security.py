"""Who is asking, and may they: the session cookie, CSRF checks, roles, and error pages.

Every dashboard route is an `AdminRoute` on a router whose first dependencies are
`bind_admin(ctx)` (binds the context, reads the session cookie) and `check_csrf` (refuses a
POST without the session's token). Pages then ask for what they need:

    def page(request: Request, staff: CurrentStaff) -> HTMLResponse: ...
    def write(request: Request, staff: Annotated[StaffSession,
              Depends(require_permission(Permission.configure))]) -> Response: ...

`AdminRoute` turns `SignInRequired`, the `PageError`s of `web/security.py` (and `Declined`,
`NotFound`, `InvalidRequest`, `Conflict` from the services) into pages, and adds the security
headers to every response.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse

from jeton.core import limits
from jeton.services.access.sessions import resolve_session
from jeton.services.access.staff import Permission, SessionStage, StaffSession
from jeton.web.admin.context import (
    AdminContext,
    admin_context,
    bind_session,
    session_cookie_seen,
    session_of,
)
from jeton.web.admin.templating import render

# Shared with the member pages (jeton/web/security.py); pages import them from here.
from jeton.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    SECURITY_HEADERS,
    CsrfRejected,
    Forbidden,
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

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "SAFE_METHODS", "SECURITY_HEADERS", "Forbidden",
           "PageError", "PageNotFound"]

SESSION_COOKIE = "jeton_staff"
# Before sign-in there is no session to hold a CSRF token, so the sign-in form's token is
# also set as a cookie and the two must match (a "double submit").
SIGN_IN_CSRF_COOKIE = "jeton_staff_csrf"

class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page, then back."""


class AreaOnly(Exception):
    """An operator's account opened a page outside its area: it is sent to its area's page."""


# ---- the router's own dependencies ----

def bind_admin(ctx: AdminContext) -> Callable[[Request], None]:
    """The router's first dependency: bind the context and find the session, if any."""
    def bind(request: Request) -> None:
        ctx.bind(request)
        token = request.cookies.get(SESSION_COOKIE)
        session = None
        if token:
            session = resolve_session(ctx.store, ctx.clock, token, stage=None)
        bind_session(request, session, cookie_seen=bool(token))

    return bind


async def check_csrf(request: Request) -> None:
    """Refuse any request that changes something unless it carries this session's token."""
    if request.method in SAFE_METHODS:
        return
    _check_origin(request)
    session = session_of(request)
    expected = [session.csrf_token] if session is not None else []
    if session is None or session.stage is SessionStage.totp:
        # Not signed in (or half-way): the sign-in form's double-submit token is good too, so
        # someone who goes back from the code step to the password form can still send it.
        expected.append(request.cookies.get(SIGN_IN_CSRF_COOKIE, ""))
    if not csrf_matches(await sent_csrf_token(request), expected):
        raise CsrfRejected(
            "The form was out of date or did not come from this dashboard. Go back, reload "
            "the page and try again. (Cookies must be allowed for this site.)")


def _check_origin(request: Request) -> None:
    """Browsers say where a request came from; refuse other sites outright."""
    if is_cross_site(request, admin_context(request).settings.public_url):
        raise CsrfRejected("Requests from other sites are not accepted.")


# ---- what pages ask for ----

def signed_in(request: Request) -> StaffSession:
    """The signed-in staff user's session, whatever their role; anyone else signs in."""
    session = session_of(request)
    if session is None or session.stage is not SessionStage.full:
        raise SignInRequired
    return session


def current_staff(request: Request) -> StaffSession:
    """The signed-in staff user's session, for the community's pages. An operator's account
    (decision 0071) sees its area and nothing else: it is sent there."""
    session = signed_in(request)
    if not session.can(Permission.view):
        raise AreaOnly
    return session


CurrentStaff = Annotated[StaffSession, Depends(current_staff)]
# Any signed-in account: the pages of an area check who may see them themselves.
AnyStaff = Annotated[StaffSession, Depends(signed_in)]


def require_permission(permission: Permission) -> Callable[[Request], StaffSession]:
    """A dependency: the signed-in staff user, who must have `permission` (else a 403 page)."""
    def dependency(request: Request) -> StaffSession:
        session = signed_in(request) if permission is Permission.operate_area \
            else current_staff(request)
        if not session.can(permission):
            raise Forbidden(
                f"Your role ({session.role.value}) does not allow this. Ask an owner if you "
                "need it.")
        return session

    dependency.__name__ = f"require_{permission.value}"
    return dependency


# The staff user of a page that changes the community's setup (packs, plans, keys...).
Configurer = Annotated[StaffSession, Depends(require_permission(Permission.configure))]


def sign_in_csrf_token(request: Request) -> str:
    """The sign-in form's token: the one in the cookie, or a new one to set."""
    return request.cookies.get(SIGN_IN_CSRF_COOKIE) or secrets.token_urlsafe(32)


# ---- cookies ----

def cookie_path(request: Request) -> str:
    """Where the dashboard is mounted: its cookies go to no other path."""
    return request.url_for("admin.home").path.rstrip("/") or "/"


def set_session_cookie(response: Response, request: Request, token: str, max_age_s: int) -> None:
    ctx = admin_context(request)
    set_page_cookie(response, SESSION_COOKIE, token, path=cookie_path(request),
                    secure=ctx.cookie_secure, max_age_s=max_age_s)


def clear_session_cookie(response: Response, request: Request) -> None:
    ctx = admin_context(request)
    clear_page_cookie(response, SESSION_COOKIE, path=cookie_path(request),
                      secure=ctx.cookie_secure)


def set_sign_in_csrf_cookie(response: Response, request: Request, token: str) -> None:
    ctx = admin_context(request)
    set_page_cookie(response, SIGN_IN_CSRF_COOKIE, token, path=cookie_path(request),
                    secure=ctx.cookie_secure, max_age_s=limits.staff_session_idle_s)


def safe_next(request: Request, target: str | None) -> str:
    """Where to go after signing in: a path inside the dashboard, never another site."""
    home = request.url_for("admin.home").path
    base = home.rstrip("/")
    if not target or not (target == base or target.startswith(base + "/")):
        return home
    path = target.split("?", 1)[0]
    segments = path.lower().split("/")
    if ("\\" in target or "//" in path or any(seg in (".", "..") for seg in segments)
            or any(code in path.lower() for code in ("%2e", "%2f", "%5c"))):
        return home
    return target


# ---- the route class ----

class AdminRoute(PageRoute):
    """A dashboard route: errors become dashboard pages; without a session, the sign-in page."""

    def error_page(self, request: Request, status_code: int, title: str,
                   message: str) -> Response:
        return error_page(request, status_code, title, message)

    def page_for(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, SignInRequired):
            return _to_sign_in(request)
        if isinstance(exc, AreaOnly):
            return RedirectResponse(request.url_for("admin.my_area").path, status_code=303)
        return super().page_for(request, exc)


def _to_sign_in(request: Request) -> Response:
    pending = session_of(request)
    if pending is not None and pending.stage is SessionStage.totp:
        # Half-way through signing in: the code is what is missing.
        return RedirectResponse(request.url_for("admin.sign_in_code").path, status_code=303)
    query: dict[str, str] = {}
    if request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query["next"] = here
    if session_cookie_seen(request):
        query["notice"] = "session_ended"
    target = request.url_for("admin.sign_in").path
    if query:
        target += "?" + urlencode(query)
    response = RedirectResponse(target, status_code=303)
    if session_cookie_seen(request):
        clear_session_cookie(response, request)
    return response


def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    return area_error_page(request, status_code, title, message, context_of=admin_context,
                           render=render, template="admin/error.html")
