"""The credit store: the packs this member is offered, buying one, the checkout, the return.

Buying opens a purchase and the provider's checkout (the same form key: the same purchase).
- Stripe (or any provider with its own hosted page): a page with a link to it (a form may not
  redirect to another site under our CSP), then the provider sends the member back to
  `/m/purchases/return?session_id=...`.
- The in-process providers (demo, offline) have no page of their own: ours stands in for it
  (`/m/pay/<purchase>`). The demo provider's "Pay" completes the checkout at the provider, whose
  signed event grants the credits; the offline provider's page says how to pay by hand.
The purchase page shows "payment pending" until the confirmed payment has granted the credits
(it polls with htmx, or refreshes without JavaScript); it never grants anything itself.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from jeton.core import limits
from jeton.core.errors import NotFound
from jeton.services.funding import local_checkout
from jeton.services.funding.results import Checkout, PurchaseInfo
from jeton.web.member.context import Member, member_context
from jeton.web.member.forms import FormKey, form_key, redirect_to, write_key
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember
from jeton.web.member.templating import render

router = page_router()

IdPath = Annotated[str, Path(max_length=100)]
SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"  # Stripe puts the session's id in its place
_SESSION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
PENDING = ("pending", "charging", "processing")
# How often the purchase page asks again while the payment is pending.
POLL_S = 2


@router.get("/store", name="member.store")
def store(request: Request, me: CurrentMember) -> HTMLResponse:
    return _store_page(request, me)


@router.post("/store/buy", name="member.buy")
def buy(request: Request, me: CurrentMember, pack_id: Annotated[str, Form(max_length=100)],
        key: FormKey, save_method: Annotated[str, Form(max_length=8)] = "") -> Response:
    ctx = member_context(request)
    provider = ctx.jeton.payments.get()
    try:
        checkout = me.community.buy_pack(
            me.id, pack_id, idempotency_key=write_key(me, "buy", key),
            success_url=return_url(request), cancel_url=cancel_url(request, "member.store"),
            save_payment_method=bool(save_method) and can_save_method(provider.name))
    except NotFound:
        return _store_page(request, me, error="That pack is not on sale any more.",
                           status_code=404)
    return to_checkout(request, me, checkout, what="pack")


@router.get("/pay/{purchase_id}", name="member.pay")
def pay_page(request: Request, me: CurrentMember, purchase_id: IdPath) -> Response:
    ctx = member_context(request)
    purchase = local_checkout.member_purchase(ctx.jeton, me.session.community_id, me.id,
                                              purchase_id)
    if purchase.status not in PENDING or not local_checkout.is_local(ctx.jeton,
                                                                     purchase.provider):
        return RedirectResponse(request.url_for("member.purchase", purchase_id=purchase.id).path,
                                status_code=303)
    return render(request, "member/pay_local.html", {
        "purchase": purchase, "demo": purchase.provider == "demo",
    }, section="store")


@router.post("/pay/{purchase_id}", name="member.pay_submit")
def pay_submit(request: Request, me: CurrentMember, purchase_id: IdPath,
               action: Annotated[str, Form(max_length=10)]) -> Response:
    ctx = member_context(request)
    cid = me.session.community_id
    if action == "cancel":
        purchase = local_checkout.cancel_local_checkout(ctx.jeton, cid, me.id, purchase_id)
        back = "member.plans" if purchase.kind == "plan" else "member.store"
        return redirect_to(request, back, notice="checkout_canceled")
    if action != "pay":
        return RedirectResponse(request.url_for("member.pay", purchase_id=purchase_id).path,
                                status_code=303)
    local_checkout.pay_demo_checkout(ctx.jeton, cid, me.id, purchase_id)
    return RedirectResponse(request.url_for("member.purchase", purchase_id=purchase_id).path,
                            status_code=303)


@router.get("/purchases/return", name="member.purchase_return")
def purchase_return(request: Request, me: CurrentMember,
                    session_id: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Where a provider's hosted page sends the member back: find their purchase by the
    checkout session (among their own recent purchases only) and show it."""
    if _SESSION_ID.match(session_id):
        recent = me.community.list_purchases(me.id, limit=limits.member_recent_purchases)
        for purchase in recent.data:
            if purchase.session_id == session_id:
                return RedirectResponse(
                    request.url_for("member.purchase", purchase_id=purchase.id).path,
                    status_code=303)
    return redirect_to(request, "member.store", notice="purchase_unknown")


@router.get("/purchases/{purchase_id}", name="member.purchase")
def purchase_page(request: Request, me: CurrentMember, purchase_id: IdPath) -> HTMLResponse:
    purchase = _purchase(request, me, purchase_id)
    return render(request, "member/purchase.html", _status_values(request, me, purchase),
                  section="store")


@router.get("/purchases/{purchase_id}/status", name="member.purchase_status")
def purchase_status(request: Request, me: CurrentMember, purchase_id: IdPath) -> HTMLResponse:
    """The status part of the purchase page alone, for htmx to poll."""
    purchase = _purchase(request, me, purchase_id)
    return render(request, "member/_purchase_status.html",
                  _status_values(request, me, purchase))


# ---- shared with plans.py ----

def return_url(request: Request) -> str:
    """Where a hosted checkout sends the member back (the provider fills in the session)."""
    base = member_context(request).public_base
    path = request.url_for("member.purchase_return").path
    return f"{base}{path}?session_id={SESSION_PLACEHOLDER}"


def cancel_url(request: Request, route: str) -> str:
    base = member_context(request).public_base
    return f"{base}{request.url_for(route).path}?notice=checkout_canceled"


def can_save_method(provider: str) -> bool:
    """Whether the provider can keep a card for auto-recharge (the offline one cannot)."""
    return provider != "offline"


def to_checkout(request: Request, me: Member, checkout: Checkout, *, what: str) -> Response:
    """Send the member on to pay for a purchase just opened (or opened by this same form)."""
    ctx = member_context(request)
    purchase_url = request.url_for("member.purchase", purchase_id=checkout.purchase_id).path
    if checkout.status not in PENDING:
        return RedirectResponse(purchase_url, status_code=303)
    if local_checkout.is_local(ctx.jeton, checkout.provider):
        return RedirectResponse(request.url_for("member.pay",
                                                purchase_id=checkout.purchase_id).path,
                                status_code=303)
    purchase = local_checkout.member_purchase(ctx.jeton, me.session.community_id, me.id,
                                              checkout.purchase_id)
    return render(request, "member/pay_external.html", {
        "purchase": purchase, "checkout_url": checkout.url, "what": what,
    }, section={"pack": "store", "bill": "bills"}.get(what, "plans"))


# ---- helpers ----

def _store_page(request: Request, me: Member, *, error: str = "",
                status_code: int = 200) -> HTMLResponse:
    ctx = member_context(request)
    provider = ctx.jeton.payments.get()
    return render(request, "member/store.html", {
        "packs": [(pack, form_key()) for pack in me.community.list_packs(me.id)],
        "purchases": me.community.list_purchases(me.id,
                                                 limit=limits.member_recent_purchases).data,
        "can_save": can_save_method(provider.name),
        "error": error,
    }, section="store", status_code=status_code)


def _purchase(request: Request, me: Member, purchase_id: str) -> PurchaseInfo:
    return local_checkout.member_purchase(member_context(request).jeton,
                                          me.session.community_id, me.id, purchase_id)


def _status_values(request: Request, me: Member, purchase: PurchaseInfo) -> dict[str, Any]:
    pending = purchase.status in PENDING
    return {
        "purchase": purchase,
        "pending": pending,
        "poll_s": POLL_S,
        "balance": me.community.balance(me.id) if purchase.status == "completed" else None,
        "offline": purchase.provider == "offline",
        "message": error_message_for(purchase),
    }


def error_message_for(purchase: PurchaseInfo) -> str:
    if purchase.status == "expired":
        return "This payment was not completed, so nothing was charged."
    if purchase.status == "failed":
        reason = purchase.failure_reason or "the payment was declined"
        return f"The payment did not go through ({reason}). Nothing was added."
    return ""
