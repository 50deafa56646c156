"""The routers of the HTTP API, and the hooks other services add to it.

To add a resource, write `routes/<resource>.py` with `router = api_router(tags=[...])` and add
it to `ROUTERS` below (docs.md has a whole example). `create_app` includes them in this order.
"""

from __future__ import annotations

from fastapi import APIRouter

from jeton.api.context import DeclineHook
from jeton.api.routes import (
    achievements,
    assets,
    bills,
    catalog,
    charges,
    clocks,
    communities,
    coupons,
    funding_settings,
    grants,
    holds,
    keys,
    leases,
    member_funding,
    members,
    packs,
    ping,
    plans,
    portal_links,
    protection,
    provider_webhooks,
    purchases,
    receipts,
    reports,
    spends,
    staff_postings,
    transfers,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    # Where two routers serve one path, the first in this order answers. A request goes
    # straight to the first router that serves its path (api/dispatch.py, decision 0103).
    charges.router,
    spends.router,
    communities.router,
    assets.router,
    members.router,
    grants.router,
    transfers.router,
    holds.router,
    keys.router,
    # funding: packs, purchases and refunds, plans, coupons, settings, the providers' webhooks
    packs.router,
    purchases.router,
    bills.router,
    plans.router,
    member_funding.router,
    coupons.router,
    funding_settings.router,
    staff_postings.router,
    protection.router,
    provider_webhooks.router,
    # charging, reports, webhooks and member portal links
    catalog.router,
    achievements.router,
    leases.router,
    reports.router,
    webhooks.router,
    portal_links.router,
    clocks.router,
    ping.router,
    receipts.router,
    receipts.well_known,  # public: no API key
]

# Called when a request is declined (not enough credits, a limit): each returns fields for the
# problem, e.g. the funding service's `{"suggested_packs": [...]}`.
DECLINE_HOOKS: list[DeclineHook] = []
DECLINE_HOOKS.append(packs.suggested_packs)
