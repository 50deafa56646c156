"""Reports: what was sold, issued, consumed and expired over a range of days, and what is owed.

Every table of `services.reports.service.build` is shown with its chart (when the report gives
it one) and as an accessible table, and downloads as CSV at `/reports/{key}.csv?since=&until=`.
A table added to the report (the funding tables are: packs sold, recharges, money taken) appears
here without any change to this page.

The range is two dates, both included (`until` is the last day shown; the service's end is the
day after it). Without them: the last 30 days up to today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response

from jeton.core import currencies
from jeton.core.amounts import format_amount, parse_amount
from jeton.core.errors import InvalidRequest
from jeton.services.ledger.results import AssetInfo
from jeton.services.reports.results import Report, ReportTable
from jeton.services.reports.service import range_days_max
from jeton.web.admin.context import admin_context
from jeton.web.admin.forms import Fields, sentence
from jeton.web.admin.routing import page_router
from jeton.web.admin.security import CurrentStaff, PageNotFound
from jeton.web.admin.templating import format_money, render

router = page_router()

DEFAULT_DAYS = 30
DateText = Annotated[str, Query(max_length=20)]
# Columns that count credits (shown in the asset's decimals); money columns end in `_minor`.
CREDIT_COLUMNS = frozenset({"credits", "issued", "consumed", "expired", "bonus_credits"})
# Money the report gives in major units as decimal strings, beside its `currency` column.
MONEY_COLUMNS = frozenset({"taken", "refunded", "net"})
HEADERS = {"money_minor": "Money", "amount_minor": "Money", "paid": "Paid credits",
           "net": "Net of refunds"}
# Tables of how things stand now rather than of the range (the float is owed today).
SNAPSHOT_TABLES = frozenset({"float"})


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    numeric: bool
    span: bool = False  # a folded run of empty days: one cell across the whole row


@dataclass(frozen=True, slots=True)
class TableView:
    key: str
    title: str
    headers: list[str]
    numeric: list[bool]
    rows: list[list[Cell]]
    chart: dict[str, Any] | None
    snapshot: bool  # as things stand now, whatever the range


@router.get("/reports", name="admin.reports")
def reports_page(request: Request, staff: CurrentStaff, since: DateText = "",
                 until: DateText = "") -> HTMLResponse:
    ctx = admin_context(request)
    asset = ctx.credit_asset(staff.community_id)
    first, last, errors = _range(request, since, until)
    if errors:
        return render(request, "admin/reports.html", {
            "values": {"since": since, "until": until}, "errors": errors, "tables": [],
            "totals": [], "query": "", "asset": asset, "days_max": range_days_max,
        }, status_code=400, section="reports")
    report = _build(request, staff.community_id, first, last, asset)
    tables = [_view(t, asset) for t in report.tables]
    return render(request, "admin/reports.html", {
        "values": {"since": first.isoformat(), "until": last.isoformat()}, "errors": {},
        "tables": tables, "totals": _totals(report, asset), "asset": asset,
        "query": f"since={first.isoformat()}&until={last.isoformat()}",
        "days_max": range_days_max,
    }, section="reports")


@router.get("/reports/{key}.csv", name="admin.report_csv")
def report_csv(request: Request, staff: CurrentStaff, key: str, since: DateText = "",
               until: DateText = "") -> Response:
    ctx = admin_context(request)
    first, last, errors = _range(request, since, until)
    if errors:
        raise InvalidRequest(" ".join(errors.values()))
    report = _build(request, staff.community_id, first, last,
                    ctx.credit_asset(staff.community_id))
    try:
        table = report.table(key)
    except KeyError:
        raise PageNotFound(f"There is no report table {key!r}.") from None
    name = f"{staff.community_id}-{key}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(table.to_csv(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{_safe(name)}"'})


def _range(request: Request, since: str, until: str) -> tuple[date, date, dict[str, str]]:
    """The first and last day asked for (both included), or the errors to show."""
    today = admin_context(request).clock.now().date()
    fields = Fields({"since": since, "until": until})
    last = fields.day("until") or today
    first = fields.day("since") or last - timedelta(days=DEFAULT_DAYS - 1)
    if fields.ok and first > last:
        fields.errors["since"] = "The first day must not be after the last day."
    if fields.ok and (last - first).days + 1 > range_days_max:
        fields.errors["since"] = f"A report covers at most {range_days_max} days."
    return first, last, fields.errors


def _build(request: Request, community_id: str, first: date, last: date,
           asset: AssetInfo) -> Report:
    community = admin_context(request).community(community_id, asset)
    try:
        return community.report(since=first, until=last + timedelta(days=1))
    except InvalidRequest as exc:  # the service's own bounds, should they differ from ours
        raise InvalidRequest(sentence(exc.detail)) from None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _header(column: str) -> str:
    return HEADERS.get(column, column.replace("_", " ").capitalize())


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _minor(value: str, currency: str) -> int:
    return parse_amount(value, currencies.exponent(currency))


def _cell(column: str, value: Any, row: dict[str, Any], asset: AssetInfo) -> Cell:
    if column in MONEY_COLUMNS and isinstance(value, str) and row.get("currency"):
        try:
            return Cell(format_money(_minor(value, str(row["currency"])),
                                     str(row["currency"])), True)
        except InvalidRequest:
            return Cell(f"{value} {row['currency']}", True)
    if isinstance(value, bool):
        return Cell("yes" if value else "no", False)
    if isinstance(value, int) and column.endswith("_minor") and row.get("currency"):
        return Cell(format_money(value, str(row["currency"])), True)
    if isinstance(value, int) and column in CREDIT_COLUMNS:
        return Cell(format_amount(value, asset.scale), True)
    if _is_number(value):
        return Cell(f"{value}", True)
    return Cell("—" if value in (None, "") else str(value), False)


def _money_value(value: Any) -> float:
    try:
        return float(value)  # drawn only; the table and CSV keep the exact decimal
    except (TypeError, ValueError):
        return 0.0


def _chart_value(column: str, value: Any, asset: AssetInfo) -> float | int:
    number = float(value) if isinstance(value, float) else (
        int(value) if _is_number(value) else 0)
    if column in CREDIT_COLUMNS and asset.scale:
        divisor: int = 10**asset.scale
        return number / divisor
    return number


def _view(table: ReportTable, asset: AssetInfo) -> TableView:
    columns = table.columns
    dict_rows = [dict(zip(columns, row, strict=False)) for row in table.rows]
    numeric = [bool(table.rows) and (c in MONEY_COLUMNS or all(
               _is_number(r[i]) for r in table.rows if i < len(r)))
               for i, c in enumerate(columns)]
    rows = [[_cell(c, r.get(c), r, asset) for c in columns] for r in dict_rows]
    chart: dict[str, Any] | None = None
    number_columns = [c for c, n in zip(columns, numeric, strict=True) if n]
    if table.key == "money_per_day" and table.rows:
        chart = _money_chart(dict_rows)
    elif table.chart and number_columns and table.rows:
        if table.chart == "line":
            chart = {"type": "line", "labels": [str(r[columns[0]]) for r in dict_rows],
                     "series": [{"label": _header(c),
                                 "values": [_chart_value(c, r[c], asset) for r in dict_rows]}
                                for c in number_columns]}
        else:
            value_column = next((c for c in number_columns if c in CREDIT_COLUMNS),
                                number_columns[0])
            labels = [" · ".join(cell.text for cell, c in zip(cells, columns, strict=True)
                                 if c not in number_columns and cell.text != "—")
                      or "—" for cells in rows]
            if "paid" in columns:  # issued by source: say paid or free, not yes or no
                labels = [f"{r[columns[0]]} ({'paid' if r.get('paid') else 'free'})"
                          for r in dict_rows]
            chart = {"type": "bar", "label": _header(value_column), "labels": labels,
                     "values": [_chart_value(value_column, r[value_column], asset)
                                for r in dict_rows]}
    if columns and columns[0] == "day":
        rows = _fold_empty_days(rows, [c for c, n in zip(columns, numeric, strict=True)
                                       if n and c != "day"], columns)
    return TableView(key=table.key, title=table.title, headers=[_header(c) for c in columns],
                     numeric=numeric, rows=rows, chart=chart,
                     snapshot=table.key in SNAPSHOT_TABLES)


def _money_chart(dict_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars of money taken per day, one series per currency, in major units."""
    days = list(dict.fromkeys(str(r["day"]) for r in dict_rows))
    series = []
    for cur in dict.fromkeys(str(r["currency"]) for r in dict_rows):
        by_day = {str(r["day"]): _money_value(r["taken"])
                  for r in dict_rows if r["currency"] == cur}
        series.append({"label": f"Taken ({cur})", "values": [by_day.get(d, 0) for d in days]})
    return {"type": "bar", "labels": days, "series": series}


def _fold_empty_days(rows: list[list[Cell]], number_columns: list[str],
                     columns: list[str]) -> list[list[Cell]]:
    """Runs of days with nothing in them become one row ("from … to …: no activity").

    The chart and the CSV keep every day; only the table is folded, so a month with three
    busy days reads as three rows and two short notes, not thirty lines of zeros.
    """
    indexes = [columns.index(c) for c in number_columns]
    out: list[list[Cell]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            first, last = run[0], run[-1]
            when = first if first == last else f"{first} to {last}"
            out.append([Cell(f"{when}: no activity", False, span=True)])
            run.clear()

    busy = {cells[0].text for cells in rows
            if not indexes or not all(_is_zero(cells[i].text) for i in indexes)}
    for cells in rows:
        day = cells[0].text
        if day not in busy:  # every row of the day (one per currency) is empty
            if not run or run[-1] != day:
                run.append(day)
            continue
        flush()
        out.append(cells)
    flush()
    return out


def _is_zero(text: str) -> bool:
    """A cell that shows nothing happened: 0, 0.00, $0.00, 0.00 CHF, ¥0."""
    return not any(ch in "123456789" for ch in text)


def _totals(report: Report, asset: AssetInfo) -> list[tuple[str, str, str]]:
    """(label, amount, unit) of the range's totals: money taken, then credits."""
    out: list[tuple[str, str, str]] = []
    try:
        money = report.table("money_total")
    except KeyError:
        money = None
    if money is not None:
        for row in money.rows:
            r = dict(zip(money.columns, row, strict=True))
            cur = str(r["currency"])
            out.append((f"Revenue ({cur}, net of refunds)", _cell("net", r["net"], r, asset).text,
                        ""))
    try:
        per_day = report.table("per_day")
    except KeyError:
        return out
    for i, column in enumerate(per_day.columns):
        if column in ("issued", "consumed", "expired"):
            total = sum(int(row[i]) for row in per_day.rows)
            label = {"expired": "Expired (breakage)"}.get(column, _header(column))
            out.append((label, format_amount(total, asset.scale), asset.code))
    return out
