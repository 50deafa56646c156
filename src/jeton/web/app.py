"""The dashboard on its own, without the HTTP API: for tests and for trying pages out.

The product's app (`jeton.api`) includes the same router and static files beside `/v1`.
"""

from __future__ import annotations

from fastapi import FastAPI

from jeton.app import Jeton
from jeton.config import Settings
from jeton.core.clock import Clock
from jeton.store.engine import Store
from jeton.web.admin import create_admin_router
from jeton.web.static import mount_static


def create_dashboard_app(store: Store, clock: Clock, settings: Settings, *,
                         community_id: str | None = None,
                         jeton: Jeton | None = None) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(create_admin_router(store, clock, settings, community_id=community_id,
                                           jeton=jeton))
    mount_static(app)
    return app
