"""`create_admin_router`: the owner's dashboard as one FastAPI router."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from jeton.app import Jeton
from jeton.config import Settings
from jeton.core import limits
from jeton.core.clock import Clock
from jeton.store.engine import Store
from jeton.web.admin.context import AdminContext
from jeton.web.admin.pages import (
    account,
    achievements,
    actions,
    activity,
    api_keys,
    areas,
    audit,
    bills,
    catalog,
    coupons,
    credits,
    home,
    members,
    packs,
    plans,
    protection,
    reports,
    signin,
    staff,
    webhooks,
)
from jeton.web.admin.pages import settings as settings_page
from jeton.web.admin.security import bind_admin, check_csrf
from jeton.web.admin.templating import create_environment

# Every page module, in no particular order; a new page module is added here.
PAGE_MODULES = (signin, home, staff, account, audit, members, credits, protection, reports,
                packs, plans, coupons, catalog, webhooks, api_keys, activity, actions,
                settings_page, achievements, bills, areas)


def create_admin_router(store: Store, clock: Clock, settings: Settings, *,
                        community_id: str | None = None, prefix: str = "/admin",
                        jeton: Jeton | None = None) -> APIRouter:
    """The dashboard under `prefix`. Include it as it is: `app.include_router(router)`.

    `community_id` pins the dashboard to one community; without it the sign-in form asks
    (filled in when the store has a single community). `jeton` is the Jeton the pages call
    (pass the app's own, so that its hooks and payment providers serve the dashboard too);
    without one the dashboard makes its own over `store`. The app must also call
    `mount_static(app)`: pages link their CSS and scripts from there.
    """
    if jeton is None:
        jeton = Jeton(store, clock=clock, settings=settings)
    elif jeton.store is not store:
        raise ValueError("the dashboard's jeton must be over the same store")
    ctx = AdminContext(store=store, clock=clock, settings=settings,
                       templates=create_environment(), community_id=community_id, jeton=jeton)
    router = APIRouter(
        prefix=prefix,
        dependencies=[Depends(bind_admin(ctx)), Depends(check_csrf)],
        include_in_schema=False,
        max_body_size=limits.admin_form_bytes_max,
    )
    for module in PAGE_MODULES:
        router.include_router(module.router)
    return router
