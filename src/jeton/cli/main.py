"""`jeton`: the command line. Thin over services; every command takes --json for scripts.

Commands live in one module per area (cli/ledger.py, cli/ops.py, ...) and are registered here.
Each module imports Jeton's services inside its commands, not at the top, so that `jeton --help`
and the everyday commands start quickly (tests/ledger/test_cli_first_hour.py measures it).
"""

from __future__ import annotations

import os
import sys

import typer

from jeton.cli import common

DEBUG_ENV = "JETON_DEBUG"

app = typer.Typer(
    name="jeton",
    help="Jeton: credits and micropayments for communities. "
         "The database comes from --database-url or JETON_DATABASE_URL "
         "(default sqlite:///jeton.db); the community from --community or JETON_COMMUNITY "
         "when there are several.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: the rich layout of this typer labels every flag `<bool>` as if it took a value.
    rich_markup_mode=None,
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
    except Exception as exc:
        # Every error is one line and a non-zero exit; the traceback is there for a bug report.
        if os.environ.get(DEBUG_ENV):
            raise
        common.error_line(f"{common.one_line(exc)} ({type(exc).__name__}; "
                          f"set {DEBUG_ENV}=1 to see where)")
        sys.exit(1)
