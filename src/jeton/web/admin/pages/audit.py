"""The audit log: every staff action, newest first, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from jeton.core import limits
from jeton.services.access.audit import list_audit
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff
from jeton.web.admin.templating import render

router = page_router()


@router.get("/audit", name="admin.audit")
def audit_log(request: Request, staff: CurrentStaff,
              before: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
    ctx = admin_context(request)
    page_size = limits.page_size_default
    entries = list_audit(ctx.store, staff.community_id, before=before or None,
                         limit=page_size + 1)
    older = entries[page_size - 1].audit_id if len(entries) > page_size else ""
    return render(request, "admin/audit.html", {
        "entries": entries[:page_size], "older": older, "first_page": not before,
    }, section="audit")
