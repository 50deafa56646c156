"""The signed-in user's own account: turning on two-step sign-in (TOTP)."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from jeton.services.access.staff import (
    confirm_totp,
    pending_totp_enrollment,
    start_totp_enrollment,
)
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff
from jeton.web.admin.templating import render

router = page_router()


@router.get("/account/two-step", name="admin.account_totp")
def two_step_page(request: Request, staff: CurrentStaff) -> HTMLResponse:
    return _page(request, staff)


@router.post("/account/two-step/start", name="admin.account_totp_start")
def start(request: Request, staff: CurrentStaff) -> Response:
    ctx = admin_context(request)
    start_totp_enrollment(ctx.store, ctx.clock, staff)
    return RedirectResponse(request.url_for("admin.account_totp").path, status_code=303)


@router.post("/account/two-step/confirm", name="admin.account_totp_confirm")
def confirm(request: Request, staff: CurrentStaff,
            code: Annotated[str, Form(max_length=20)]) -> Response:
    ctx = admin_context(request)
    if confirm_totp(ctx.store, ctx.clock, staff, code):
        return RedirectResponse(request.url_for("admin.account_totp").path
                                + "?notice=totp_enabled", status_code=303)
    return _page(request, staff, status_code=400,
                 error="That code is not right. Type the six digits your app shows now.")


def _page(request: Request, staff: CurrentStaff, *, status_code: int = 200,
          error: str = "") -> HTMLResponse:
    ctx = admin_context(request)
    enrollment = pending_totp_enrollment(ctx.store, staff)
    # The setup key as a QR code for the phone's camera: an SVG inline in the page (a data:
    # URI, which the page's content security policy allows for images), nothing fetched; on
    # white, so that a dark theme does not hide it from the camera.
    qr = (segno.make(enrollment.uri, error="m").svg_data_uri(scale=5, border=4, light="#fff")
          if enrollment is not None else None)
    return render(request, "admin/account_totp.html", {
        "enrollment": enrollment, "qr": qr, "error": error,
    }, status_code=status_code, section="account")
