"""Operator commands: migrate, verify, bench, serve, worker, demo."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

import jeton
from jeton.cli.common import CliError, console, emit_json, err_console, opened, table
from jeton.core import limits

DbOption = Annotated[str | None, typer.Option(
    "--database-url", envvar="JETON_DATABASE_URL",
    help="Where Jeton keeps its ledger (default sqlite:///jeton.db).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
VerboseOption = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Log what happens (migrations, jobs, each request); "
                            "otherwise only warnings and errors.")]


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _job_thread(j: jeton.Jeton) -> Any:
    from jeton.services.ops.worker import Worker

    worker = Worker(j)
    worker.start()
    return worker


def _spinner() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=console, transient=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def migrate(
        database_url: DbOption = None,
        shard_count: Annotated[int | None, typer.Option(
            "--shard-count", min=1, max=limits.citus_shard_count_max,
            help="Citus only: shards per table when the tables are first distributed "
                 "(default: the coordinator's citus.shard_count).")] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Create or upgrade the schema; on a Citus coordinator, distribute it."""
        with opened(database_url, migrate=False) as j:
            from jeton.store.migrate import current, server_warnings, upgrade

            done = upgrade(j.store, shard_count=shard_count)  # None: not a Citus coordinator
            if shard_count is not None and done is None:
                err_console.print(f"note: --shard-count is for a Citus coordinator; this "
                                  f"{j.store.dialect} database has no shards to make")
            for warning in server_warnings(j.store):
                err_console.print(f"warning: {warning}")
            revision = current(j.store)
            database = "citus" if done is not None else j.store.dialect
            if as_json:
                out: dict[str, object] = {"revision": revision, "database": database}
                if done is not None:
                    out["distributed"] = {"tables": done.tables, "functions": done.functions}
                emit_json(out)
                return
            console.print(f"schema at revision {revision} ({database})")
            if done is not None:
                console.print(f"distributed by community_id: {len(done.tables)} new table(s), "
                              f"{len(done.functions)} new function(s)")

    @app.command()
    def verify(
        database: Annotated[str | None, typer.Argument(
            help="Database URL to check (default: --database-url / JETON_DATABASE_URL).")] = None,
        database_url: DbOption = None,
        community_id: Annotated[str | None, typer.Option(
            "--community", help="Check this community only (default: each in turn).")] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Check every invariant of the ledger, community by community; exit 1 naming each
        violation and the communities that fail."""
        from jeton.services.ops.verify import UnknownCommunity
        from jeton.services.ops.verify import verify as run_verify

        with opened(database or database_url, migrate=False) as j, _spinner() as progress:
            task = progress.add_task("verifying", total=None)

            def step(name: str, found: int) -> None:
                progress.update(task, description=f"checking {name} ({found} problems so far)")

            try:
                found = run_verify(j.store, step, community_id=community_id)
            except UnknownCommunity:
                raise CliError(f"no community {community_id!r}") from None
        failing = sorted({v.community_id for v in found})
        if as_json:
            emit_json({"ok": not found, "failing_communities": failing,
                       "violations": [_violation(v) for v in found]})
        elif found:
            for v in found:
                console.print(f"[red]✗[/] {escape(str(v))}", highlight=False)
            console.print(f"[bold red]{len(found)} violation(s)[/] in "
                          f"{len(failing)} communit{'y' if len(failing) == 1 else 'ies'}: "
                          + ", ".join(failing), highlight=False)
        else:
            where = f"community {community_id}" if community_id else "every community"
            console.print(f"[green]✓[/] every invariant holds in {where}", highlight=False)
        if found:
            raise typer.Exit(1)

    @app.command()
    def bench(
        postgres_url: Annotated[str | None, typer.Option(
            "--postgres-url", help="Also measure PostgreSQL (a schema is made and dropped).")
        ] = None,
        n: Annotated[int, typer.Option("-n", help="Spends per measurement.")] = 5000,
        preload: Annotated[int, typer.Option(
            "--preload", help="Also measure on a journal of this many postings.")] = 0,
        http: Annotated[bool, typer.Option("--http/--no-http",
                                           help="Also measure the HTTP API.")] = True,
        history_postings: Annotated[int, typer.Option(
            "--history-postings", min=1_000,
            help="Postings on the wallet whose balance at an instant is measured.")
        ] = 200_000,
        rounds: Annotated[int, typer.Option(
            "--rounds", min=1, max=100,
            help="Rounds of each figure in turn with its reference: more give a steadier "
                 "ratio, and each ratio's `_spread` shows how much it moved between rounds.")
        ] = 2,
        as_json: JsonOption = False,
    ) -> None:
        """Measure spends per second and latency on fresh databases."""
        from jeton.services.bench import charging as charging_bench
        from jeton.services.bench import history as history_bench
        from jeton.services.bench import http as http_bench
        from jeton.services.bench import service as bench_mod

        bench_mod.EXTRA[:] = [charging_bench.figures, history_bench.figures] + (
            [http_bench.figures] if http else [])
        with _spinner() as progress:
            task = progress.add_task("starting", total=None)
            figures = bench_mod.run(postgres_url=postgres_url, n=n, preload_postings=preload,
                                    progress=lambda m: progress.update(task, description=m),
                                    history_postings=history_postings, rounds=rounds)
        if as_json:
            sys.stdout.write(json.dumps(figures) + "\n")
            return
        table("jeton bench", ["figure", "value"],
              [(k, f"{v:,.1f}") for k, v in figures.items()])

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        demo: Annotated[bool, typer.Option(
            "--demo", help="Load the demo community first (once: a restart keeps it as it is).")
        ] = False,
        jobs: Annotated[bool, typer.Option(
            "--jobs/--no-jobs",
            help="Run the jobs (expiry, hold timeouts, renewals, webhooks...) in this process. "
                 "A job run is claimed by one process at a time, so `jeton worker`s may run "
                 "beside it.")] = True,
        workers: Annotated[int | None, typer.Option(
            min=1, max=64, show_default=False,
            help="Server processes, PostgreSQL only (each uses a core). Default: one per core "
                 "on PostgreSQL, one on SQLite.")] = None,
        verbose: VerboseOption = False,
        database_url: DbOption = None,
    ) -> None:
        """Serve the HTTP API, the dashboard and member pages (health at /healthz)."""
        from jeton.api.app import check_settings, create_app
        from jeton.api.server import serve as run_server
        from jeton.api.server import server_config
        from jeton.config import Settings, default_server_processes
        from jeton.store.migrate import server_warnings

        _logging(verbose)
        # Links Jeton hands out (member pages, checkout returns) point at this server unless
        # the operator says where members reach it.
        os.environ.setdefault("JETON_PUBLIC_URL", f"http://{host}:{port}")
        try:  # what would stop the server (or each of its processes) is said before it starts
            check_settings(Settings.from_env())
        except ValueError as exc:
            raise CliError(str(exc)) from None
        with opened(database_url) as j:
            if workers is None:
                workers = default_server_processes(j.store.dialect)
            if workers > 1 and j.store.dialect == "sqlite":
                raise CliError("--workers above 1 needs PostgreSQL: SQLite has one writer at a "
                               "time, and one process already batches its writes (group commit)")
            for warning in server_warnings(j.store):
                err_console.print(f"warning: {warning}")
            if demo:
                _demo_welcome(_load_demo(j), f"http://{host}:{port}")
            worker = _job_thread(j) if jobs else None
            typer.echo(f"Jeton on http://{host}:{port}  (API /v1, docs /docs, "
                       f"dashboard /admin, member pages /m, health /healthz)"
                       + ("" if jobs else "; jobs off: run `jeton worker`"))
            log_level, access_log = ("info", True) if verbose else ("warning", False)
            if workers > 1:
                # Each worker process opens its own Jeton from the environment.
                os.environ["JETON_DATABASE_URL"] = j.store.url
                config = server_config("jeton.api.app:app_from_env", host=host, port=port,
                                       workers=workers, log_level=log_level,
                                       access_log=access_log)
            else:
                config = server_config(create_app(j), host=host, port=port,
                                       log_level=log_level, access_log=access_log)
            try:
                run_server(config)
            finally:
                if worker:
                    worker.stop()

    @app.command()
    def worker(
        once: Annotated[bool, typer.Option("--once", help="One pass over due jobs, then exit.")
                        ] = False,
        verbose: VerboseOption = False,
        database_url: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Run jobs: expiry, hold timeouts, renewals, recharges, webhook delivery, seals,
        pruning (`--json` with `--once`)."""
        from jeton.services.ops.worker import Worker, run_due

        _logging(verbose)
        with opened(database_url) as j:
            if once:
                done = run_due(j, force=True)
                if as_json:
                    emit_json(dict(sorted(done.items())))
                    return
                table("jobs run", ["job", "count"], sorted(done.items()))
                return
            w = Worker(j)
            signal.signal(signal.SIGTERM, lambda *_: w.stop())
            console.print("jeton worker running; Ctrl-C to stop")
            try:
                w.run_forever()
            except KeyboardInterrupt:
                w.stop()

    @app.command()
    def demo(database_url: DbOption = None, as_json: JsonOption = False) -> None:
        """Load the demo community (chat room, file library, classifieds, mall, video)."""
        with opened(database_url) as j:
            community = _load_demo(j)
            members = community.list_members(limit=100).data
            if as_json:
                emit_json({"community": community.id, "members": [m.id for m in members]})
                return
            from jeton.services.ops.demo import MEMBERS

            # The named members; the others are the history's (demo_history.py), counted.
            rows = [(m.id, m.name, community.balance(m.id).available) for m in members
                    if m.id in MEMBERS]
            table(f"demo community '{community.id}'", ["member", "name", "available"], rows)
            console.print(f"and {len(members) - len(rows)} members who joined over the last "
                          f"sixty days (jeton members list)")


def _load_demo(j: jeton.Jeton) -> jeton.Community:
    try:
        from jeton.services.ops.demo import load_demo
    except ImportError as exc:  # pragma: no cover - only before the demo module lands
        raise CliError("the demo catalog is not available in this build") from exc
    with _spinner() as progress:
        progress.add_task("loading the demo community", total=None)
        return load_demo(j)


def _demo_welcome(c: jeton.Community, base_url: str) -> None:
    """What a new user needs to look around the demo: a sign-in, an API key, a member link."""
    import secrets

    from jeton.services.access.api_keys import ApiKeys
    from jeton.services.access.staff import bootstrap_owner, list_staff_users

    j = c.jeton
    lines = [f"demo community '{c.id}' is ready"]
    if not list_staff_users(j.store, c.id):  # the first run: an owner and a key, shown once
        password = secrets.token_urlsafe(12)
        bootstrap_owner(j.store, j.clock, c.id, "owner@demo.example", password)
        lines.append(f"dashboard  {base_url}/admin  owner@demo.example / {password}")
        key = ApiKeys(j.store, j.clock).create(c.id, name="demo", scopes=["admin"],
                                               created_by="jeton serve --demo")
        lines.append(f"API key    {key.token}   (docs at {base_url}/docs)")
    else:
        lines.append(f"dashboard  {base_url}/admin  (a forgotten password: "
                     f"jeton staff reset-password owner@demo.example)")
        lines.append(f"API key    the one shown on the first run (another: jeton keys create; "
                     f"docs at {base_url}/docs)")
    link = c.create_member_link("alice", ttl_s=3600)
    lines.append(f"alice's pages (one use, within the hour)  {link.url}")
    for line in lines:
        typer.echo(line)  # plain: a wrapped URL or token would not paste


def _violation(v: object) -> dict[str, str]:
    return {k: str(getattr(v, k)) for k in ("check", "community_id", "subject", "detail")}

