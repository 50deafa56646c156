"""The member's credits lot by lot: where each came from (for credits received by transfer,
the member who sent them), when it came, what is left and when it expires."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.web.member.pages.home import lot_rows
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember
from jeton.web.member.templating import render

router = page_router()


@router.get("/credits", name="member.credits")
def credits(request: Request, me: CurrentMember) -> HTMLResponse:
    """Every lot with credits left, the ones that expire first at the top (they are spent
    first), then those that never expire."""
    lots = [lot for lot in me.community.lots(me.id) if lot.remaining > 0]
    lots.sort(key=lambda lot: (lot.expires_at is None, lot.expires_at or lot.created_at,
                               lot.created_at))
    return render(request, "member/credits.html", {"rows": lot_rows(request, me, lots)},
                  section="home")
