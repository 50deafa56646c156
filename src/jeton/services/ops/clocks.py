"""Advancing a test clock (decision 0056): move a test-mode community's time forward and run,
in order, every job that falls due on the way.

An advance is synchronous: the call returns when the clock stands at its target and every job
due by then has run. It stops at each instant where something falls due (a lot's expiry, a
hold's timeout, a subscription's next renewal or retry, a recharge's next attempt, a pending
purchase's expiry), in time order, sets the clock there and runs every job of the community
(webhooks last, so the events of that stop are sent from it); then it does the same at the
target. Jobs that add something due later within the target (a renewal granting lots that
expire a cycle on) are met on the way, since the next stop is looked up after each.

Idempotent like every write: the key is claimed in the ledger's keys when the advance starts
(so no other write takes it meanwhile, decision 0115) and keeps the answer when the advance is
done; while it runs, the clock row holds the key, its request and its target, so a
retry of the same request after a crash carries the same advance on to the same target (a
relative `seconds` is not counted twice). Another advance meanwhile is refused
(`clock_advancing`) until the first ends or its lease (real time) runs out.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core.clock import community_time, ensure_utc, from_us, to_us
from jeton.core.errors import Conflict, IdempotencyConflict, InvalidRequest
from jeton.core.statuses import Status
from jeton.services.ledger import idempotency
from jeton.services.ledger.clocks import ClockAdvance, read_clock
from jeton.services.ledger.jobs import REGISTRY, Job, run_job
from jeton.services.ops.worker import load_all
from jeton.store.tables.clocks import test_clocks
from jeton.store.tables.funding import purchases, recharge_claims, subscriptions
from jeton.store.tables.ledger import holds, idempotency_keys, lots

if TYPE_CHECKING:
    from jeton.app import Jeton

OPERATION = "test_clock.advance"
_US = 1_000_000
_c = test_clocks.c

# Where something falls due: (table, its instant, which rows count).
_DUE: tuple[tuple[sa.Table, sa.Column[Any], sa.ColumnElement[bool] | None], ...] = (
    (lots, lots.c.expires_at_us, lots.c.remaining > 0),
    (holds, holds.c.expires_at_us, holds.c.status == "active"),
    (subscriptions, subscriptions.c.next_action_at_us, None),
    (recharge_claims, recharge_claims.c.next_attempt_at_us, None),
    (purchases, purchases.c.expires_at_us, purchases.c.status == "pending"),
)

# The order jobs run at each stop: what releases or ends credits first, then what grants or
# buys them, then the rest; webhooks last, so that a stop's events are sent from that stop.
_FIRST = ("holds.expire", "lots.expire", "plans.renew", "purchases.expire", "recharge.run")
_LAST = ("webhooks.fan_out", "webhooks.deliver")
# A job claimed by a worker at the same moment is waited for this many times, this long apart.
_CLAIM_TRIES = 50
_CLAIM_WAIT_S = 0.1


def advance(j: Jeton, community_id: str, *, to: datetime | None = None,
            seconds: int | None = None, idempotency_key: str) -> ClockAdvance:
    """Move the community's test clock to `to`, or `seconds` on, running every job that falls
    due on the way. Refused for a live community (`test_mode_required`), for a time not after
    the clock's (`clock_backwards`) and while another advance runs (`clock_advancing`)."""
    key = amounts.idempotency_key(idempotency_key)
    if (to is None) == (seconds is None):
        raise InvalidRequest("give one of `to` (an instant) or `seconds`",
                             status=Status.value_invalid)
    if seconds is not None and (type(seconds) is not int
                                or not 1 <= seconds <= limits.test_clock_advance_s_max):
        raise InvalidRequest(f"seconds must be a whole number 1-{limits.test_clock_advance_s_max}",
                             status=Status.value_invalid)
    if to is not None and not isinstance(to, datetime):
        raise InvalidRequest("`to` must be an instant", status=Status.value_invalid)
    try:
        to_at_us = to_us(ensure_utc(to)) if to is not None else None
    except ValueError as exc:
        raise InvalidRequest(str(exc), status=Status.value_invalid) from None
    req_hash = idempotency.request_hash(OPERATION, {"to": to_at_us, "seconds": seconds})

    def claim(conn: Connection) -> ClockAdvance | tuple[int, int]:
        read_clock(conn, community_id, for_update=True)  # NotFound, or a live community
        # Taken now, so no other write takes the key while the advance runs.
        replay = idempotency.claim(conn, community_id, key, OPERATION, req_hash,
                                   int(time.time() * _US))
        if replay is not None and replay != idempotency.CLAIMED:  # done: its answer
            return ClockAdvance.model_validate_json(replay).model_copy(update={"replayed": True})
        row = conn.execute(sa.select(
            _c.frozen_time_us, _c.status, _c.advance_key, _c.advance_hash, _c.advance_from_us,
            _c.advance_to_us, _c.lease_until_us).where(_c.community_id == community_id)).one()
        frozen, status, running_key, running_hash, from_at, target, lease_until = row
        real_now_us = int(time.time() * _US)
        if status == "advancing":
            if running_key == key:  # a retry of the advance under way, or of one that died
                if running_hash != req_hash:
                    raise IdempotencyConflict(idempotency.conflict_detail(
                        key, OPERATION, OPERATION), key=key)
                _hold_lease(conn, community_id, key, real_now_us)
                return int(from_at), int(target)
            if lease_until is not None and lease_until > real_now_us:
                raise Conflict(f"the clock is advancing to {from_us(int(target)).isoformat()}",
                               status=Status.clock_advancing)
            # The advance under way died (its lease ran out): it stops where it got to.
        target = to_at_us if to_at_us is not None else frozen + (seconds or 0) * _US
        if target <= frozen:
            raise Conflict(f"the clock is at {from_us(frozen).isoformat()}: it only moves "
                           "forward", status=Status.clock_backwards, now=from_us(frozen))
        if target - frozen > limits.test_clock_advance_s_max * _US:
            raise InvalidRequest(f"one advance moves the clock at most "
                                 f"{limits.test_clock_advance_s_max} seconds",
                                 status=Status.value_invalid)
        conn.execute(test_clocks.update().where(_c.community_id == community_id).values(
            status="advancing", advance_key=key, advance_hash=req_hash, advance_from_us=frozen,
            advance_to_us=target, lease_until_us=real_now_us + limits.test_clock_lease_s * _US))
        return int(frozen), int(target)

    claimed = j.store.run_write(claim)
    if isinstance(claimed, ClockAdvance):
        return claimed
    start_us, target_us = claimed
    with j.store.read() as conn:
        current_us = int(conn.execute(sa.select(_c.frozen_time_us).where(
            _c.community_id == community_id)).scalar_one())
    jobs = _jobs_in_order()
    counts: dict[str, int] = {}
    steps = 0
    while True:
        step_us = target_us
        if steps < limits.test_clock_steps_max:
            with j.store.read() as conn:
                step_us = next_due_us(conn, community_id, current_us, target_us) or target_us
        _set_time(j, community_id, key, step_us)
        with community_time(community_id, from_us(step_us)):
            for job_ in jobs:
                done = _run(j, job_, community_id)
                if done:
                    counts[job_.name] = counts.get(job_.name, 0) + done
        steps += 1
        current_us = step_us
        if step_us >= target_us:
            break
    result = ClockAdvance(previous_now=from_us(start_us), now=from_us(target_us), steps=steps,
                          jobs=dict(sorted(counts.items())))

    def finish(conn: Connection) -> ClockAdvance:
        conn.execute(idempotency_keys.update().where(  # the ledger's keys are kept for good
            idempotency_keys.c.community_id == community_id, idempotency_keys.c.key == key,
            idempotency_keys.c.operation == OPERATION).values(
            response_json=result.model_dump_json()))
        conn.execute(test_clocks.update().where(
            _c.community_id == community_id, _c.advance_key == key).values(
            status="ready", advance_key=None, advance_hash=None, advance_from_us=None,
            advance_to_us=None, lease_until_us=None))
        return result

    return j.store.run_write(finish)


def next_due_us(conn: Connection, community_id: str, after_us: int,
                until_us: int) -> int | None:
    """The first instant after `after_us` and by `until_us` where something falls due."""
    found: list[int] = []
    for table, column, which in _DUE:
        stmt = sa.select(sa.func.min(column)).where(
            table.c.community_id == community_id, column > after_us, column <= until_us)
        if which is not None:
            stmt = stmt.where(which)
        value = conn.execute(stmt).scalar()
        if value is not None:
            found.append(int(value))
    return min(found) if found else None


def _jobs_in_order() -> list[Job]:
    load_all()
    jobs = [job_ for job_ in REGISTRY.values() if not job_.real_time]

    def rank(job_: Job) -> tuple[int, int, str]:
        if job_.name in _FIRST:
            return (0, _FIRST.index(job_.name), job_.name)
        if job_.name in _LAST:
            return (2, _LAST.index(job_.name), job_.name)
        return (1, 0, job_.name)

    return sorted(jobs, key=rank)


def _run(j: Jeton, job_: Job, community_id: str) -> int:
    """Run one job now (forced: due or not), waiting for a worker that holds it."""
    for _ in range(_CLAIM_TRIES):
        done = run_job(j, job_, community_id, force=True)
        if done is not None:
            return done
        time.sleep(_CLAIM_WAIT_S)
    return 0


def _set_time(j: Jeton, community_id: str, key: str, at_us: int) -> None:
    """Stop the clock at `at_us` and renew the advance's lease."""
    real_now_us = int(time.time() * _US)

    def tx(conn: Connection) -> None:
        moved = conn.execute(test_clocks.update().where(
            _c.community_id == community_id, _c.advance_key == key).values(
            frozen_time_us=at_us,
            lease_until_us=real_now_us + limits.test_clock_lease_s * _US))
        if moved.rowcount != 1:  # another advance took over after this one's lease ran out
            raise Conflict("another advance of the clock took over from this one",
                           status=Status.clock_advancing)

    j.store.run_write(tx)


def _hold_lease(conn: Connection, community_id: str, key: str, real_now_us: int) -> None:
    conn.execute(test_clocks.update().where(
        _c.community_id == community_id, _c.advance_key == key).values(
        lease_until_us=real_now_us + limits.test_clock_lease_s * _US))
