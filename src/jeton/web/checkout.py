"""Jeton's hosted checkout page for the in-process payment providers (demo and offline).

`POST /v1/purchases` answers, for these providers, a `url` of `/pay/<provider>/<session>?sig=…`
under `JETON_PUBLIC_URL`. Like a card provider's hosted page it needs no member session: the
URL is signed by the provider, and holding it lets one pay or cancel that one checkout. The
demo provider's page has Pay and Cancel; the offline provider's says how to pay by hand and has
Cancel. Either then sends the browser to the purchase's `success_url` or `cancel_url` (or, when
the host app gave none, to `/pay/done`, which says how it went). Credits come from the
provider's signed event, never from this page (services/funding/local_checkout.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from jeton.app import Jeton
from jeton.core import limits
from jeton.services.funding import local_checkout
from jeton.web.member.context import credit_asset
from jeton.web.security import SECURITY_HEADERS, PageRoute, origin_of
from jeton.web.templating import create_environment, render_page

_SIG_CHARS_MAX = 64
IdPath = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")]
Sig = Annotated[str, Query(max_length=_SIG_CHARS_MAX)]


def create_checkout_router(j: Jeton) -> APIRouter:
    """`GET/POST /pay/{provider}/{session_id}` and `GET /pay/done`; include it as it is."""
    templates = create_environment()

    def page(request: Request, template: str, context: dict[str, Any], *,
             status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
        return render_page(request, templates, template, {}, context, notices={},
                           section=None, status_code=status_code, headers=headers)

    class CheckoutRoute(PageRoute):
        def error_page(self, request: Request, status_code: int, title: str,
                       message: str) -> Response:
            return page(request, "checkout/error.html", {"title": title, "message": message},
                        status_code=status_code)

    router = APIRouter(prefix="/pay", route_class=CheckoutRoute, include_in_schema=False,
                       max_body_size=limits.member_form_bytes_max)

    @router.get("/done", name="checkout.done")
    def done(request: Request, result: Annotated[str, Query(max_length=10)] = "") -> Response:
        return page(request, "checkout/done.html", {"paid": result == "paid"})

    @router.get("/{provider}/{session_id}", name="checkout.page")
    def show(request: Request, provider: IdPath, session_id: IdPath, sig: Sig = "") -> Response:
        found = local_checkout.hosted_checkout(j, provider, session_id, sig)
        if not found.open:
            return page(request, "checkout/done.html",
                        {"paid": found.purchase.status == "completed", "found": found})
        # The form's answer redirects to the host app: let the browser follow it.
        origins = sorted({origin_of(found.success_url), origin_of(found.cancel_url)})
        csp = SECURITY_HEADERS["content-security-policy"].replace(
            "form-action 'self'", "form-action 'self' " + " ".join(origins))
        scale = credit_asset(j, found.community_id).scale
        return page(request, "checkout/page.html",
                    {"found": found, "purchase": found.purchase, "sig": sig, "scale": scale},
                    headers={"content-security-policy": csp})

    @router.post("/{provider}/{session_id}", name="checkout.submit")
    def submit(provider: IdPath, session_id: IdPath,
               sig: Annotated[str, Form(max_length=_SIG_CHARS_MAX)],
               action: Annotated[str, Form(max_length=10)]) -> Response:
        found = local_checkout.hosted_checkout(j, provider, session_id, sig)
        if action == "pay" and found.payable:
            found = local_checkout.pay_hosted(j, found)
        elif action == "cancel":
            found = local_checkout.cancel_hosted(j, found)
        status = found.purchase.status
        if status == "completed" or (status in local_checkout.OPEN_STATUSES
                                     and not found.payable and action != "cancel"):
            return RedirectResponse(found.success_url, status_code=303)
        if status in local_checkout.OPEN_STATUSES:  # an unknown action: show the page again
            return RedirectResponse(f"/pay/{provider}/{session_id}?sig={sig}",
                                    status_code=303)
        return RedirectResponse(found.cancel_url, status_code=303)

    return router
