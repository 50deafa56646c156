"""Webhook endpoints and their deliveries: list, create (the signing secret shown once),
disable and enable, and every attempt of every delivery.

Creating an endpoint carries the form's idempotency key: a second submit finds the endpoint
the first one made, and its secret is not shown again (an owner who lost it rotates it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from jeton.app import Community
from jeton.core import limits
from jeton.core.errors import Conflict, InvalidRequest
from jeton.services.access.staff import StaffSession
from jeton.services.events.outbox import EVENT_TYPES
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import Fields, FormValues, audit, error_message, form_key, redirect_to
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import Configurer
from jeton.web.admin.templating import render, render_form

router = page_router()

Cursor = Annotated[str, Query(max_length=200)]
PAGE_SIZE = 25
RECENT_MAX = 10


@router.get("/webhooks", name="admin.webhooks")
def endpoint_list(request: Request, staff: Configurer) -> HTMLResponse:
    community = _community(request, staff)
    return render(request, "admin/webhooks.html", {
        "endpoints": community.list_webhook_endpoints(include_deleted=True,
                                                      limit=limits.page_size_max).data,
        "recent": community.list_webhook_deliveries(limit=RECENT_MAX).data,
    }, section="webhooks")


@router.get("/webhooks/new", name="admin.webhook_new")
def new_endpoint(request: Request, staff: Configurer) -> HTMLResponse:
    return _form(request, {"url": "", "description": "", "key": form_key()}, [])


@router.post("/webhooks", name="admin.webhook_create")
def create(request: Request, staff: Configurer, form: FormValues) -> Response:
    community = _community(request, staff)
    values = {name: form.get(name, "") for name in ("url", "description", "key")}
    chosen = [t for t in EVENT_TYPES if form.get(f"type:{t}")]
    fields = Fields(values)
    url = fields.text("url", required=True, what="A URL")
    key = fields.text("key")
    if not key:
        fields.errors["url"] = "The form was incomplete; reload it and try again."
    if not fields.ok:
        return _form(request, values, chosen, fields.errors)
    known = {e.id for e in community.list_webhook_endpoints(
        include_deleted=True, limit=limits.page_size_max).data}
    try:
        made = community.create_webhook_endpoint(url, event_types=chosen or None,
                                                 description=fields.text("description"),
                                                 idempotency_key=key)
    except (InvalidRequest, Conflict) as exc:
        return _form(request, values, chosen, message=error_message(exc))
    first_time = made.id not in known
    if first_time:
        audit(request, staff, "webhook_endpoint.created", target=made.url,
              detail={"endpoint_id": made.id, "event_types": made.event_types or "all"})
    return render(request, "admin/webhook_created.html", {
        "endpoint": made, "secret": made.secret if first_time else "",
    }, section="webhooks")


@router.get("/webhooks/{endpoint_id}", name="admin.webhook")
def endpoint_page(request: Request, staff: Configurer, endpoint_id: str,
                  before: Cursor = "") -> HTMLResponse:
    community = _community(request, staff)
    endpoint = community.get_webhook_endpoint(endpoint_id)
    found = community.list_webhook_deliveries(endpoint_id=endpoint_id, limit=PAGE_SIZE,
                                              starting_after=before or None)
    return render(request, "admin/webhook.html", {
        "endpoint": endpoint, "deliveries": found.data, "older": found.next_cursor or "",
        "first_page": not before,
    }, section="webhooks")


@router.post("/webhooks/{endpoint_id}/disable", name="admin.webhook_disable")
def disable(request: Request, staff: Configurer, endpoint_id: str) -> Response:
    return _set_enabled(request, staff, endpoint_id, False)


@router.post("/webhooks/{endpoint_id}/enable", name="admin.webhook_enable")
def enable(request: Request, staff: Configurer, endpoint_id: str) -> Response:
    return _set_enabled(request, staff, endpoint_id, True)


@router.get("/webhooks/deliveries/{delivery_id}", name="admin.webhook_delivery")
def delivery_page(request: Request, staff: Configurer, delivery_id: str) -> HTMLResponse:
    community = _community(request, staff)
    delivery = community.get_webhook_delivery(delivery_id)
    return render(request, "admin/webhook_delivery.html", {
        "delivery": delivery, "endpoint": community.get_webhook_endpoint(delivery.endpoint_id),
    }, section="webhooks")


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", name="admin.webhook_redeliver")
def redeliver(request: Request, staff: Configurer, delivery_id: str) -> Response:
    delivery = _community(request, staff).redeliver_webhook(delivery_id)
    audit(request, staff, "webhook_delivery.resent", target=delivery.event_type,
          detail={"delivery_id": delivery_id, "endpoint_id": delivery.endpoint_id})
    return redirect_to(request, "admin.webhook_delivery", notice="delivery_resent",
                       delivery_id=delivery_id)


def _set_enabled(request: Request, staff: StaffSession, endpoint_id: str,
                 enabled: bool) -> Response:
    community = _community(request, staff)
    before = community.get_webhook_endpoint(endpoint_id)
    if before.enabled != enabled:  # a second submit changes nothing and records nothing
        community.update_webhook_endpoint(endpoint_id, enabled=enabled)
        audit(request, staff, "webhook_endpoint.enabled" if enabled
              else "webhook_endpoint.disabled", target=before.url,
              detail={"endpoint_id": endpoint_id})
    return redirect_to(request, "admin.webhook", endpoint_id=endpoint_id,
                       notice="endpoint_enabled" if enabled else "endpoint_disabled")


def _community(request: Request, staff: StaffSession) -> Community:
    return admin_context(request).community(staff.community_id)


def _form(request: Request, values: dict[str, str], chosen: list[str],
          errors: dict[str, str] | None = None, message: str = "") -> HTMLResponse:
    return render_form(request, "admin/webhook_new.html", values, errors, message,
                       section="webhooks", context={
                           "chosen": chosen, "event_types": sorted(EVENT_TYPES.items()),
                           "description_max": limits.webhook_description_chars_max})
