"""What every command shares: opening Jeton, printing tables or JSON, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

import jeton
from jeton.core.errors import JetonError

# Modules under jeton.cli with a `register(app)` function, added by each area.
EXTRA_MODULES: list[str] = ["catalog"]

console = Console()
err_console = Console(stderr=True)


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def error_line(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)


@contextmanager
def opened(database_url: str | None, *, migrate: bool = True) -> Iterator[jeton.Jeton]:
    """Jeton on the named store; service errors become one clear line and exit code 1."""
    try:
        j = jeton.open(database_url, migrate=migrate)
    except Exception as exc:  # a bad URL or an unreachable server: say so in one line
        raise CliError(f"cannot open the database: {exc}") from None
    try:
        yield j
    except JetonError as exc:
        raise CliError(f"{exc.status.value}: {exc.detail}") from None
    finally:
        j.close()


def community(j: jeton.Jeton, community_id: str | None) -> jeton.Community:
    if community_id:
        return j.community(community_id)
    found = j.communities()
    if len(found) == 1:
        return j.community(found[0].id)
    if not found:
        raise CliError("there is no community yet: run `jeton demo` or create one")
    raise CliError("several communities: name one with --community")


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, default=str) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col, justify="right" if col in NUMERIC else "left")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


NUMERIC = {"amount", "posted", "pending", "available", "balance", "remaining", "balance after",
           "issued", "consumed", "expired", "money_minor", "transfers", "charges",
           "count", "credits", "value"}
