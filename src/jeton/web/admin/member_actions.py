"""The owner's actions on one member (served by `pages/actions.py`): refund a purchase in money
or in credits, refund a charge, cancel a subscription (at the period's end or now), change
auto-recharge and the low-balance alert. Each is one call of the `Community` the API calls.
"""

from __future__ import annotations

from jeton.core.amounts import format_amount
from jeton.core.currencies import exponent
from jeton.core.errors import Declined, NotFound
from jeton.core.statuses import Status
from jeton.services.reports import activity
from jeton.web.admin.actions import Action, Audit, Input, Plan, Scope, shown
from jeton.web.admin.forms import Fields, amount_text, staff_actor
from jeton.web.templating import format_money, format_when

CHARGE_KINDS = ("spend", "capture")


def _member_id(scope: Scope) -> str:
    if scope.member is None:  # pages/actions.py names a member for every member action
        raise NotFound("no member was named", status=Status.member_not_found)
    return scope.member.id


# ---- refund a purchase ----

def _refund_inputs(scope: Scope) -> list[Input]:
    purchase = scope.community.get_purchase(scope.target)
    return [
        Input("how", "Refund as", "select", options=(
            ("money", "Money, through the payment provider"),
            ("credits", "Credits (the money stays; permanent credits instead)"))),
        Input("amount", f"Amount ({purchase.currency})",
              hint="Empty: everything not refunded yet."),
        Input("credits", f"Credits to give ({scope.asset.code})",
              hint="Credits refunds only. Empty: what the money bought, in proportion."),
        Input("reason", "Reason", "textarea", hint="Kept with the refund and in the audit log."),
    ]


def _refund_plan(scope: Scope, fields: Fields) -> Plan | None:
    c = scope.community
    purchase = c.get_purchase(scope.target)
    how = fields.text("how")
    if how not in ("money", "credits"):
        fields.errors["how"] = "Choose money or credits."
    amount = fields.amount("amount", exponent(purchase.currency), required=False)
    credits = fields.amount("credits", scope.asset.scale, required=False) \
        if how == "credits" else None
    reason = fields.text("reason")
    if not fields.ok:
        return None
    left = purchase.amount_minor - purchase.refunded_minor
    refund = left if amount is None else amount
    refusal = ""
    if purchase.member_id != _member_id(scope):
        refusal = "This purchase is not this member's."
    elif purchase.status != "completed":
        refusal = f"This purchase is {purchase.status}: only a completed purchase is refunded."
    elif left <= 0:
        refusal = "This purchase is refunded already."
    elif refund > left:
        refusal = (f"At most {format_money(left, purchase.currency)} of this purchase is "
                   "left to refund.")
    lines = [("Purchase", f"{purchase.description}, {format_when(purchase.created_at)}"),
             ("Paid", format_money(purchase.amount_minor, purchase.currency)),
             ("Refunded so far", format_money(purchase.refunded_minor, purchase.currency)),
             ("Refund", format_money(refund, purchase.currency)
              + (" in money" if how == "money" else " as credits"))]
    if how == "money":
        lines.append(("Credits", "the purchase's unspent credits, in proportion, are taken back"))
    else:
        lines.append(("Credits given", format_amount(credits, scope.asset.scale)
                      if credits is not None else "what the money bought, in proportion"))
    if reason:
        lines.append(("Reason", reason))
    key = fields.values["key"]

    def apply() -> bool:
        if how == "money":
            done = c.refund_purchase(purchase.id, idempotency_key=key, amount_minor=amount,
                                     actor=staff_actor(scope.staff), reason=reason)
        else:
            done = c.refund_as_credits(purchase.id, idempotency_key=key, amount_minor=amount,
                                       credits=credits, actor=staff_actor(scope.staff),
                                       reason=reason)
        if done.status == "failed":
            why = done.failure_reason or "no reason given"
            raise Declined(f"the provider refused the refund: {why}")
        return not done.replayed

    label = f"Confirm: refund {format_money(refund, purchase.currency)}"
    return Plan(lines=lines, apply=apply, confirm_label=label, danger=True, refusal=refusal,
                notice="purchase_refunded",
                audit=Audit("purchase.refunded", purchase.id,
                            {"how": how, "amount_minor": refund, "currency": purchase.currency,
                             "credits": credits, "reason": reason}))


REFUND_PURCHASE = Action(
    "refund-purchase", "Refund a purchase", _refund_inputs,
    lambda scope: {"how": "money", "amount": "", "credits": "", "reason": ""}, _refund_plan,
    target_label="purchase")


# ---- refund a charge ----

def _charge_plan(scope: Scope, fields: Fields) -> Plan | None:
    c = scope.community
    detail = activity.transfer_detail(scope.ctx.store, scope.staff.community_id, scope.target)
    t = detail.transfer
    reason = fields.text("reason")
    refusal = ""
    if t.member_id != _member_id(scope):
        refusal = "This charge is not this member's."
    elif t.kind not in CHARGE_KINDS:
        refusal = f"This is a {t.kind}, not a charge: only charges are refunded here."
    elif detail.reversed_by:
        refusal = "This charge was refunded already."
    balance = c.balance(_member_id(scope))
    scale = scope.asset.scale
    lines = [("Charge", f"{t.service or t.reason_code or t.kind}, {format_when(t.effective_at)}"),
             ("Credits back", f"{format_amount(t.amount, scale)} {t.asset}, to the lots they "
                              "came from (with their expiry)"),
             ("Posted balance", f"{format_amount(balance.posted, scale)} → "
                                f"{format_amount(balance.posted + t.amount, scale)}")]
    if reason:
        lines.append(("Reason", reason))
    key = fields.values["key"]

    def apply() -> bool:
        done = c.refund_charge(t.id, idempotency_key=key, actor=staff_actor(scope.staff),
                               reason=reason)
        return not done.replayed

    return Plan(lines=lines, apply=apply, refusal=refusal, notice="charge_refunded",
                confirm_label=f"Confirm: refund {format_amount(t.amount, scale)} {t.asset}",
                audit=Audit("charge.refunded", t.id, {"amount": t.amount, "reason": reason}))


REFUND_CHARGE = Action(
    "refund-charge", "Refund a charge",
    lambda scope: [Input("reason", "Reason", "textarea",
                         hint="Shown on the member's statement and in the audit log.")],
    lambda scope: {"reason": ""}, _charge_plan, target_label="charge")


# ---- cancel a subscription ----

def _cancel_plan(scope: Scope, fields: Fields) -> Plan | None:
    c = scope.community
    sub = c.get_subscription(scope.target)
    when = fields.text("when")
    if when not in ("period_end", "now"):
        fields.errors["when"] = "Choose when the subscription ends."
        return None
    plans = {p.id: p.name for p in c.list_plans(include_inactive=True)}
    refusal = ""
    if sub.member_id != _member_id(scope):
        refusal = "This subscription is not this member's."
    elif sub.status == "canceled":
        refusal = "This subscription is canceled already."
    elif when == "period_end" and sub.cancel_at_period_end:
        refusal = "This subscription ends at the end of its period already."
    end = sub.current_period_end
    ends = ("now: the member keeps this cycle's credits until they expire"
            if when == "now" or end is None
            else f"at the end of the period, {format_when(end)}; no renewal")
    lines = [("Plan", plans.get(sub.plan_id, sub.plan_id)),
             ("Status", f"{sub.status.replace('_', ' ')} → "
                        f"{'canceled' if when == 'now' or end is None else 'cancels then'}"),
             ("Ends", ends)]

    def apply() -> bool:
        after = c.cancel_subscription(sub.id, at_period_end=when == "period_end",
                                      actor=staff_actor(scope.staff))
        return (after.status, after.cancel_at_period_end) != (sub.status,
                                                               sub.cancel_at_period_end)

    return Plan(lines=lines, apply=apply, refusal=refusal, danger=True,
                notice="subscription_canceled", confirm_label="Confirm: cancel the subscription",
                audit=Audit("subscription.canceled", sub.id, {"when": when}))


CANCEL_SUBSCRIPTION = Action(
    "cancel-subscription", "Cancel a subscription",
    lambda scope: [Input("when", "When it ends", "select", options=(
        ("period_end", "At the end of the period already paid (no renewal)"),
        ("now", "Now")))],
    lambda scope: {"when": "period_end"}, _cancel_plan, target_label="subscription")


# ---- auto-recharge ----

def _recharge_inputs(scope: Scope) -> list[Input]:
    packs = scope.community.list_packs()
    return [Input("enabled", "Recharge automatically", "checkbox"),
            Input("pack", "Pack to buy", "select",
                  options=tuple((p.id, f"{p.name} ({format_money(p.price_minor, p.currency)})")
                                for p in packs)),
            Input("threshold", f"When available falls under ({scope.asset.code})"),
            Input("cap", "At most this many recharges a month", hint="0 to 1,000.")]


def _recharge_initial(scope: Scope) -> dict[str, str]:
    now = scope.community.get_auto_recharge(_member_id(scope))
    if now is None:
        return {"enabled": "", "pack": "", "threshold": "", "cap": "3"}
    return {"enabled": "1" if now.enabled else "", "pack": now.pack_id,
            "threshold": amount_text(now.threshold, scope.asset.scale),
            "cap": str(now.monthly_cap)}


def _recharge_plan(scope: Scope, fields: Fields) -> Plan | None:
    c = scope.community
    member_id = _member_id(scope)
    scale = scope.asset.scale
    enabled = fields.text("enabled") == "1"
    pack_id = fields.text("pack", required=True, what="A pack")
    threshold = fields.amount("threshold", scale, positive=False)
    cap = fields.integer("cap", required=True, minimum=0, maximum=1000)
    if not fields.ok or threshold is None or cap is None:
        return None
    packs = {p.id: p.name for p in c.list_packs(include_inactive=True)}
    now = c.get_auto_recharge(member_id)
    old = ("off" if now is None or not now.enabled else
           f"on: {packs.get(now.pack_id, now.pack_id)} under "
           f"{format_amount(now.threshold, scale)}, at most {now.monthly_cap} a month")
    new = ("off" if not enabled else
           f"on: {packs.get(pack_id, pack_id)} under {format_amount(threshold, scale)}, "
           f"at most {cap} a month")
    lines = [("Auto-recharge", f"{old} → {new}")]
    if now is not None and now.last_error:
        lines.append(("Last failure", f"{now.last_error} (cleared by saving)"))

    def apply() -> bool:
        c.set_auto_recharge(member_id, pack_id=pack_id, threshold=threshold, monthly_cap=cap,
                            enabled=enabled)
        return old != new or bool(now and now.status != "ok")

    return Plan(lines=lines, apply=apply, notice="auto_recharge_saved",
                confirm_label="Confirm: save auto-recharge",
                audit=Audit("member.auto_recharge_changed", member_id,
                            {"enabled": enabled, "pack_id": pack_id, "threshold": threshold,
                             "monthly_cap": cap}))


AUTO_RECHARGE = Action("auto-recharge", "Auto-recharge", _recharge_inputs, _recharge_initial,
                       _recharge_plan, lede=lambda scope: (
                           "Buys the pack with the member's saved payment method when their "
                           "available balance falls under the threshold. Turning it on needs "
                           "a saved payment method."))


# ---- low-balance alert ----

def _low_initial(scope: Scope) -> dict[str, str]:
    alert = scope.community.low_balance_alert(_member_id(scope))
    return {"threshold": amount_text(alert.threshold if alert else None, scope.asset.scale)}


def _low_plan(scope: Scope, fields: Fields) -> Plan | None:
    c = scope.community
    member_id = _member_id(scope)
    scale = scope.asset.scale
    threshold = fields.amount("threshold", scale, required=False)
    if not fields.ok:
        return None
    alert = c.low_balance_alert(member_id)
    old = shown(format_amount(alert.threshold, scale) if alert else None)
    new = shown(format_amount(threshold, scale) if threshold is not None else None)

    def apply() -> bool:
        c.set_low_balance_threshold(member_id, threshold)
        return old != new

    return Plan(lines=[("Send balance.low under", f"{old} → {new}")], apply=apply,
                notice="low_balance_saved", confirm_label="Confirm: save the alert",
                audit=Audit("member.low_balance_changed", member_id, {"threshold": threshold}))


LOW_BALANCE = Action(
    "low-balance", "Low-balance alert",
    lambda scope: [Input("threshold", f"Alert under ({scope.asset.code})",
                         hint="The balance.low webhook is sent once each time the member's "
                              "available balance falls under this. Empty: no alert.")],
    _low_initial, _low_plan)


ACTIONS = (REFUND_PURCHASE, REFUND_CHARGE, CANCEL_SUBSCRIPTION, AUTO_RECHARGE, LOW_BALANCE)
