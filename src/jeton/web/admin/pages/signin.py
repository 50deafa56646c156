"""Sign-in (password, then the one-time code when the user has TOTP) and sign-out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, Request, Response
from fastapi.responses import RedirectResponse

from jeton.core import limits
from jeton.core.ratelimit import retry_after_s
from jeton.services.access.sessions import (
    Authentication,
    SignInStatus,
    authenticate,
    complete_totp_sign_in,
    end_session,
    open_session,
)
from jeton.services.access.staff import SessionStage, community_choices
from jeton.web.admin.context import admin_context, session_of
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import (
    clear_session_cookie,
    safe_next,
    set_session_cookie,
    set_sign_in_csrf_cookie,
    sign_in_csrf_token,
)
from jeton.web.admin.templating import render

router = page_router()

# Longer fields are refused before any work (422): nothing a person types is that long.
Text = Annotated[str, Form(max_length=limits.staff_password_chars_max)]


@router.get("/sign-in", name="admin.sign_in")
def sign_in_page(request: Request, next: str = "") -> Response:
    session = session_of(request)
    if session is not None and session.stage is SessionStage.full:
        return RedirectResponse(safe_next(request, next), status_code=303)
    return _sign_in_form(request, next=next)


@router.post("/sign-in", name="admin.sign_in_submit")
def sign_in(request: Request, email: Text, password: Text, community: Text = "",
            next: Text = "") -> Response:
    ctx = admin_context(request)
    community_id = ctx.community_id or community.strip() or _only_community(request)
    wait_s = _attempts_left_wait_s(request)
    if wait_s:
        return _sign_in_form(request, email=email, community=community_id, next=next,
                             status_code=429, error=_slow_down_message(wait_s),
                             headers={"retry-after": str(wait_s)})
    result = authenticate(ctx.store, ctx.clock, community_id, email, password)
    if result.status is SignInStatus.ok and result.user is not None:
        new = open_session(ctx.store, ctx.clock, result.user)
        response: Response = RedirectResponse(safe_next(request, next), status_code=303)
        set_session_cookie(response, request, new.token, limits.staff_session_lifetime_s)
        return response
    if result.status is SignInStatus.totp_required and result.user is not None:
        new = open_session(ctx.store, ctx.clock, result.user, stage=SessionStage.totp)
        target = request.url_for("admin.sign_in_code").path
        if next:
            target += "?" + urlencode({"next": safe_next(request, next)})
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(response, request, new.token, limits.staff_totp_pending_s)
        return response
    return _refused(request, result, email=email, community=community_id, next=next)


@router.get("/sign-in/code", name="admin.sign_in_code")
def code_page(request: Request, next: str = "") -> Response:
    session = session_of(request)
    if session is None or session.stage is not SessionStage.totp:
        return RedirectResponse(request.url_for("admin.sign_in").path, status_code=303)
    return render(request, "admin/sign_in_code.html", {"next": next, "error": ""})


@router.post("/sign-in/code", name="admin.sign_in_code_submit")
def submit_code(request: Request, code: Annotated[str, Form(max_length=20)],
                next: Text = "") -> Response:
    ctx = admin_context(request)
    pending = session_of(request)
    if pending is None or pending.stage is not SessionStage.totp:
        return RedirectResponse(request.url_for("admin.sign_in").path, status_code=303)
    wait_s = _attempts_left_wait_s(request)
    if wait_s:
        return render(request, "admin/sign_in_code.html",
                      {"next": next, "error": _slow_down_message(wait_s)}, status_code=429,
                      headers={"retry-after": str(wait_s)})
    result, new = complete_totp_sign_in(ctx.store, ctx.clock, pending, code)
    if new is not None:
        response: Response = RedirectResponse(safe_next(request, next), status_code=303)
        set_session_cookie(response, request, new.token, limits.staff_session_lifetime_s)
        return response
    if result.status is SignInStatus.locked:
        response = _refused(request, result, email=pending.user.email,
                            community=pending.community_id, next=next)
        clear_session_cookie(response, request)
        return response
    return render(request, "admin/sign_in_code.html",
                  {"next": next, "error": "That code is not right. Check the time on your "
                                          "phone and try the code now shown."},
                  status_code=401)


@router.post("/sign-out", name="admin.sign_out")
def sign_out(request: Request) -> Response:
    ctx = admin_context(request)
    session = session_of(request)
    if session is not None:
        end_session(ctx.store, ctx.clock, session)
    response = RedirectResponse(request.url_for("admin.sign_in").path + "?notice=signed_out",
                                status_code=303)
    clear_session_cookie(response, request)
    return response


def _sign_in_form(request: Request, *, email: str = "", community: str = "", next: str = "",
                  error: str = "", status_code: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    ctx = admin_context(request)
    token = sign_in_csrf_token(request)
    if ctx.community_id is None and not community:
        community = _only_community(request)
    response = render(request, "admin/sign_in.html", {
        "csrf_token": token, "email": email, "community": community,
        "ask_community": ctx.community_id is None, "next": next, "error": error,
    }, status_code=status_code, headers=headers)
    set_sign_in_csrf_cookie(response, request, token)
    return response


def _refused(request: Request, result: Authentication, *, email: str, community: str,
             next: str) -> Response:
    ctx = admin_context(request)
    if result.status is SignInStatus.locked and result.locked_until is not None:
        wait_s = max(1, int((result.locked_until - ctx.clock.now()).total_seconds()))
        return _sign_in_form(
            request, email=email, community=community, next=next, status_code=429,
            error=_locked_message(result.locked_until, wait_s),
            headers={"retry-after": str(wait_s)})
    return _sign_in_form(request, email=email, community=community, next=next,
                         status_code=401, error="The email or password is not right.")


def _locked_message(until: datetime, wait_s: int) -> str:
    minutes = (wait_s + 59) // 60
    return (f"Too many failed attempts: this account is locked until "
            f"{until.strftime('%H:%M')} UTC (about {minutes} minute{'s' if minutes != 1 else ''}"
            "). Try again then, or ask an owner.")


def _attempts_left_wait_s(request: Request) -> int:
    """0 if this client address may try to sign in now, else the seconds until it may."""
    address = request.client.host if request.client else "unknown"
    wait = admin_context(request).sign_in_attempts.take(address)
    return retry_after_s(wait) if wait > 0 else 0


def _slow_down_message(wait_s: int) -> str:
    return (f"Too many sign-in attempts from your network. Wait {wait_s} seconds, then try "
            "again.")


def _only_community(request: Request) -> str:
    """The community's id when the store has just one (the usual case), else ''."""
    choices = community_choices(admin_context(request).store)
    return choices[0] if len(choices) == 1 else ""
