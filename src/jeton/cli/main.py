"""`jeton`: the command line. Thin over services; every command takes --json for scripts.

Commands live in one module per area (cli/ledger.py, cli/ops.py, ...) and are registered here.
"""

from __future__ import annotations

import sys

import typer

from jeton.cli import common

app = typer.Typer(
    name="jeton",
    help="Jeton: credits and micropayments for communities. "
         "The database comes from --database-url or JETON_DATABASE_URL (default sqlite:///jeton.db).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from jeton.cli import admin, ledger, ops

    ops.register(app)
    ledger.register(app)
    admin.register(app)
    for name in common.EXTRA_MODULES:
        module = __import__(f"jeton.cli.{name}", fromlist=["register"])
        module.register(app)


def main() -> None:
    _register()
    try:
        app()
    except common.CliError as exc:
        common.error_line(str(exc))
        sys.exit(exc.code)
