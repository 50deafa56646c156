"""The dashboard's navigation, in one place and in the order people see it.

A section whose page is not built yet has `route=None` and is not shown. To add a page, build
it (see web/docs.md) and put its route name here; `permission` hides the link from roles that
could not open the page anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from jeton.services.access.staff import Permission, StaffSession
from jeton.web.templating import NavLink


@dataclass(frozen=True, slots=True)
class NavItem:
    section: str  # what a page passes to `render(..., section=...)` to mark its link current
    label: str
    route: str | None  # the route name of the section's first page; None: not built yet
    permission: Permission = Permission.view


NAV: tuple[NavItem, ...] = (
    NavItem("home", "Home", "admin.home"),
    NavItem("members", "Members", "admin.members"),
    NavItem("purchases", "Purchases", "admin.purchases"),
    NavItem("bills", "Bills", "admin.bills"),
    NavItem("transfers", "Transfers", "admin.transfers"),
    NavItem("subscriptions", "Subscriptions", "admin.subscriptions"),
    NavItem("catalog", "Catalog", "admin.catalog"),
    NavItem("leases", "Leases", "admin.leases"),
    NavItem("area", "My area", "admin.my_area", Permission.operate_area),
    NavItem("packs", "Packs", "admin.packs"),
    NavItem("plans", "Plans", "admin.plans"),
    NavItem("coupons", "Coupons", "admin.coupons"),
    NavItem("achievements", "Achievements", "admin.achievements"),
    NavItem("reports", "Reports", "admin.reports"),
    NavItem("settings", "Settings", "admin.settings"),
    NavItem("webhooks", "Webhooks", "admin.webhooks", Permission.configure),
    NavItem("api_keys", "API keys", "admin.api_keys", Permission.configure),
    NavItem("staff", "Staff", "admin.staff"),
    NavItem("audit", "Audit", "admin.audit"),
)


def nav_links(request: Request, session: StaffSession, section: str | None) -> list[NavLink]:
    """The links this staff user sees, the current section marked."""
    return [
        NavLink(item.label, request.url_for(item.route).path, item.section == section)
        for item in NAV
        if item.route is not None and session.can(item.permission)
        # "My area" is an operator's: an owner may operate any area but has none of their own.
        and (item.permission is not Permission.operate_area or session.user.area_lease_id)
    ]
