"""Redeeming a coupon code."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from jeton.core.errors import Conflict, Declined, InvalidRequest, NotFound
from jeton.web.member.context import Member
from jeton.web.member.forms import FormKey, Text, error_message, form_key, redirect_to, write_key
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember
from jeton.web.member.templating import render

router = page_router()


@router.get("/coupon", name="member.coupon")
def coupon_page(request: Request, me: CurrentMember) -> HTMLResponse:
    return _page(request, me)


@router.post("/coupon", name="member.coupon_submit")
def redeem(request: Request, me: CurrentMember, key: FormKey, code: Text = "") -> Response:
    code = code.strip()
    if not code:
        return _page(request, me, error="Enter the code.", status_code=400)
    try:
        me.community.redeem_coupon(me.id, code, idempotency_key=write_key(me, "coupon", key))
    except NotFound:
        return _page(request, me, code=code, status_code=404,
                     error="There is no coupon with that code. Check it and try again.")
    except (Declined, InvalidRequest, Conflict) as exc:
        # Expired, fully redeemed, redeemed by you already, your own affiliate code...
        return _page(request, me, code=code, error=error_message(exc), status_code=409)
    return redirect_to(request, "member.home", notice="coupon_redeemed")


def _page(request: Request, me: Member, *, code: str = "", error: str = "",
          status_code: int = 200) -> HTMLResponse:
    return render(request, "member/coupon.html",
                  {"code": code, "error": error, "key": form_key()},
                  section="coupon", status_code=status_code)
