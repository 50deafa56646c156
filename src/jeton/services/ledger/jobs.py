"""Jobs that make time pass: expiry, hold timeouts, renewals, recharges, webhook delivery...

Each job is a function of (Jeton, community_id) -> how much it did, registered with an interval
by the domain that owns it (`@job(...)`). This module holds the registry, the claim and the
ledger's own jobs; `services/ops/worker.py` imports every domain and runs what is due.
A job run for one community is claimed by locking its `job_runs` row with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never run it at once; every job is
idempotent anyway, so a crash between its work and its bookkeeping only repeats harmless work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from jeton.core.clock import community_time
from jeton.services.ledger import journal
from jeton.store.sql import insert_ignore
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
    # Runs on the real time even in a test-mode community: housekeeping of sign-in sessions,
    # links and kept HTTP answers, whose times are the real time (decision 0056). Every other
    # job runs on the community's time, and an advance of a test clock runs it on the way.
    real_time: bool = False


REGISTRY: dict[str, Job] = {}


def job(name: str, interval_s: float, *, real_time: bool = False) -> Callable[[JobFn], JobFn]:
    """Register a job: `@job("lots.expire", 5)` over `def f(jeton, community_id) -> int`."""

    def wrap(fn: JobFn) -> JobFn:
        REGISTRY[name] = Job(name, interval_s, fn, real_time)
        return fn

    return wrap


def run_on_community_time(j: Jeton, job_: Job, community_id: str) -> int:
    """Run a job's work for one community, on the community's time (a test clock's instant)
    unless the job keeps to the real time."""
    if job_.real_time:
        with community_time(community_id, None):
            return job_.run(j, community_id)
    with j.ledger.clocks.scope(community_id):
        return job_.run(j, community_id)


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
        count = run_on_community_time(j, job_, community_id)
    except Exception as exc:  # a failing job is reported and retried at its next interval
        log.exception("job %s failed for %s", job_.name, community_id)
        error = f"{type(exc).__name__}: {exc}"
    with store.write() as conn:
        conn.execute(job_runs.update().where(
            job_runs.c.community_id == community_id, job_runs.c.job == job_.name)
            .values(last_count=count, last_error=error))
    return count
