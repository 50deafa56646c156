"""Setting a community up from a terminal: communities, API keys, the first owner."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from jeton.cli.common import CliError, CommunityOption, community, console, emit_json, opened, table
from jeton.cli.ops import DbOption, JsonOption

if TYPE_CHECKING:
    from jeton.app import Jeton
    from jeton.services.access.staff import StaffUser

OWNER_PASSWORD_ENV = "JETON_OWNER_PASSWORD"  # noqa: S105 (a variable's name, not a password)
EmailArg = Annotated[str, typer.Argument(help="The staff user's email, to sign in with.",
                                         metavar="EMAIL", show_default=False)]
PasswordEnvOption = Annotated[str, typer.Option(
    help="Environment variable holding the password (never on the command line); "
         "without it the password is asked for.")]


def register(app: typer.Typer) -> None:
    communities_app = typer.Typer(help="Communities: list and create.", no_args_is_help=True)
    keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.",
                           no_args_is_help=True)
    staff_app = typer.Typer(help="Staff of the dashboard: the first owner, a new password.",
                            no_args_is_help=True)
    app.add_typer(communities_app, name="communities")
    app.add_typer(keys_app, name="keys")
    app.add_typer(staff_app, name="staff")

    @communities_app.command("list")
    def communities_list(database_url: DbOption = None, as_json: JsonOption = False) -> None:
        """Every community in the store."""
        with opened(database_url) as j:
            found = j.communities()
        if as_json:
            emit_json(found)
            return
        table("communities", ["id", "name", "created"],
              [(c.id, c.name, c.created_at.date().isoformat()) for c in found])

    @communities_app.command("create")
    def communities_create(community_id: Annotated[str, typer.Argument(
                               help="Its id, e.g. chat.", metavar="ID", show_default=False)],
                           name: Annotated[str, typer.Option(help="Display name (default: the id).")
                                           ] = "",
                           asset: Annotated[str, typer.Option(help="First asset code.")
                                            ] = "CREDIT",
                           scale: Annotated[int, typer.Option(help="Decimal places.")] = 0,
                           test_mode: Annotated[bool, typer.Option(
                               "--test-mode",
                               help="Its time is a test clock that `jeton clock advance` "
                                    "moves.")] = False,
                           database_url: DbOption = None, as_json: JsonOption = False) -> None:
        """A community with its first asset (CREDIT, whole units by default)."""
        with opened(database_url) as j:
            c = j.create_community(name or community_id, community_id, asset=asset, scale=scale,
                                   test_mode=test_mode)
            info = c.info()
        mode = ", test mode" if info.test_mode else ""
        emit_json(info) if as_json else console.print(f"community {info.id} ({info.name}{mode})")

    @keys_app.command("create")
    def keys_create(name: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
                    scope: Annotated[list[str] | None, typer.Option(
                        "--scope", help="Repeat for several; default admin.")] = None,
                    community_id: CommunityOption = None, database_url: DbOption = None,
                    as_json: JsonOption = False) -> None:
        """Create an API key. Its token is printed once and never stored."""
        from jeton.services.access.api_keys import ApiKeys

        with opened(database_url) as j:
            c = community(j, community_id)
            created = ApiKeys(j.store, j.clock).create(
                c.id, name=name, scopes=scope or ["admin"], created_by="cli")
        if as_json:
            emit_json(created)
            return
        console.print(f"key {created.id} ({', '.join(s.value for s in created.scopes)})")
        console.print(f"token (shown once): [bold]{created.token}[/]", highlight=False)

    @keys_app.command("list")
    def keys_list(community_id: CommunityOption = None, database_url: DbOption = None,
                  as_json: JsonOption = False) -> None:
        """API keys of the community (tokens are never shown again)."""
        from jeton.services.access.api_keys import ApiKeys

        with opened(database_url) as j:
            c = community(j, community_id)
            page = ApiKeys(j.store, j.clock).list(c.id, limit=500)
        if as_json:
            emit_json(page.data)
            return
        table(f"API keys of {c.id}", ["id", "name", "scopes", "hint", "revoked"],
              [(k.id, k.name, " ".join(s.value for s in k.scopes), k.token_hint,
                k.revoked_at.isoformat() if k.revoked_at else "") for k in page.data])

    @keys_app.command("revoke")
    def keys_revoke(key_id: Annotated[str, typer.Argument(
                        help="The key's id (from `jeton keys list`).", metavar="KEY_ID",
                        show_default=False)], community_id: CommunityOption = None,
                    database_url: DbOption = None, as_json: JsonOption = False) -> None:
        """Revoke a key: it stops working at once."""
        from jeton.services.access.api_keys import ApiKeys

        with opened(database_url) as j:
            c = community(j, community_id)
            info = ApiKeys(j.store, j.clock).revoke(c.id, key_id)
        emit_json(info) if as_json else console.print(f"revoked {info.id}")

    @staff_app.command("create-owner")
    def staff_create_owner(
        email: EmailArg, password_env: PasswordEnvOption = OWNER_PASSWORD_ENV,
        community_id: CommunityOption = None, database_url: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """The first owner of a community's dashboard (refused once it has staff)."""
        from jeton.services.access.staff import bootstrap_owner

        def write(j: Jeton, community_id: str, password: str) -> StaffUser:
            try:
                return bootstrap_owner(j.store, j.clock, community_id, email, password)
            except ValueError as exc:
                raise CliError(str(exc)) from None

        _set_password(write, password_env, community_id, database_url, as_json, done="owner")

    @staff_app.command("reset-password")
    def staff_reset_password(
        email: EmailArg, password_env: PasswordEnvOption = OWNER_PASSWORD_ENV,
        community_id: CommunityOption = None, database_url: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Set a staff user's new password; lifts a lock-out and signs them out everywhere."""
        from jeton.services.access.staff import reset_password

        def write(j: Jeton, community_id: str, password: str) -> StaffUser:
            return reset_password(j.store, j.clock, community_id, email, password)

        _set_password(write, password_env, community_id, database_url, as_json,
                      done="new password for")


def _password(env_name: str) -> str:
    password = os.environ.get(env_name) or ""
    if not password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


def _set_password(write: Callable[[Jeton, str, str], StaffUser], password_env: str,
                  community_id: str | None, database_url: str | None, as_json: bool, *,
                  done: str) -> None:
    """Read a staff user's password, let `write` store it in the chosen community, say whose."""
    password = _password(password_env)
    with opened(database_url) as j:
        c = community(j, community_id)
        user = write(j, c.id, password)
    if as_json:
        emit_json({"community_id": c.id, "user_id": user.user_id, "email": user.email,
                   "role": user.role.value})
        return
    console.print(f"{done} {user.email} of {c.id}: sign in at /admin")
