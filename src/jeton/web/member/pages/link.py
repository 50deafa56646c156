"""Opening a member link, and signing out.

`GET /m/open/<token>` trades the link for a session cookie and sends the browser on to the
overview (so the token leaves the address bar and the history at once). A link that is
expired, used by another browser, or unknown gets a page saying so, with the way back to the
host app when the link named one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request, Response
from fastapi.responses import RedirectResponse

from jeton.core import limits
from jeton.services.access.member_links import (
    TOKEN_CHARS_MAX,
    LinkStatus,
    end_member_session,
    exchange_member_link,
)
from jeton.web.member.context import bind_session, member_context, session_of
from jeton.web.member.routing import page_router
from jeton.web.member.security import clear_session_cookie, set_session_cookie
from jeton.web.member.templating import render

router = page_router()

# The token is in the path: no page may tell another site where it came from.
NO_REFERRER = {"referrer-policy": "no-referrer"}

REFUSALS = {
    LinkStatus.expired: (410, "This link has expired",
                         "Links to your account work for a few minutes only."),
    LinkStatus.used: (410, "This link was used already",
                      "Each link opens your account once."),
    LinkStatus.unknown: (404, "This link does not work",
                         "It may have been copied only in part."),
}


@router.get("/open/{token}", name="member.open")
def open_link(request: Request,
              token: Annotated[str, Path(max_length=TOKEN_CHARS_MAX)]) -> Response:
    ctx = member_context(request)
    result = exchange_member_link(ctx.jeton, token, current=session_of(request))
    if result.status in (LinkStatus.opened, LinkStatus.reopened):
        response = RedirectResponse(request.url_for("member.home").path, status_code=303,
                                    headers=NO_REFERRER)
        if result.token is not None:
            set_session_cookie(response, request, result.token,
                               limits.member_session_lifetime_s)
        return response
    status_code, title, why = REFUSALS[result.status]
    return render(request, "member/link_refused.html",
                  {"title": title, "why": why, "return_url": result.return_url},
                  status_code=status_code, headers=NO_REFERRER)


@router.post("/sign-out", name="member.sign_out")
def sign_out(request: Request) -> Response:
    ctx = member_context(request)
    session = session_of(request)
    return_url = None
    if session is not None:
        return_url = session.return_url
        end_member_session(ctx.jeton, session)
        bind_session(request, None, cookie_seen=False)  # this page is for nobody now
    response = render(request, "member/signed_out.html", {"return_url": return_url})
    clear_session_cookie(response, request)
    return response
