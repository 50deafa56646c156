"""Catalog and charging commands: `jeton catalog load|show|preview`, `jeton check`,
`jeton charge`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer

from jeton.cli.common import (
    CliError,
    CommunityOption,
    MemberArg,
    community,
    console,
    emit_json,
    opened,
    table,
)
from jeton.cli.ops import DbOption, JsonOption
from jeton.core.errors import InvalidRequest
from jeton.core.limits import (
    catalog_bytes_max,
    catalog_preview_days_default,
    catalog_preview_days_max,
)
from jeton.core.statuses import Status
from jeton.services.charging.results import CatalogPreview

ServiceArg = Annotated[str, typer.Argument(help="A service of the catalog, e.g. chat.message.",
                                           metavar="SERVICE", show_default=False)]
QuantityOption = Annotated[int, typer.Option(
    "--quantity", "-q", help="How much: uses, or the service's unit (bytes, minutes).")]
ContextOption = Annotated[list[str] | None, typer.Option(
    "--context", help="NAME=VALUE given with the charge, e.g. uploader=bob (repeatable).")]
CatalogFileArg = Annotated[Path, typer.Argument(help="A catalog file, TOML or YAML.")]
FormatOption = Annotated[str | None, typer.Option(
    "--format", help="toml or yaml (default: from the file name).")]
SessionOption = Annotated[str | None, typer.Option(
    "--session", help="Session id, for services with a free allowance per session.")]


def _format(path: Path, given: str | None) -> Literal["toml", "yaml"]:
    fmt = (given or path.suffix.lstrip(".")).lower()
    if fmt == "yml":
        fmt = "yaml"
    if fmt not in ("toml", "yaml"):
        raise CliError(f"cannot tell the format of {path.name}: name it .toml, .yaml or .yml, "
                       f"or pass --format")
    return "toml" if fmt == "toml" else "yaml"


def _context(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"--context takes NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def _read(file: Path, fmt: str | None) -> tuple[str, Literal["toml", "yaml"]]:
    try:
        if file.stat().st_size > catalog_bytes_max:
            raise CliError(f"{file.name} is over {catalog_bytes_max} bytes")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {file}: {exc}") from None
    return text, _format(file, fmt)


@contextmanager
def _catalog_errors(file: Path, as_json: bool) -> Iterator[None]:
    """Print every error of a refused catalog with its line, then fail the command."""
    try:
        yield
    except InvalidRequest as exc:
        if exc.status is not Status.catalog_invalid:
            raise
        errors = exc.extra.get("errors", [])
        if as_json:
            emit_json({"ok": False, "errors": errors})
        else:
            for e in errors:
                place = f"line {e['line']}" if e["line"] else "catalog"
                where = f" {e['where']}:" if e["where"] else ""
                console.print(f"{file.name}: {place}:{where} {e['reason']}",
                              highlight=False, markup=False)
        raise CliError(f"{len(errors)} error(s) in {file.name}; nothing was "
                       f"changed") from None


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def print_preview(p: CatalogPreview, top: int) -> None:
    cut = f" (the newest {p.charges_max}; more were left out)" if p.truncated else ""
    console.print(f"{p.charges} charges of the last {p.days} days replayed{cut} against "
                  f"catalog version {p.catalog_version}: {p.credits_then} → {p.credits_new} "
                  f"credits ({_signed(p.difference)})", highlight=False)
    for label, codes in (("added", p.added), ("changed", p.changed), ("removed", p.removed)):
        if codes:
            console.print(f"  {label}: {', '.join(codes)}", highlight=False)
    if p.metered_not_replayed:
        console.print(f"  {p.metered_not_replayed} metered captures are not replayed",
                      highlight=False)
    table("per service", ["service", "status", "charges", "then", "new", "difference",
                          "refused"],
          [(s.service, s.status, s.charges, s.credits_then, s.credits_new,
            _signed(s.difference), s.refused) for s in p.services])
    shown = p.members[:max(top, 0)]
    table(f"members ({len(shown)} of {p.members_total}; {p.members_declined} would be "
          f"declined)",
          ["member", "charges", "then", "new", "difference", "last charge", "available",
           "declined"],
          [(m.member_id, m.charges, m.credits_then, m.credits_new, _signed(m.difference),
            f"{m.last_service} {m.last_credits_new}", m.available,
            m.decline_reason or "") for m in shown])


def register(app: typer.Typer) -> None:
    catalog_app = typer.Typer(help="Load and show the catalog of services and rewards.",
                              no_args_is_help=True)
    app.add_typer(catalog_app, name="catalog")

    @catalog_app.command("load")
    def load(file: CatalogFileArg, fmt: FormatOption = None,
             dry_run: Annotated[bool, typer.Option(
                 "--dry-run", help="Check it and say what would change; write nothing.")
             ] = False,
             community_id: CommunityOption = None, database_url: DbOption = None,
             as_json: JsonOption = False) -> None:
        """Check a catalog file and make it the active catalog. Every error is printed with
        its line and reason, and nothing changes when there is any."""
        text, kind = _read(file, fmt)
        with opened(database_url) as j:
            c = community(j, community_id)
            with _catalog_errors(file, as_json):
                done = c.load_catalog(text, kind, actor="staff:cli", dry_run=dry_run)
            if as_json:
                emit_json(done)
                return
            if not done.changed:
                console.print(f"the catalog is already version {done.version}; nothing "
                              f"changed")
                return
            verb = "would become" if done.dry_run else "is now"
            console.print(f"catalog {verb} version {done.version}: {done.services} services, "
                          f"{done.rewards} rewards")
            for label, codes in (("added", done.added), ("changed", done.updated),
                                 ("retired", done.retired)):
                if codes:
                    console.print(f"  {label}: {', '.join(codes)}", highlight=False)

    @catalog_app.command("preview")
    def preview(file: CatalogFileArg, fmt: FormatOption = None,
                days: Annotated[int, typer.Option(
                    "--days", help=f"Replay the charges of this many days back "
                                   f"(1-{catalog_preview_days_max}).")
                ] = catalog_preview_days_default,
                top: Annotated[int, typer.Option(
                    "--top", help="Members to list, most affected first.")] = 20,
                community_id: CommunityOption = None, database_url: DbOption = None,
                as_json: JsonOption = False) -> None:
        """Replay the last days of charges through a new catalog file and show what would
        change per service and per member, and who would be declined. Writes nothing."""
        text, kind = _read(file, fmt)
        with opened(database_url) as j:
            c = community(j, community_id)
            with _catalog_errors(file, as_json):
                p = c.preview_catalog(text, kind, days=days)
        if as_json:
            emit_json(p)
            return
        print_preview(p, top)

    @catalog_app.command("show")
    def show(retired: Annotated[bool, typer.Option(
                 "--retired", help="Also list retired services and rewards.")] = False,
             community_id: CommunityOption = None, database_url: DbOption = None,
             as_json: JsonOption = False) -> None:
        """Show the active catalog: services with their prices, access and splits; rewards."""
        with opened(database_url) as j:
            info = community(j, community_id).catalog(include_retired=retired)
        if as_json:
            emit_json(info)
            return
        if info.version == 0:
            console.print("no catalog yet: load one with `jeton catalog load FILE`")
            return
        rows = []
        for s in info.services:
            unit = f"per {s.unit_size} {s.unit or 'units'}" if s.price_kind == "per_unit" \
                else "per use"
            classes = ", ".join(f"{k} {v}" for k, v in s.class_credits.items())
            access = s.access if not s.any_of else f"{s.access}: {' or '.join(s.any_of)}"
            rows.append((s.code + (" (retired)" if s.retired else ""), s.name, s.credits, unit,
                         classes, access, s.allowance or "", "; ".join(s.splits)))
        table(f"catalog version {info.version}",
              ["service", "name", "credits", "unit", "class prices", "access", "allowance",
               "splits"], rows)
        if info.rewards:
            table("rewards", ["reward", "name", "credits", "limit"],
                  [(r.code + (" (retired)" if r.retired else ""), r.name, r.credits,
                    f"{r.limit} per {r.per}") for r in info.rewards])

    @app.command("check")
    def check(member_id: MemberArg, service: ServiceArg, quantity: QuantityOption = 1,
              context: ContextOption = None, session: SessionOption = None,
              community_id: CommunityOption = None, database_url: DbOption = None,
              as_json: JsonOption = False) -> None:
        """May MEMBER use SERVICE, for how much, and if not, why and what would fix it.
        Writes nothing."""
        with opened(database_url) as j:
            r = community(j, community_id).check(member_id, service, quantity,
                                                 context=_context(context), session_id=session)
        if as_json:
            emit_json(r)
            if not r.allowed:
                raise typer.Exit(1)
            return
        verdict = "allowed" if r.allowed else f"not allowed ({r.status})"
        console.print(f"{member_id} → {service} × {quantity}: {verdict}", highlight=False)
        if r.price is not None:
            line = f"  price {r.price.credits} credits"
            if r.price.price_class:
                line += f" (class {r.price.price_class})"
            if r.free_units:
                line += f"; {r.free_units} free"
            console.print(line + f"; charged now {r.charge}", highlight=False)
        if r.balance is not None:
            console.print(f"  available {r.balance}", highlight=False)
        for reason in r.reasons:
            console.print(f"  why: {reason.kind}" + (f" {reason.name}" if reason.name else ""),
                          highlight=False)
        for fix in r.fixes:
            detail = f" {fix.name}" if fix.name else ""
            detail += f" ({fix.credits} credits)" if fix.credits is not None else ""
            console.print(f"  fix: {fix.kind}{detail}", highlight=False)
        if not r.allowed:
            raise typer.Exit(1)

    @app.command("charge")
    def charge(member_id: MemberArg, service: ServiceArg, quantity: QuantityOption = 1,
               key: Annotated[str | None, typer.Option(
                   "--key", help="Idempotency key: the same key never charges twice.")] = None,
               context: ContextOption = None, session: SessionOption = None,
               memo: Annotated[str, typer.Option(help="Shown in the statement.")] = "",
               community_id: CommunityOption = None, database_url: DbOption = None,
               as_json: JsonOption = False) -> None:
        """Charge MEMBER for SERVICE at its catalog price, with its splits."""
        with opened(database_url) as j:
            r = community(j, community_id).charge(
                member_id, service, quantity, idempotency_key=key or f"cli-charge-{uuid.uuid4()}",
                context=_context(context), session_id=session, actor="staff:cli", memo=memo)
        if as_json:
            emit_json(r)
            return
        note = " (replayed)" if r.replayed else ""
        console.print(f"charged {member_id} {r.charged} credits for {service} × {quantity}"
                      f"{note}; balance {r.balance_after}", highlight=False)
        if r.paid_to_member:
            console.print(f"  paid {r.paid_to_member} credits to {member_id}", highlight=False)
        if r.splits:
            table("splits", ["to", "amount"], [(s.member or s.target, s.amount)
                                               for s in r.splits])
