"""`create_member_router`: the member pages as one FastAPI router."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from jeton.app import Jeton
from jeton.core import limits
from jeton.services.access.member_links import MEMBER_PAGES_PATH
from jeton.web.member.context import MemberContext
from jeton.web.member.pages import (
    achievements,
    bills,
    coupon,
    credits,
    home,
    link,
    plans,
    receipts,
    recharge,
    statement,
    store,
    transfer,
)
from jeton.web.member.security import bind_member_pages, check_csrf
from jeton.web.templating import create_environment

# Every page module; a new page module is added here.
PAGE_MODULES = (link, home, store, plans, recharge, coupon, transfer, receipts,
                statement, credits, achievements, bills)


def create_member_router(j: Jeton, *, prefix: str = MEMBER_PAGES_PATH) -> APIRouter:
    """The member pages under `prefix` (`/m`). Include it as it is:
    `app.include_router(create_member_router(j))`, and call `mount_static(app)` too (pages
    link their CSS and scripts from there).

    Member links (`services/access/member_links.py`) point under `/m`: mount it elsewhere only if
    something in front rewrites the path. Links and return URLs are made from
    `JETON_PUBLIC_URL`, which must be the address members' browsers reach this app at.
    """
    ctx = MemberContext(jeton=j, templates=create_environment())
    router = APIRouter(
        prefix=prefix,
        dependencies=[Depends(bind_member_pages(ctx)), Depends(check_csrf)],
        include_in_schema=False,
        max_body_size=limits.member_form_bytes_max,
    )
    for module in PAGE_MODULES:
        router.include_router(module.router)
    return router
