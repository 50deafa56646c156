"""The job loop: every domain's jobs, run for each community when due.

`jeton worker` runs it in a loop (many workers may run: a job run is claimed per community, see
`services/ledger/jobs.py`); `jeton serve` runs it in-process. It goes community by community and
each job works inside one community, so nothing assumes one snapshot across communities.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import TYPE_CHECKING

from jeton.services.ledger.jobs import REGISTRY, run_job
from jeton.services.ledger.service import communities_of

if TYPE_CHECKING:
    from jeton.app import Jeton

log = logging.getLogger("jeton.jobs")

JOB_MODULES = (
    "jeton.services.access.member_links",
    "jeton.services.access.sessions",
    "jeton.services.charging.service",
    "jeton.services.events.endpoints",
    "jeton.services.funding.renewals",
    "jeton.services.funding.purchases",
    "jeton.services.funding.recharge",
    "jeton.services.gamification.service",
    "jeton.services.ledger.http_idempotency",
)
"""Modules that register jobs (`@job`); a worker imports them all."""


def load_all() -> None:
    for name in JOB_MODULES:
        importlib.import_module(name)


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
