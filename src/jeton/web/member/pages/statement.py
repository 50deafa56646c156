"""The member's statement as CSV, and the list of their receipts (charges, purchases and
refunds), each linked to its receipt page."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from jeton.core import limits
from jeton.services.funding.receipts import PURCHASE_REASONS
from jeton.services.ledger.results import StatementLine
from jeton.services.reports.results import ReportTable
from jeton.web.member.context import Member
from jeton.web.member.pages.home import history_words
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember
from jeton.web.member.templating import render
from jeton.web.templating import format_amount

router = page_router()

_CURSOR = re.compile(r"^[0-9A-Za-z-]{1,100}$")
STATEMENT_COLUMNS = ["date", "what", "amount", "balance_after", "reference"]


def _pages(me: Member, cursor: str | None = None) -> Iterator[list[StatementLine]]:
    """The member's whole statement, newest first, a page at a time."""
    while True:
        page = me.community.statement(me.id, limit=limits.page_size_max,
                                      starting_after=cursor)
        yield page.data
        if not page.has_more or not page.next_cursor:
            return
        cursor = page.next_cursor


@router.get("/statement.csv", name="member.statement_csv")
def statement_csv(request: Request, me: CurrentMember) -> Response:
    """Every posting of the member's wallet, newest first: when (UTC, ISO 8601), what happened
    in the history's words, the change and the balance after, in the asset's units."""
    scale = me.asset.scale
    rows: list[list[object]] = []
    for lines in _pages(me):
        words = history_words(request, me, lines)
        rows.extend([line.effective_at.isoformat(), words.describe(line),
                     format_amount(line.amount, scale).replace(",", ""),
                     "" if line.balance_after is None
                     else format_amount(line.balance_after, scale).replace(",", ""),
                     line.transfer_id] for line in lines)
    table = ReportTable(key="statement", title="Statement", columns=STATEMENT_COLUMNS,
                        rows=rows)
    return Response(table.to_csv(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="statement-{me.asset.code}.csv"'})


# The lines that have a receipt worth keeping: what the member paid for services, credits
# they bought (packs, automatic recharges, plans' periods), and refunds of either.
def receipt_kind(line: StatementLine) -> str | None:
    if line.kind in ("spend", "capture") and line.amount < 0:
        return "Charge"
    if line.kind == "grant" and line.reason_code in PURCHASE_REASONS:
        return "Purchase"
    if line.kind == "reversal" or line.reason_code == "refund":
        return "Refund"
    return None


@router.get("/receipts", name="member.receipts")
def receipts_list(request: Request, me: CurrentMember, after: str = "") -> HTMLResponse:
    """The member's charges, purchases and refunds, newest first, a page at a time."""
    cursor = after if _CURSOR.match(after) else None
    size = limits.member_history_page_size
    found: list[tuple[StatementLine, str]] = []
    next_cursor: str | None = None
    for lines in _pages(me, cursor):
        for line in lines:
            kind = receipt_kind(line)
            if kind is None:
                continue
            if len(found) == size:
                next_cursor = found[-1][0].transfer_id
                break
            found.append((line, kind))
        if next_cursor:
            break
    words = history_words(request, me, [line for line, _ in found])
    return render(request, "member/receipts.html", {
        "receipts": [(line, kind, words.describe(line)) for line, kind in found],
        "next_cursor": next_cursor, "paged": cursor is not None,
    }, section="home")
