"""`create_admin_router`: the owner's dashboard as one FastAPI router."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from jeton.config import Settings
from jeton.core import limits
from jeton.core.clock import Clock
from jeton.store.engine import Store
from jeton.web.admin.context import AdminContext
from jeton.web.admin.pages import account, audit, home, signin, staff
from jeton.web.admin.security import bind_admin, check_csrf
from jeton.web.admin.templating import create_environment

# Every page module, in no particular order; a new page module is added here.
PAGE_MODULES = (signin, home, staff, account, audit)


def create_admin_router(store: Store, clock: Clock, settings: Settings, *,
                        community_id: str | None = None, prefix: str = "/admin") -> APIRouter:
    """The dashboard under `prefix`. Include it as it is: `app.include_router(router)`.

    `community_id` pins the dashboard to one community; without it the sign-in form asks
    (filled in when the store has a single community). The app must also call
    `mount_static(app)`: pages link their CSS and scripts from there.
    """
    ctx = AdminContext(store=store, clock=clock, settings=settings,
                       templates=create_environment(), community_id=community_id)
    router = APIRouter(
        prefix=prefix,
        dependencies=[Depends(bind_admin(ctx)), Depends(check_csrf)],
        include_in_schema=False,
        max_body_size=limits.admin_form_bytes_max,
    )
    for module in PAGE_MODULES:
        router.include_router(module.router)
    return router
