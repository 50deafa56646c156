"""Staff users: everyone may see who has access; owners add users, set roles, disable them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from jeton.core import limits
from jeton.core.errors import Conflict, InvalidRequest
from jeton.services.access.staff import (
    STORED_ROLES,
    Permission,
    StaffRole,
    StaffSession,
    create_staff_user,
    list_staff_users,
    reset_totp,
    set_disabled,
    set_role,
)
from jeton.web.admin.context import admin_context
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff, require_permission
from jeton.web.admin.templating import render

router = page_router()

StaffManager = Annotated[StaffSession, Depends(require_permission(Permission.manage_staff))]
Field = Annotated[str, Form(max_length=limits.staff_password_chars_max)]
ROLE_TEXT = {
    StaffRole.owner: "Owner: everything, including staff users",
    StaffRole.moderator: "Moderator: reads, and posts credits within the role's limit",
    StaffRole.support: "Support: reads only",
    StaffRole.operator: "Operator: only their leased area (a support account bound to a lease)",
}


@router.get("/staff", name="admin.staff")
def staff_list(request: Request, staff: CurrentStaff) -> HTMLResponse:
    ctx = admin_context(request)
    return render(request, "admin/staff.html", {
        "users": list_staff_users(ctx.store, staff.community_id),
        "roles": list(STORED_ROLES),
        "can_manage": staff.can(Permission.manage_staff),
        "now": ctx.clock.now(),
    }, section="staff")


@router.get("/staff/new", name="admin.staff_new")
def new_staff_form(request: Request, staff: StaffManager) -> HTMLResponse:
    return _form(request)


@router.post("/staff", name="admin.staff_create")
def create(request: Request, staff: StaffManager, email: Field, password: Field, role: Field,
           name: Field = "") -> Response:
    ctx = admin_context(request)
    values = {"email": email, "name": name, "role": role}
    try:
        chosen = StaffRole(role)
    except ValueError:
        return _form(request, values, errors={"role": "Choose one of the roles."})
    try:
        create_staff_user(ctx.store, ctx.clock, staff, email=email, password=password,
                          role=chosen, name=name)
    except (InvalidRequest, Conflict) as exc:
        field = str(exc.extra.get("field", "email"))
        return _form(request, values, errors={field: _sentence(exc.detail)})
    return RedirectResponse(request.url_for("admin.staff").path + "?notice=staff_created",
                            status_code=303)


@router.post("/staff/{user_id}/role", name="admin.staff_role")
def change_role(request: Request, staff: StaffManager, user_id: str, role: Field) -> Response:
    ctx = admin_context(request)
    try:
        chosen = StaffRole(role)
    except ValueError:
        raise InvalidRequest("Choose one of the roles.") from None
    set_role(ctx.store, ctx.clock, staff, user_id, chosen)
    return RedirectResponse(request.url_for("admin.staff").path + "?notice=role_changed",
                            status_code=303)


@router.post("/staff/{user_id}/disabled", name="admin.staff_disabled")
def change_disabled(request: Request, staff: StaffManager, user_id: str,
                    disabled: Field) -> Response:
    ctx = admin_context(request)
    off = disabled == "1"
    set_disabled(ctx.store, ctx.clock, staff, user_id, off)
    notice = "user_disabled" if off else "user_enabled"
    return RedirectResponse(request.url_for("admin.staff").path + f"?notice={notice}",
                            status_code=303)


@router.post("/staff/{user_id}/totp-reset", name="admin.staff_totp_reset")
def totp_reset(request: Request, staff: StaffManager, user_id: str) -> Response:
    ctx = admin_context(request)
    reset_totp(ctx.store, ctx.clock, staff, user_id)
    return RedirectResponse(request.url_for("admin.staff").path + "?notice=totp_reset",
                            status_code=303)


def _form(request: Request, values: dict[str, str] | None = None,
          errors: dict[str, str] | None = None) -> HTMLResponse:
    return render(request, "admin/staff_new.html", {
        "values": values or {"email": "", "name": "", "role": StaffRole.support.value},
        "errors": errors or {},
        "roles": [(role.value, ROLE_TEXT[role]) for role in STORED_ROLES],
        "password_min": limits.staff_password_chars_min,
    }, status_code=400 if errors else 200, section="staff")


def _sentence(detail: str) -> str:
    return detail[:1].upper() + detail[1:] + ("" if detail.endswith(".") else ".")
