"""The owner's report (services/reports/service.py): JSON, or one of its tables as CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path, Query, Response

from jeton.api.auth import Caller, requires
from jeton.api.params import Asset
from jeton.api.routing import api_router
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.services.access.api_keys import Scope
from jeton.services.reports.overview import Overview
from jeton.services.reports.results import Report

router = api_router(tags=["reports"])

# Days as YYYY-MM-DD only (a bare number is not read as a timestamp).
_DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
Since = Annotated[str | None, Query(pattern=_DAY, json_schema_extra={"format": "date"},
                                    description="The first day (UTC) of the report; 30 days "
                                                "before `until` when omitted.")]
Until = Annotated[str | None, Query(pattern=_DAY, json_schema_extra={"format": "date"},
                                    description="The day after the last (UTC, exclusive); "
                                                "tomorrow when omitted.")]
TableKey = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,64}$",
                               description="A table's `key`: `per_day`, `issued_by_source`...")]


class CsvResponse(Response):
    media_type = "text/csv"


@router.get("/reports")
def report(caller: Annotated[Caller, requires(Scope.reports_read)], since: Since = None,
           until: Until = None, asset: Asset = "CREDIT") -> Report:
    """Credits issued, consumed and expired, the float, top members, and the sections other
    services add (packs sold...), over [since, until): at most 366 days."""
    return _build(caller, since, until, asset)


@router.get("/reports/overview")
def overview(caller: Annotated[Caller, requires(Scope.reports_read)],
             asset: Asset = "CREDIT") -> Overview:
    """The business at a glance, as the dashboard's home shows it: money taken today and over
    the last 30 days (net of refunds, major units), credits sold, consumed and expired, the
    float, active members, active subscriptions and their monthly value, declines and failed
    auto-recharges."""
    return caller.community.overview(asset=asset)


@router.get("/reports/{key}.csv", response_class=CsvResponse,
            responses={200: {"description": "The table as CSV, with a header row."}})
def report_csv(key: TableKey, caller: Annotated[Caller, requires(Scope.reports_read)],
               since: Since = None, until: Until = None,
               asset: Asset = "CREDIT") -> CsvResponse:
    """One table of the report as CSV (`GET /v1/reports` lists the tables' keys)."""
    built = _build(caller, since, until, asset)
    try:
        table = built.table(key)
    except KeyError:
        raise NotFound(f"no report table {key!r}; the report has "
                       f"{', '.join(t.key for t in built.tables)}",
                       status=Status.not_found) from None
    filename = f"{key}-{built.since.isoformat()}-{built.until.isoformat()}.csv"
    return CsvResponse(table.to_csv(), headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


def _build(caller: Caller, since: str | None, until: str | None, asset: str) -> Report:
    try:
        return caller.community.report(since=_day(since), until=_day(until), asset=asset)
    except OverflowError:  # a day at the very edge of the calendar (year 1 or 9999)
        raise InvalidRequest("the report's days are out of range",
                             status=Status.value_invalid) from None


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{value!r} is not a day (YYYY-MM-DD)",
                             status=Status.value_invalid) from None
