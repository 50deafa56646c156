"""Jobs that make time pass: expiry, hold timeouts, renewals, recharges, webhook delivery...

Each job is a function of (Jeton, community_id) -> how much it did, registered with an interval.
`jeton worker` runs them in a loop (many workers may run); `jeton serve` runs them in-process.
A job run for one community is claimed by locking its `job_runs` row with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never run it at once; every job is
idempotent anyway, so a crash between its work and its bookkeeping only repeats harmless work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from jeton.services import journal
from jeton.services.ledger import communities_of
from jeton.store.tables.jobs import job_runs

if TYPE_CHECKING:
    from jeton.app import Jeton

log = logging.getLogger("jeton.jobs")

JobFn = Callable[["Jeton", str], int]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_s: float
    run: JobFn


REGISTRY: dict[str, Job] = {}


def job(name: str, interval_s: float) -> Callable[[JobFn], JobFn]:
    """Register a job: `@job("lots.expire", 5)` over `def f(jeton, community_id) -> int`."""

    def wrap(fn: JobFn) -> JobFn:
        REGISTRY[name] = Job(name, interval_s, fn)
        return fn

    return wrap


@job("lots.expire", 5)
def _expire_lots(j: Jeton, community_id: str) -> int:
    return j.ledger.expire_lots(community_id)


@job("holds.expire", 2)
def _expire_holds(j: Jeton, community_id: str) -> int:
    return j.ledger.expire_holds(community_id)


@job("journal.seal", 30)
def _seal(j: Jeton, community_id: str) -> int:
    return journal.seal(j.store, community_id)


@job("journal.checkpoint", 60)
def _checkpoint(j: Jeton, community_id: str) -> int:
    return journal.checkpoint(j.store, community_id)


def run_job(j: Jeton, job_: Job, community_id: str, *, force: bool = False) -> int | None:
    """Run one job for one community if it is due and no other worker holds it.

    Returns what it did, or None when it was not run (not due, or claimed elsewhere).
    """
    store = j.store
    now_us = int(time.time() * 1_000_000)
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            conn = conn.execution_options(jeton_begin="BEGIN IMMEDIATE")
        with conn.begin():
            stmt = sa.select(job_runs.c.last_run_at_us).where(
                job_runs.c.community_id == community_id, job_runs.c.job == job_.name)
            if store.dialect == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            row = conn.execute(stmt).first()
            if row is None:
                from jeton.store.sql import insert_ignore

                conn.execute(insert_ignore(store.dialect, job_runs, ["community_id", "job"]),
                             {"community_id": community_id, "job": job_.name,
                              "last_run_at_us": 0})
                row = conn.execute(stmt).first()
                if row is None:
                    return None
            if not force and now_us - row[0] < job_.interval_s * 1_000_000:
                return None
            # Claimed: mark it run now, so no other worker starts it within the interval.
            conn.execute(job_runs.update().where(
                job_runs.c.community_id == community_id, job_runs.c.job == job_.name)
                .values(last_run_at_us=now_us))
    error = None
    count = 0
    try:
        count = job_.run(j, community_id)
    except Exception as exc:  # a failing job is reported and retried at its next interval
        log.exception("job %s failed for %s", job_.name, community_id)
        error = f"{type(exc).__name__}: {exc}"
    with store.write() as conn:
        conn.execute(job_runs.update().where(
            job_runs.c.community_id == community_id, job_runs.c.job == job_.name)
            .values(last_count=count, last_error=error))
    return count


JOB_MODULES = ("charging", "http_idempotency", "member_links", "plans", "purchases", "recharge",
               "staff_sessions", "webhooks")
"""Modules of jeton.services that register jobs; a worker imports them all."""


def load_all() -> None:
    import importlib

    for name in JOB_MODULES:
        importlib.import_module(f"jeton.services.{name}")


def run_due(j: Jeton, *, force: bool = False, only: set[str] | None = None) -> dict[str, int]:
    """One pass over every community and every registered job that is due."""
    load_all()
    done: dict[str, int] = {}
    for community_id in communities_of(j.store):
        for job_ in list(REGISTRY.values()):
            if only is not None and job_.name not in only:
                continue
            count = run_job(j, job_, community_id, force=force)
            if count:
                done[job_.name] = done.get(job_.name, 0) + count
    return done


class Worker:
    """Runs due jobs in a loop until stopped. Used by `jeton worker` and `jeton serve`."""

    def __init__(self, j: Jeton, *, tick_s: float = 1.0) -> None:
        self.jeton = j
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                run_due(self.jeton)
            except Exception:  # the loop must outlive one bad pass (a database restart)
                log.exception("job pass failed")
            self._stop.wait(self.tick_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="jeton-worker",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
