"""Jinja2 for the dashboard: one environment, one `render` every page calls.

Templates live in `jeton/web/templates/admin/` and extend `admin/base.html`. Every template
gets: `staff` (the signed-in session or None), `nav` (the links this user sees), `csrf_token`,
`path_for(route_name, **params)`, `static(path)`, `notice` (a fixed message picked by the
`?notice=` code, never text from the URL), `community_id` and `section` (the current one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.core.clock import ensure_utc
from jeton.services.staff import SessionStage
from jeton.web.admin.context import admin_context, session_of
from jeton.web.admin.nav import nav_links

# Messages a redirect may ask for with `?notice=<code>`.
NOTICES: Mapping[str, str] = {
    "signed_out": "You are signed out.",
    "session_ended": "Your session has ended. Please sign in again.",
    "staff_created": "The staff user was created.",
    "role_changed": "The role was changed.",
    "user_disabled": "The staff user was disabled and signed out everywhere.",
    "user_enabled": "The staff user was enabled.",
    "totp_reset": "Two-step sign-in was turned off for that user; they can enroll again.",
    "totp_enabled": "Two-step sign-in is on. You will be asked for a code at each sign-in.",
}


def create_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jeton.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_when
    env.filters["detail_value"] = format_detail_value
    return env


def format_detail_value(value: object) -> str:
    """A value from an audit record's detail, as people read it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def format_when(value: datetime | None) -> str:
    if value is None:
        return ""
    return ensure_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           status_code: int = 200, section: str | None = None,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    ctx = admin_context(request)
    session = session_of(request)
    staff = session if session is not None and session.stage is SessionStage.full else None
    values: dict[str, Any] = {
        "request": request,
        "staff": staff,
        "nav": nav_links(request, staff, section) if staff is not None else [],
        "csrf_token": session.csrf_token if session is not None else "",
        "path_for": lambda name, **params: request.url_for(name, **params).path,
        "static": lambda path: request.url_for("static", path=path).path,
        "notice": NOTICES.get(request.query_params.get("notice", ""), ""),
        "community_id": staff.community_id if staff is not None else ctx.community_id,
        "section": section,
    }
    values.update(context or {})
    html = ctx.templates.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
