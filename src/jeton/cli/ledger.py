"""Everyday ledger commands: members, grant, spend, balance, lots, statement, export."""

from __future__ import annotations

import csv
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.progress import Progress

from jeton.cli.common import (
    AmountArg,
    CommunityOption,
    MemberArg,
    community,
    console,
    emit_json,
    opened,
    table,
)
from jeton.cli.ops import DbOption, JsonOption
from jeton.core.errors import NotFound

KeyOption = Annotated[str | None, typer.Option(
    "--key", help="Idempotency key: run the command again with it and nothing happens twice.")]


def _key(key: str | None, what: str) -> str:
    return key or f"cli-{what}-{uuid.uuid4()}"


def register(app: typer.Typer) -> None:
    members_app = typer.Typer(help="Members: list (or find) and add.", no_args_is_help=True)
    app.add_typer(members_app, name="members")

    @members_app.command("list")
    def members_list(search: Annotated[str | None, typer.Option(
            help="Part of an id, name or email.")] = None,
            limit: Annotated[int, typer.Option(help="How many to show.")] = 50,
            community_id: CommunityOption = None, database_url: DbOption = None,
            as_json: JsonOption = False) -> None:
        """List members with their available credits (--search to find some)."""
        with opened(database_url) as j:
            c = community(j, community_id)
            page = c.list_members(limit=limit, search=search)
            if as_json:
                emit_json(page.data)
                return
            rows = [(m.id, m.name, m.email or "", c.balance(m.id).available) for m in page.data]
            table(f"members of {c.id}", ["member", "name", "email", "available"], rows)

    @members_app.command("add")
    def members_add(member_id: Annotated[str, typer.Argument(
                        help="The member's id in the host app.")],
                    name: Annotated[str, typer.Option(help="Display name.")] = "",
                    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
                    community_id: CommunityOption = None, database_url: DbOption = None,
                    as_json: JsonOption = False) -> None:
        """Add a member (adding one that exists changes nothing, and says so; with another
        name or email it is refused)."""
        with opened(database_url) as j:
            c = community(j, community_id)
            try:
                existed = c.get_member(member_id).id == member_id
            except NotFound:  # (or an id that is not one: create_member says why)
                existed = False
            m = c.create_member(member_id, name=name, email=email)
            if as_json:
                emit_json(m)
            elif existed:  # (another name or email was refused: create_member says why)
                console.print(f"member {m.id} was there already; nothing changed")
            else:
                console.print(f"member {m.id}")

    @app.command()
    def grant(member_id: MemberArg, amount: AmountArg,
              reason: Annotated[str, typer.Option(help="Why (shown in the statement).")] = "",
              paid: Annotated[bool, typer.Option("--paid", help="Credits that were paid for.")
                              ] = False,
              expires_days: Annotated[int | None, typer.Option(
                  "--expires-days", min=1,
                  help="Expire after this many days (left out: the credits never expire).")
                               ] = None,
              actor: Annotated[str, typer.Option(help="Who is granting.")] = "staff:cli",
              key: KeyOption = None, community_id: CommunityOption = None,
              database_url: DbOption = None, as_json: JsonOption = False) -> None:
        """Grant credits to a member, as a lot (free unless --paid)."""
        with opened(database_url) as j:
            c = community(j, community_id)
            expires = (datetime.now(UTC) + timedelta(days=expires_days)
                       if expires_days is not None else None)
            r = c.grant(member_id, amount, idempotency_key=_key(key, "grant"), paid=paid,
                        expires_at=expires, memo=reason, reason_code="staff_grant", actor=actor)
            if as_json:
                emit_json(r)
            else:
                console.print(f"granted {amount} to {member_id}; balance {r.balance_after}"
                              + (" (replayed)" if r.replayed else ""))

    @app.command()
    def spend(member_id: MemberArg, amount: AmountArg,
              service: Annotated[str | None, typer.Option(help="What it pays for.")] = None,
              reason: Annotated[str, typer.Option(help="Why.")] = "",
              key: KeyOption = None, community_id: CommunityOption = None,
              database_url: DbOption = None, as_json: JsonOption = False) -> None:
        """Take credits from a member (a plain ledger spend, no catalog price)."""
        with opened(database_url) as j:
            r = community(j, community_id).spend(
                member_id, amount, idempotency_key=_key(key, "spend"), service=service,
                memo=reason, actor="staff:cli")
            if as_json:
                emit_json(r)
            else:
                console.print(f"spent {amount} from {member_id}; balance {r.balance_after}")

    @app.command()
    def balance(member_id: MemberArg, community_id: CommunityOption = None,
                database_url: DbOption = None, as_json: JsonOption = False) -> None:
        """A member's posted, pending and available credits, and their lots."""
        with opened(database_url) as j:
            c = community(j, community_id)
            b = c.balance(member_id)
            lots = c.lots(member_id)
            if as_json:
                emit_json({"balance": b, "lots": lots})
                return
            table(f"{member_id} in {c.id}", ["posted", "pending", "available"],
                  [(b.posted, b.pending, b.available)])
            table("lots (in spend order)", ["lot", "source", "paid", "remaining", "expires"],
                  [(lot.id[:13], lot.source, "yes" if lot.paid else "no", lot.remaining,
                    lot.expires_at.isoformat() if lot.expires_at else "never") for lot in lots])

    @app.command()
    def statement(member_id: MemberArg,
                  limit: Annotated[int, typer.Option(help="Lines per page.")] = 20,
                  after: Annotated[str | None, typer.Option(
                      help="Cursor from the previous page.")] = None,
                  community_id: CommunityOption = None, database_url: DbOption = None,
                  as_json: JsonOption = False) -> None:
        """Every movement on a member's wallet, newest first, with the running balance."""
        with opened(database_url) as j:
            page = community(j, community_id).statement(member_id, limit=limit,
                                                        starting_after=after)
            if as_json:
                emit_json(page)
                return
            table(f"statement of {member_id}", ["when", "kind", "service", "amount",
                                                "balance after", "memo"],
                  [(line.effective_at.strftime("%Y-%m-%d %H:%M"), line.kind, line.service or "",
                    line.amount, line.balance_after, line.memo) for line in page.data])
            if page.has_more:
                console.print(f"more: --after {page.next_cursor}")

    @app.command()
    def report(since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
               until: Annotated[str | None, typer.Option(
                   help="Day after the last, YYYY-MM-DD.")] = None,
               csv_table: Annotated[str | None, typer.Option(
                   "--csv", help="Print one table as CSV (e.g. per_day, float).")] = None,
               community_id: CommunityOption = None, database_url: DbOption = None,
               as_json: JsonOption = False) -> None:
        """The owner's report: issued, consumed, expired, the float, top members..."""
        from datetime import date

        with opened(database_url) as j:
            c = community(j, community_id)
            r = c.report(since=date.fromisoformat(since) if since else None,
                         until=date.fromisoformat(until) if until else None)
        if as_json:
            emit_json(r)
            return
        if csv_table:
            try:
                sys.stdout.write(r.table(csv_table).to_csv())
            except KeyError:
                from jeton.cli.common import CliError

                raise CliError(f"no table {csv_table!r}; there are: "
                               + ", ".join(t.key for t in r.tables)) from None
            return
        console.print(f"report for {r.community_id}, {r.since} to {r.until} (exclusive)")
        for t in r.tables:
            table(t.title, t.columns, t.rows)

    @app.command()
    def export(member_id: Annotated[str | None, typer.Argument(
                   help="A member's statement; leave out for every member's.")] = None,
               community_id: CommunityOption = None, database_url: DbOption = None) -> None:
        """Statements as CSV on standard output (member, when, kind, amount, balance after)."""
        out = csv.writer(sys.stdout)
        out.writerow(["member", "transfer_id", "effective_at", "kind", "service", "amount",
                      "balance_after", "reason_code", "memo", "actor"])
        with opened(database_url) as j:
            c = community(j, community_id)
            ids = [member_id] if member_id else _all_members(c)
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("exporting", total=len(ids))
                for mid in ids:
                    cursor = None
                    while True:
                        page = c.statement(mid, limit=500, starting_after=cursor)
                        for line in page.data:
                            out.writerow([mid, line.transfer_id, line.effective_at.isoformat(),
                                          line.kind, line.service or "", line.amount,
                                          line.balance_after, line.reason_code, line.memo,
                                          line.actor])
                        if not page.has_more:
                            break
                        cursor = page.next_cursor
                    progress.advance(task)


def _all_members(c: object) -> list[str]:
    from jeton.app import Community

    assert isinstance(c, Community)
    ids: list[str] = []
    cursor = None
    while True:
        page = c.list_members(limit=500, starting_after=cursor)
        ids.extend(m.id for m in page.data)
        if not page.has_more:
            return ids
        cursor = page.next_cursor
