"""Auto-recharge: when the available balance falls under a threshold, buy a chosen pack (or as
many of it as bring the balance back to a target) with the saved payment method, at most so
many times a month; and the member's low-balance alerts at three levels."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse

from jeton.core.amounts import format_amount
from jeton.core.errors import InvalidRequest, NotFound
from jeton.web.member.context import Member
from jeton.web.member.forms import Fields, Text, error_message, redirect_to
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember
from jeton.web.member.templating import render
from jeton.web.templating import format_money

router = page_router()

# The monthly cap the service accepts (services/funding/recharge.py); 0 would never recharge.
CAP_MIN = 1
CAP_MAX = 1_000
NO_SAVED_CARD = ("Automatic recharge needs a saved card. Buy a pack in the store once and tick "
                 "“Keep my card for auto-recharge”, then come back and turn it on.")
ALERT_LEVELS = ("info", "warning", "critical")


@router.get("/recharge", name="member.recharge")
def recharge_page(request: Request, me: CurrentMember) -> HTMLResponse:
    current = me.community.get_auto_recharge(me.id)
    # Not ticked for a member who never turned it on: it needs a saved card they may not have.
    values = {"enabled": "1" if current is not None and current.enabled else "",
              "threshold": "", "pack_id": "", "monthly_cap": "3", "target": ""}
    if current is not None:
        values.update(threshold=format_amount(current.threshold, me.asset.scale),
                      pack_id=current.pack_id, monthly_cap=str(current.monthly_cap),
                      target="" if current.target is None
                      else format_amount(current.target, me.asset.scale))
    return _page(request, me, values)


@router.post("/recharge", name="member.recharge_submit")
def save(request: Request, me: CurrentMember, threshold: Text = "", pack_id: Text = "",
         monthly_cap: Text = "", target: Text = "",
         enabled: Annotated[str, Form(max_length=8)] = "") -> Response:
    fields = Fields({"threshold": threshold, "pack_id": pack_id, "monthly_cap": monthly_cap,
                     "enabled": enabled, "target": target})
    on = bool(fields.values["enabled"])
    amount = fields.amount("threshold", me.asset.scale, positive=False)
    if amount is not None and amount < 0:
        fields.errors["threshold"] = "Enter zero or more."
    back_to = fields.amount("target", me.asset.scale, required=False)
    if back_to is not None and amount is not None and back_to <= amount:
        fields.errors["target"] = "Enter more than the threshold, or leave it empty."
    pack = fields.text("pack_id", required=True, what="A pack")
    cap = fields.integer("monthly_cap", required=True, minimum=CAP_MIN, maximum=CAP_MAX)
    if not fields.ok or amount is None or cap is None:
        return _page(request, me, fields.values, fields.errors, status_code=400)
    try:
        me.community.set_auto_recharge(me.id, pack_id=pack, threshold=amount, monthly_cap=cap,
                                       enabled=on, target=back_to)
    except NotFound:
        fields.errors["pack_id"] = "That pack is not on sale any more; choose another."
        return _page(request, me, fields.values, fields.errors, status_code=400)
    except InvalidRequest as exc:
        message = error_message(exc)
        if on and "no saved payment method" in exc.detail:
            # The service speaks of providers; the member needs to know what to do.
            message = NO_SAVED_CARD
        return _page(request, me, fields.values, message=message, status_code=400)
    return redirect_to(request, "member.recharge", notice="recharge_saved")


@router.post("/recharge/alerts", name="member.alerts_submit")
def save_alerts(request: Request, me: CurrentMember, info: Text = "", warning: Text = "",
                critical: Text = "") -> Response:
    fields = Fields({"info": info, "warning": warning, "critical": critical})
    levels = {name: fields.amount(name, me.asset.scale, required=False)
              for name in ALERT_LEVELS}
    if not fields.ok:
        return _page(request, me, _current_values(me), alert_errors=fields.errors,
                     alert_values=fields.values, status_code=400)
    try:
        me.community.set_low_balance_levels(me.id, levels)
    except InvalidRequest as exc:
        return _page(request, me, _current_values(me), alert_values=fields.values,
                     alert_message=error_message(exc), status_code=400)
    return redirect_to(request, "member.recharge", notice="alerts_saved")


def _current_values(me: Member) -> dict[str, str]:
    current = me.community.get_auto_recharge(me.id)
    if current is None:
        return {"enabled": "1", "threshold": "", "pack_id": "", "monthly_cap": "3",
                "target": ""}
    return {"enabled": "1" if current.enabled else "", "pack_id": current.pack_id,
            "threshold": format_amount(current.threshold, me.asset.scale),
            "monthly_cap": str(current.monthly_cap),
            "target": "" if current.target is None
            else format_amount(current.target, me.asset.scale)}


def _page(request: Request, me: Member, values: dict[str, str],
          errors: dict[str, str] | None = None, *, message: str = "",
          alert_values: dict[str, str] | None = None, alert_message: str = "",
          alert_errors: dict[str, str] | None = None,
          status_code: int = 200) -> HTMLResponse:
    packs = me.community.list_packs(me.id)
    levels = me.community.low_balance_levels(me.id).levels
    if alert_values is None:
        alert_values = {name: "" for name in ALERT_LEVELS}
        alert_values.update({lv.level: format_amount(lv.threshold, me.asset.scale)
                             for lv in levels})
    return render(request, "member/recharge.html", {
        "current": me.community.get_auto_recharge(me.id),
        "packs": packs,
        "pack_names": {p.id: p.name for p in packs},
        "pack_options": [(p.id, f"{p.name}: {format_amount(p.credits, me.asset.scale)} credits "
                                f"for {format_money(p.price_minor, p.currency)}")
                         for p in packs],
        "values": values,
        "errors": errors or {},
        "message": message,
        "cap_min": CAP_MIN,
        "cap_max": CAP_MAX,
        "levels": levels,
        "alert_values": alert_values,
        "alert_message": alert_message,
        "alert_errors": alert_errors or {},
    }, section="recharge", status_code=status_code)
