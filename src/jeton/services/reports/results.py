"""What a report is: tables (title, columns, rows) that the dashboard draws, the CLI prints,
the API returns and CSV export writes, all the same way; and the UTC day they count in.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

DAY_US = 86_400_000_000


class ReportTable(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    chart: str | None = None  # "line" or "bar": how the dashboard draws it, if at all

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()


class Report(BaseModel):
    model_config = ConfigDict(frozen=True)

    community_id: str
    asset: str
    since: date
    until: date  # exclusive
    tables: list[ReportTable]

    def table(self, key: str) -> ReportTable:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(key)


def day_of(d: int) -> date:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=d)).date()
