"""The overview: balance, credits expiring soon, and the history with its running balance."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.core import limits
from jeton.services.ledger.results import StatementLine
from jeton.web.member.context import member_context
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember
from jeton.web.member.templating import render

router = page_router()

# A history cursor is a transfer id (time-ordered); anything else is ignored.
_CURSOR = re.compile(r"^[0-9A-Za-z-]{1,100}$")

# What a movement was, by its reason code (grants and charges from the funding services), else
# by its kind.
REASON_LABELS = {
    "purchase": "Bought",
    "bonus": "Bonus",
    "coupon": "Coupon",
    "plan": "Plan credits",
    "signup_bonus": "Sign-up bonus",
    "staff_grant": "Credits added",
    "staff_charge": "Credits taken",
    "reward": "Reward",
    "refund": "Refund",
    "affiliate_royalty": "Affiliate royalty",
    "affiliate_codes": "Affiliate codes",
}
KIND_LABELS = {
    "grant": "Credits added",
    "spend": "Spent",
    "capture": "Used",
    "expiry": "Expired",
    "reversal": "Reversed",
    "adjustment": "Adjustment",
    "payment": "Payment",
}
# Where a lot's credits came from (its source), in words.
SOURCE_LABELS = {
    "purchase": "Bought",
    "bonus": "Bonus",
    "coupon": "Coupon",
    "plan": "Plan",
    "staff": "From the team",
    "signup": "Sign-up bonus",
    "welcome": "Welcome credits",
    "reward": "Reward",
    "royalty": "Royalty",
    "transfer": "From another member",
    "refund": "Refund",
    "grant": "Credits added",
}


@router.get("/", name="member.home")
def home(request: Request, me: CurrentMember, after: str = "") -> HTMLResponse:
    ctx = member_context(request)
    c = me.community
    balance = c.balance(me.id)
    horizon = ctx.jeton.clock.now() + timedelta(days=limits.member_expiring_days)
    expiring = sorted((lot for lot in c.lots(me.id)
                       if lot.expires_at is not None and lot.remaining > 0
                       and lot.expires_at <= horizon),
                      key=lambda lot: lot.expires_at or horizon)
    cursor = after if _CURSOR.match(after) else None
    page = c.statement(me.id, limit=limits.member_history_page_size, starting_after=cursor)
    return render(request, "member/home.html", {
        "balance": balance,
        "expiring": [(lot, source_label(lot.source)) for lot in expiring],
        "expiring_days": limits.member_expiring_days,
        "history": [(line, describe(line)) for line in page.data],
        "next_cursor": page.next_cursor if page.has_more else None,
        "paged": cursor is not None,
    }, section="home")


def describe(line: StatementLine) -> str:
    """What a line of the history was, in a few words."""
    if line.kind == "transfer":
        what = "Sent to another member" if line.amount < 0 else "Received from another member"
    elif line.kind == "spend" and line.service:
        what = f"Spent on {line.service}"
    else:
        what = (REASON_LABELS.get(line.reason_code) or KIND_LABELS.get(line.kind)
                or line.kind.capitalize())
    return f"{what}: {line.memo}" if line.memo else what


def source_label(source: str) -> str:
    return SOURCE_LABELS.get(source, source.replace("_", " ").capitalize())
