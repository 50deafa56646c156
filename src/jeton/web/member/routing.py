"""Routers for member pages: every page module makes its router with `page_router()`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from jeton.web.member.security import MemberRoute


def page_router() -> APIRouter:
    """A router whose routes are `MemberRoute`s: errors become pages, security headers added."""
    return APIRouter(route_class=MemberRoute, default_response_class=HTMLResponse,
                     include_in_schema=False)
