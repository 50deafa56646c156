"""Protecting wallets from the command line: freeze and unfreeze a wallet, and the owner's
velocity limits (`jeton freeze`, `jeton unfreeze`, `jeton limits show|set|settings`)."""

from __future__ import annotations

from typing import Annotated

import typer

from jeton.cli.common import CommunityOption, MemberArg, community, console, emit_json, table
from jeton.cli.ops import DbOption, JsonOption

ReasonOption = Annotated[str, typer.Option(help="Why (kept in the staff audit log).")]
ByOption = Annotated[str, typer.Option("--by", help="The staff user acting.")]
Credits = Annotated[int | None, typer.Option(min=0, help="Credits; left out: no limit.")]


def register(app: typer.Typer) -> None:
    from jeton.cli.common import opened

    limits_app = typer.Typer(help="Velocity limits: what members may spend per hour and day.",
                             no_args_is_help=True)
    app.add_typer(limits_app, name="limits")

    @app.command()
    def freeze(member_id: MemberArg, reason: ReasonOption, by: ByOption = "staff:cli",
               community_id: CommunityOption = None, database_url: DbOption = None,
               as_json: JsonOption = False) -> None:
        """Freeze a member's wallet: no spend, charge, transfer out or purchase until
        unfrozen."""
        with opened(database_url) as j:
            f = community(j, community_id).freeze_wallet(member_id, reason=reason, actor=by)
            if as_json:
                emit_json(f)
            else:
                console.print(f"{member_id}'s wallet is frozen ({f.reason})")

    @app.command()
    def unfreeze(member_id: MemberArg, reason: ReasonOption, by: ByOption = "staff:cli",
                 community_id: CommunityOption = None, database_url: DbOption = None,
                 as_json: JsonOption = False) -> None:
        """Let a member whose wallet was frozen spend again."""
        with opened(database_url) as j:
            f = community(j, community_id).unfreeze_wallet(member_id, reason=reason, actor=by)
            if as_json:
                emit_json(f)
            else:
                console.print(f"{member_id}'s wallet is no longer frozen")

    @limits_app.command("show")
    def limits_show(community_id: CommunityOption = None, database_url: DbOption = None,
                    as_json: JsonOption = False) -> None:
        """Every velocity limit, and who counts as a new member."""
        with opened(database_url) as j:
            found = community(j, community_id).spending_limits()
            if as_json:
                emit_json(found)
                return
            table(f"velocity limits (new members: first {found.new_member_days} days; alert "
                  f"after {found.alert_after_trips} trips a day)",
                  ["service", "per hour", "per day", "new: per hour", "new: per day"],
                  [(v.service or "(all)", _n(v.per_hour), _n(v.per_day),
                    _n(v.new_member_per_hour), _n(v.new_member_per_day))
                   for v in found.limits])

    @limits_app.command("set")
    def limits_set(service: Annotated[str | None, typer.Option(
                       help="One service; left out: every service.")] = None,
                   per_hour: Credits = None, per_day: Credits = None,
                   new_per_hour: Credits = None, new_per_day: Credits = None,
                   community_id: CommunityOption = None, database_url: DbOption = None,
                   as_json: JsonOption = False) -> None:
        """Set a limit (every figure left out removes it)."""
        with opened(database_url) as j:
            v = community(j, community_id).set_velocity_limit(
                service=service, per_hour=per_hour, per_day=per_day,
                new_member_per_hour=new_per_hour, new_member_per_day=new_per_day,
                actor="staff:cli")
            if as_json:
                emit_json(v)
            else:
                said = [f"{n} {span}" for n, span in (
                    (v.per_hour, "an hour"), (v.per_day, "a day"),
                    (v.new_member_per_hour, "an hour for a new member"),
                    (v.new_member_per_day, "a day for a new member")) if n is not None]
                console.print(f"limit on {v.service or 'every service'}: "
                              f"{', '.join(said) or 'none'}")

    @limits_app.command("settings")
    def limits_settings(new_member_days: Annotated[int | None, typer.Option(
                            min=0, help="Days a member counts as new.")] = None,
                        alert_after: Annotated[int | None, typer.Option(
                            min=1, help="Trips a day before the owner is alerted.")] = None,
                        community_id: CommunityOption = None, database_url: DbOption = None,
                        as_json: JsonOption = False) -> None:
        """Who counts as a new member, and when the owner hears of repeated trips."""
        with opened(database_url) as j:
            found = community(j, community_id).set_spending_settings(
                new_member_days=new_member_days, alert_after_trips=alert_after,
                actor="staff:cli")
            if as_json:
                emit_json(found)
            else:
                console.print(f"new members: first {found.new_member_days} days; alert after "
                              f"{found.alert_after_trips} trips a day")


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)
