"""The overview: balance, credits expiring soon, and the history with its running balance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse

from jeton.core import limits
from jeton.services.ledger.results import LotInfo, StatementLine
from jeton.services.reports import activity
from jeton.web.balance_series import last_days
from jeton.web.member.context import Member, member_context
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
    "rollover": "Plan credits rolled over (the rest expired)",
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
    "rollover": "Rolled over from your plan",
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
    words = history_words(request, me, page.data)
    series, series_max = last_days(c, me.id, ctx.jeton.clock.now())
    return render(request, "member/home.html", {
        "balance": balance,
        "series": series, "series_max": series_max,
        "expiring": [(row.lot, row.source) for row in lot_rows(request, me, expiring)],
        "expiring_days": limits.member_expiring_days,
        "history": [(line, words.describe(line)) for line in page.data],
        "next_cursor": page.next_cursor if page.has_more else None,
        "paged": cursor is not None,
    }, section="home")


def history_words(request: Request, me: Member, lines: list[StatementLine]) -> HistoryWords:
    """The words for these lines of the member's history (one read of their parties)."""
    ctx = member_context(request)
    c = me.community
    return HistoryWords(
        me=me.id,
        services={s.code: s.name for s in c.catalog(include_retired=True).services},
        parties=activity.transfer_parties(ctx.jeton.store, c.id,
                                          [line.transfer_id for line in lines]))


@dataclass(frozen=True, slots=True)
class HistoryWords:
    """Names what happened on a line of a member's history, in words: the service's name, the
    other member of a transfer, whose use of a service paid this member a royalty."""

    me: str
    services: dict[str, str]  # service code -> its name in the catalog
    parties: dict[str, activity.Parties]  # transfer id -> who it was about

    def service(self, code: str) -> str:
        """The catalog's name; for a service no longer in it, its code in words."""
        return self.services.get(code) or code.replace(".", " ").replace("_", " ").capitalize()

    def other(self, line: StatementLine) -> str | None:
        """The other member of the line's transfer, by name: the first that is not me."""
        parties = self.parties.get(line.transfer_id)
        if parties is None:
            return None
        if parties.member_id and parties.member_id != self.me:
            return parties.names.get(parties.member_id, parties.member_id)
        return next((name for member, name in parties.names.items() if member != self.me),
                    None)

    def describe(self, line: StatementLine) -> str:
        what = self._what(line)
        return f"{what}: {line.memo}" if line.memo else what

    def _what(self, line: StatementLine) -> str:
        other = self.other(line)
        if line.kind == "transfer":
            if line.amount < 0:
                return f"Sent to {other}" if other else "Sent to another member"
            return f"Received from {other}" if other else "Received from another member"
        if line.kind in ("spend", "capture") and line.service:
            name = self.service(line.service)
            parties = self.parties.get(line.transfer_id)
            payer = parties.member_id if parties else None
            if line.amount > 0 and payer and payer != self.me and other:
                return f"Royalty from {other}'s {_lower_first(name)}"
            if line.amount > 0:
                return f"Paid to you for {_lower_first(name)}"
            return name
        if line.kind == "reversal":
            if line.service:
                return f"Refund of {_lower_first(self.service(line.service))}"
            return "Reversed"
        return (REASON_LABELS.get(line.reason_code) or KIND_LABELS.get(line.kind)
                or line.kind.capitalize())


def _lower_first(name: str) -> str:
    """"File download" -> "file download", for the middle of a sentence; a code stays."""
    return name[:1].lower() + name[1:] if name[:2].istitle() or name[1:2].islower() else name


@dataclass(frozen=True, slots=True)
class LotRow:
    lot: LotInfo
    source: str  # where it came from, in words
    sender: str | None  # the member who sent it, for credits received by transfer
    expires_at: datetime | None


def lot_rows(request: Request, me: Member, lots: list[LotInfo]) -> list[LotRow]:
    """The lots with their origin told: for a lot received by transfer, the sender's name."""
    store = member_context(request).jeton.store
    c = me.community
    received = [lot.id for lot in lots if lot.source == "transfer"]
    origins = activity.lot_origins(store, c.id, received)
    parties = activity.transfer_parties(store, c.id, sorted(set(origins.values())))
    rows = []
    for lot in lots:
        sender = None
        found = parties.get(origins.get(lot.id, ""))
        if found is not None:
            sender = next((name for member, name in found.names.items() if member != me.id),
                          None)
        source = f"Sent by {sender}" if sender else source_label(lot.source)
        rows.append(LotRow(lot=lot, source=source, sender=sender, expires_at=lot.expires_at))
    return rows


def source_label(source: str) -> str:
    return SOURCE_LABELS.get(source, source.replace("_", " ").capitalize())
