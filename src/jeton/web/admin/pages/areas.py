"""Sub-leased areas on the dashboard (decision 0071).

    GET  /leases                       the community's leases (staff who may view)
    GET  /area                         an operator's account: its own area's page
    GET  /areas/{lease_id}             the lease's terms, the area's report and its services
    POST /areas/{lease_id}/services    the operator (or an owner) prices a service of the area

An operator's account sees the page of its own lease and nothing else (security.AreaOnly sends
it there from any other page); staff who may view see every area's page; the operator, and
staff who configure the catalog, may change the area's services, within the lease's bounds
(services/charging/leases.py, which writes the audit record).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jeton.core.amounts import parse_amount
from jeton.core.errors import InvalidRequest, JetonError, NotFound
from jeton.services.access.staff import Permission, StaffSession
from jeton.services.charging.results import LeaseInfo
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import FormValues, error_message, redirect_to
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import AnyStaff, CurrentStaff, Forbidden, PageNotFound
from jeton.web.admin.templating import render

router = page_router()


@router.get("/leases", name="admin.leases")
def lease_list(request: Request, staff: CurrentStaff) -> HTMLResponse:
    community = admin_context(request).community(staff.community_id)
    return render(request, "admin/leases.html", {"leases": community.list_leases()},
                  section="leases")


@router.get("/area", name="admin.my_area")
def my_area(request: Request, staff: AnyStaff) -> Response:
    lease_id = staff.user.area_lease_id
    if lease_id is None:
        return RedirectResponse(request.url_for("admin.leases").path, status_code=303)
    return RedirectResponse(request.url_for("admin.area", lease_id=lease_id).path,
                            status_code=303)


@router.get("/areas/{lease_id}", name="admin.area")
def area_page(request: Request, staff: AnyStaff, lease_id: str) -> HTMLResponse:
    return _page(request, staff, _lease(request, staff, lease_id))


@router.post("/areas/{lease_id}/services", name="admin.area_service")
def set_service(request: Request, staff: AnyStaff, lease_id: str,
                form: FormValues) -> Response:
    lease = _lease(request, staff, lease_id)
    if not _may_change(staff, lease):
        raise Forbidden("Only the area's operator, or an owner, may change its services.")
    ctx = admin_context(request)
    scale = ctx.credit_asset(staff.community_id).scale
    code = form.get("code", "").strip()
    values = {"code": code, "name": form.get("name", "").strip(),
              "credits": form.get("credits", "").strip()}
    try:
        credits = parse_amount(values["credits"], scale)
        entry: dict[str, object] = {"credits": credits}
        if values["name"]:
            entry["name"] = values["name"]
        ctx.community(staff.community_id).set_area_service(lease.id, code, entry,
                                                          actor=staff.user)
    except (InvalidRequest, NotFound) as exc:
        return _page(request, staff, lease, values=values, error=error_message(exc),
                     status_code=422)
    except JetonError as exc:
        return _page(request, staff, lease, values=values, error=exc.detail, status_code=403)
    return redirect_to(request, "admin.area", notice="area_service_saved", lease_id=lease.id)


def _lease(request: Request, staff: StaffSession, lease_id: str) -> LeaseInfo:
    community = admin_context(request).community(staff.community_id)
    if not staff.can(Permission.view) and staff.user.area_lease_id != lease_id:
        raise PageNotFound("There is no such area.")
    try:
        return community.get_lease(lease_id)
    except NotFound:
        raise PageNotFound("There is no such area.") from None


def _may_change(staff: StaffSession, lease: LeaseInfo) -> bool:
    if not lease.active:
        return False
    return staff.can(Permission.configure) or (
        staff.can(Permission.operate_area) and staff.user.area_lease_id == lease.id)


def _page(request: Request, staff: StaffSession, lease: LeaseInfo, *,
          values: dict[str, str] | None = None, error: str = "",
          status_code: int = 200) -> HTMLResponse:
    ctx = admin_context(request)
    community = ctx.community(staff.community_id)
    services = [s for s in community.catalog().services if s.code.startswith(lease.area)]
    return render(request, "admin/area.html", {
        "lease": lease, "report": community.area_report(lease.id), "services": services,
        "asset": ctx.credit_asset(staff.community_id), "may_change": _may_change(staff, lease),
        "values": values or {"code": lease.area, "name": "", "credits": ""}, "error": error,
    }, section="area" if staff.user.area_lease_id == lease.id else "leases",
        status_code=status_code)
