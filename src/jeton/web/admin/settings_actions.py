"""The owner's community settings as actions with a review (served by `pages/actions.py`, listed
on `pages/settings.py`): the sign-up bonus, the limits on transfers between members, and what
each staff role may post by hand. Each review shows every figure old → new.
"""

from __future__ import annotations

from jeton.core.amounts import format_amount
from jeton.services.access.staff import StaffRole
from jeton.services.funding import grants
from jeton.services.funding.results import RoleLimit
from jeton.web.admin.actions import Action, Audit, Input, Plan, Scope, shown
from jeton.web.admin.forms import Fields, amount_text

PERIODS = (("day", "a day"), ("week", "a week"), ("month", "a month"))
POSTING_ROLES = (StaffRole.moderator.value, StaffRole.support.value)


def _change(label: str, old: str, new: str) -> tuple[str, str]:
    return (label, f"{old} → {new}" if old != new else f"{old} (unchanged)")


def _credits(amount: int | None, scope: Scope, empty: str = "no limit") -> str:
    return shown(format_amount(amount, scope.asset.scale) if amount is not None else None, empty)


# ---- sign-up bonus ----

def _bonus_initial(scope: Scope) -> dict[str, str]:
    bonus = scope.community.get_signup_bonus()
    return {"amount": amount_text(bonus.amount, scope.asset.scale),
            "expiry_days": "" if bonus.expiry_days is None else str(bonus.expiry_days)}


def _bonus_plan(scope: Scope, fields: Fields) -> Plan | None:
    c = scope.community
    amount = fields.amount("amount", scope.asset.scale, positive=False)
    days = fields.integer("expiry_days", minimum=1)
    if not fields.ok or amount is None:
        return None
    now = c.get_signup_bonus()
    lines = [_change("Bonus", _credits(now.amount or None, scope, "none"),
                     _credits(amount or None, scope, "none")),
             _change("Expires after", f"{now.expiry_days} days" if now.expiry_days else "never",
                     f"{days} days" if days else "never")]
    changed = (now.amount, now.expiry_days) != (amount, days)

    def apply() -> bool:
        c.set_signup_bonus(amount, expiry_days=days)
        return changed

    return Plan(lines=lines, apply=apply, notice="settings_saved",
                confirm_label="Confirm: save the sign-up bonus",
                audit=Audit("settings.signup_bonus_changed", "signup_bonus",
                            {"amount": amount, "expiry_days": days}))


SIGNUP_BONUS = Action(
    "signup-bonus", "Sign-up bonus",
    lambda scope: [Input("amount", f"Credits for each new member ({scope.asset.code})",
                         hint="0: no bonus.", required=True),
                   Input("expiry_days", "They expire after (days)",
                         hint="Empty: they never expire.")],
    _bonus_initial, _bonus_plan, member=False,
    lede=lambda scope: "Free credits every member gets when the host app registers them.")


# ---- transfers between members ----

def _transfer_initial(scope: Scope) -> dict[str, str]:
    now = scope.community.get_transfer_limits()
    scale = scope.asset.scale
    return {"per_day": amount_text(now.per_day, scale),
            "per_month": amount_text(now.per_month, scale),
            "fee_fixed": amount_text(now.fee_fixed, scale), "fee_bp": str(now.fee_bp)}


def _transfer_plan(scope: Scope, fields: Fields) -> Plan | None:
    c = scope.community
    scale = scope.asset.scale
    per_day = fields.amount("per_day", scale, required=False)
    per_month = fields.amount("per_month", scale, required=False)
    fee_fixed = fields.amount("fee_fixed", scale, required=False, positive=False) or 0
    fee_bp = fields.integer("fee_bp", minimum=0, maximum=10_000) or 0
    if not fields.ok:
        return None
    now = c.get_transfer_limits()
    lines = [_change("A member may send a day", _credits(now.per_day, scope),
                     _credits(per_day, scope)),
             _change("A member may send a month", _credits(now.per_month, scope),
                     _credits(per_month, scope)),
             _change("Fixed fee", _credits(now.fee_fixed, scope, "none"),
                     _credits(fee_fixed, scope, "none")),
             _change("Fee (basis points)", str(now.fee_bp), str(fee_bp))]
    changed = (now.per_day, now.per_month, now.fee_fixed, now.fee_bp) != (
        per_day, per_month, fee_fixed, fee_bp)

    def apply() -> bool:
        c.set_transfer_limits(per_day=per_day, per_month=per_month, fee_fixed=fee_fixed,
                              fee_bp=fee_bp)
        return changed

    return Plan(lines=lines, apply=apply, notice="settings_saved",
                confirm_label="Confirm: save the transfer limits",
                audit=Audit("settings.transfer_limits_changed", "transfer_limits",
                            {"per_day": per_day, "per_month": per_month,
                             "fee_fixed": fee_fixed, "fee_bp": fee_bp}))


TRANSFER_LIMITS = Action(
    "transfer-limits", "Transfers between members",
    lambda scope: [Input("per_day", f"Most a member may send a UTC day ({scope.asset.code})",
                         hint="Empty: no limit."),
                   Input("per_month", f"Most a member may send a month ({scope.asset.code})",
                         hint="Empty: no limit."),
                   Input("fee_fixed", f"Fixed fee the sender pays ({scope.asset.code})",
                         hint="Empty or 0: none."),
                   Input("fee_bp", "Fee in basis points of the amount",
                         hint="100 basis points are 1%. 0: none.")],
    _transfer_initial, _transfer_plan, member=False)


# ---- what a role may post by hand ----

def _role_limit(scope: Scope, role: str) -> RoleLimit | None:
    return next((r for r in grants.role_limits(scope.ctx.jeton, scope.staff.community_id)
                 if r.role == role and r.asset == scope.asset.code), None)


def _role_initial(scope: Scope) -> dict[str, str]:
    limit = _role_limit(scope, scope.target)
    return {"amount": amount_text(limit.amount if limit else None, scope.asset.scale),
            "period": limit.period if limit else "day"}


def _role_plan(scope: Scope, fields: Fields) -> Plan | None:
    role = scope.target
    if role not in POSTING_ROLES:
        fields.errors["amount"] = "Owners post without a limit; choose moderator or support."
        return None
    amount = fields.amount("amount", scope.asset.scale, positive=False)
    period = fields.text("period")
    if period not in dict(PERIODS):
        fields.errors["period"] = "Choose a day, a week or a month."
    if not fields.ok or amount is None:
        return None
    limit = _role_limit(scope, role)
    old = (f"{_credits(limit.amount, scope)} {scope.asset.code} {dict(PERIODS)[limit.period]}"
           if limit else "nothing (no limit set)")
    new = f"{_credits(amount, scope)} {scope.asset.code} {dict(PERIODS)[period]}"

    def apply() -> bool:
        scope.community.set_role_limit(role, amount, period=period)
        return old != new

    return Plan(lines=[_change(f"A {role} may post", old, new)], apply=apply,
                notice="settings_saved", confirm_label=f"Confirm: save the {role} limit",
                audit=Audit("settings.role_limit_changed", role,
                            {"amount": amount, "period": period}))


ROLE_LIMIT = Action(
    "role-limit", "What a role may post",
    lambda scope: [Input("amount", f"Credits granted and charged together ({scope.asset.code})",
                         required=True),
                   Input("period", "Per", "select", options=PERIODS)],
    _role_initial, _role_plan, member=False, target_label="role",
    lede=lambda scope: (f"What each {scope.target} may grant and charge by hand, together, "
                        "per period. Owners have no limit."))


ACTIONS = (SIGNUP_BONUS, TRANSFER_LIMITS, ROLE_LIMIT)
