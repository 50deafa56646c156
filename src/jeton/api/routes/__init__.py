"""The routers of the HTTP API, and the hooks other services add to it.

To add a resource, write `routes/<resource>.py` with `router = api_router(tags=[...])` and add
it to `ROUTERS` below (docs.md has a whole example). `create_app` includes them in this order.
"""

from __future__ import annotations

from fastapi import APIRouter

from jeton.api.context import DeclineHook
from jeton.api.routes import (
    assets,
    communities,
    grants,
    holds,
    keys,
    members,
    spends,
    transfers,
)

ROUTERS: list[APIRouter] = [
    communities.router,
    assets.router,
    members.router,
    grants.router,
    spends.router,
    transfers.router,
    holds.router,
    keys.router,
]

# Called when a request is declined (not enough credits, a limit): each returns fields for the
# problem, e.g. the funding service's `{"suggested_packs": [...]}`.
DECLINE_HOOKS: list[DeclineHook] = []
