"""What every command shares: opening Jeton, printing tables or JSON, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from jeton.core.errors import JetonError

if TYPE_CHECKING:
    import jeton

COMMUNITY_ENV = "JETON_COMMUNITY"
CommunityOption = Annotated[str | None, typer.Option(
    "--community", "-c", envvar=COMMUNITY_ENV, show_envvar=False,
    help=f"Community id; may be left out when there is only one (default: {COMMUNITY_ENV}).")]

# Modules under jeton.cli with a `register(app)` function, added by each area.
EXTRA_MODULES: list[str] = ["catalog", "clocks", "protection"]

console = Console()
err_console = Console(stderr=True)


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code

MemberArg = Annotated[str, typer.Argument(help="The member's id (as the host app names it).",
                                          metavar="MEMBER", show_default=False)]
AmountArg = Annotated[int, typer.Argument(help="Credits, in the asset's minor unit.",
                                          metavar="AMOUNT", show_default=False)]


def error_line(message: str) -> None:
    # soft_wrap: a long message stays one line (a terminal wraps it; a log keeps it whole).
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def one_line(exc: BaseException) -> str:
    """An exception's message as one line: a driver's own message when SQLAlchemy wraps one,
    without SQLAlchemy's "Background on this error" link and the driver's extra lines."""
    inner = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()
             and not line.strip().startswith("(Background on this error")]
    return lines[0] if lines else type(exc).__name__


@contextmanager
def opened(database_url: str | None, *, migrate: bool = True) -> Iterator[jeton.Jeton]:
    """Jeton on the named store; service errors become one clear line and exit code 1."""
    import jeton

    try:
        j = jeton.open(database_url, migrate=migrate)
    except Exception as exc:  # a bad URL or an unreachable server: say so in one line
        raise CliError(f"cannot open the database {_redacted(database_url)}: "
                       f"{one_line(exc)}") from None
    try:
        yield j
    except JetonError as exc:
        raise CliError(f"{exc.status.value}: {exc.detail}") from None
    finally:
        j.close()


def _redacted(database_url: str | None) -> str:
    """The URL as the error names it, without a password it may carry."""
    import os

    url = database_url or os.environ.get("JETON_DATABASE_URL") or "sqlite:///jeton.db"
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if sep and at and ":" in userinfo:
        url = f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"
    return url


def community(j: jeton.Jeton, community_id: str | None) -> jeton.Community:
    """The community named by --community (or JETON_COMMUNITY); the only one when there is one."""
    if community_id:
        found = j.communities()
        if not any(c.id == community_id for c in found):
            raise CliError(f"no community {community_id!r}; there are: {_ids(found)}")
        return j.community(community_id)
    found = j.communities()
    if len(found) == 1:
        return j.community(found[0].id)
    if not found:
        raise CliError("there is no community yet: run `jeton demo` or "
                       "`jeton communities create ID`")
    raise CliError(f"there are {len(found)} communities ({_ids(found)}): "
                   f"name one with --community ID, or set {COMMUNITY_ENV}")


def _ids(found: Sequence[Any], shown_max: int = 20) -> str:
    ids = [c.id for c in found[:shown_max]]
    more = f" and {len(found) - shown_max} more" if len(found) > shown_max else ""
    return (", ".join(ids) or "none") + more


def to_jsonable(value: Any) -> Any:
    from pydantic import BaseModel

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
           "count", "credits", "value", "taken", "refunded", "net", "purchases",
           "then", "new", "difference", "refused"}
