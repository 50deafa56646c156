"""Routers for dashboard pages: every page module makes its router with `page_router()`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from jeton.web.admin.security import AdminRoute


def page_router() -> APIRouter:
    """A router whose routes are `AdminRoute`s: errors become pages, security headers added."""
    return APIRouter(route_class=AdminRoute, default_response_class=HTMLResponse,
                     include_in_schema=False)
