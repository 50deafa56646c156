"""Test clocks from the command line (`jeton clock show|advance`): the time of a community
made in test mode (`jeton communities create ID --test-mode`), and moving it forward."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import typer

from jeton.cli.common import CliError, CommunityOption, community, console, emit_json
from jeton.cli.ops import DbOption, JsonOption


def register(app: typer.Typer) -> None:
    from jeton.cli.common import opened

    clock_app = typer.Typer(help="Test clocks: the time of a community made in test mode.",
                            no_args_is_help=True)
    app.add_typer(clock_app, name="clock")

    @clock_app.command("show")
    def clock_show(community_id: CommunityOption = None, database_url: DbOption = None,
                   as_json: JsonOption = False) -> None:
        """The community's time, and whether an advance is under way."""
        with opened(database_url) as j:
            info = community(j, community_id).test_clock()
        if as_json:
            emit_json(info)
        else:
            console.print(f"{info.now.isoformat()} ({info.status})")

    @clock_app.command("advance")
    def clock_advance(
            to: Annotated[str | None, typer.Option(
                help="The instant to move to, ISO 8601 with its offset "
                     "(2026-02-15T12:00:00Z).")] = None,
            seconds: Annotated[int | None, typer.Option(min=1, help="Seconds to move on.")
                               ] = None,
            days: Annotated[int | None, typer.Option(min=1, help="Days to move on.")] = None,
            key: Annotated[str | None, typer.Option(
                help="Idempotency key (default: a new one); the same key moves it once.")
                           ] = None,
            community_id: CommunityOption = None, database_url: DbOption = None,
            as_json: JsonOption = False) -> None:
        """Move the clock forward and run every job that falls due on the way (renewals,
        expiry, hold timeouts, webhooks), in time order."""
        given = [x for x in (to, seconds, days) if x is not None]
        if len(given) != 1:
            raise CliError("give one of --to, --seconds or --days")
        instant = None
        if to is not None:
            try:
                instant = datetime.fromisoformat(to.replace("Z", "+00:00"))
            except ValueError:
                raise CliError(f"--to {to!r} is not an ISO 8601 instant") from None
        span = seconds if seconds is not None else days * 86_400 if days is not None else None
        with opened(database_url) as j:
            moved = community(j, community_id).advance_test_clock(
                to=instant, seconds=span, idempotency_key=key or f"cli-clock-{uuid.uuid4()}")
        if as_json:
            emit_json(moved)
            return
        jobs = ", ".join(f"{name} {count}" for name, count in moved.jobs.items()) or "nothing"
        console.print(f"{moved.previous_now.isoformat()} -> {moved.now.isoformat()} in "
                      f"{moved.steps} steps; jobs: {jobs}")
