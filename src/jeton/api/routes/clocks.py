"""Test clocks: the time of a community made in test mode, and moving it forward."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.idempotency import IdempotencyKey
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import AdvanceClock
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.clocks import ClockAdvance, ClockInfo

router = api_router(tags=["test clocks"])


@router.get("/test_clock", responses=problem_responses(409))
def get_test_clock(caller: Annotated[Caller, requires(Scope.reports_read)]) -> ClockInfo:
    """The community's test clock: its time, and whether an advance is under way. A live
    community has none: 409 `test_mode_required`."""
    return caller.community.test_clock()


@router.post("/test_clock/advance", responses=problem_responses(409))
def advance_test_clock(body: AdvanceClock, caller: Annotated[Caller, requires(Scope.admin)],
                       key: IdempotencyKey) -> ClockAdvance:
    """Move the clock forward to `to`, or by `seconds`, and run every job that falls due on
    the way, in time order; answers when done. 409 `test_mode_required` (a live community),
    `clock_backwards` (not after the clock's time), `clock_advancing` (another advance)."""
    return caller.community.advance_test_clock(to=body.to, seconds=body.seconds,
                                               idempotency_key=key)
