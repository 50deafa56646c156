"""Test clocks (decision 0056): a community made in test mode lives on a clock of its own that
only an advance moves, and an advance runs every job that falls due on the way. Written as a
host app's acceptance tests would be: nothing here moves the process's clock, only the
community's. The process's clock (the `clock` fixture) stands still at 2026-01-15 12:00 UTC
throughout, so everything that happens below happens because the test clock moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.payments.offline import DEMO_METHOD_OK

from .conftest import CANCEL, SUCCESS, events, ok, pay

START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # the `clock` fixture's instant
DAY_S = 24 * 3600


@pytest.fixture
def lab(j: jeton.Jeton) -> jeton.Community:
    """A community in test mode with a member, ann, who holds 100 permanent credits."""
    lab = j.create_community("Chess lab", "lab", test_mode=True)
    lab.create_member("ann")
    lab.grant("ann", 100, idempotency_key="welcome-ann")
    return lab


def test_a_test_community_starts_on_a_clock_that_stands_still(
        j: jeton.Jeton, lab: jeton.Community, clock: ManualClock) -> None:
    assert lab.info().test_mode
    assert lab.test_clock().now == START
    assert lab.test_clock().status == "ready"
    clock.advance(days=3)  # the process's time moves; the community's does not
    hold = lab.hold("ann", 10, idempotency_key="h-1", timeout_s=60)
    assert hold.created_at == START
    assert hold.expires_at == START + timedelta(seconds=60)
    # A live community beside it keeps the real (here: the process's) time.
    live = j.create_community("Live club", "live")
    assert not live.info().test_mode
    assert live.info().created_at == START + timedelta(days=3)


def test_a_monthly_plan_renews_and_the_last_cycles_credits_expire_after_a_month(
        j: jeton.Jeton, lab: jeton.Community) -> None:
    lab.set_payment_method("ann", provider="demo", customer_id="cus_ann",
                           payment_method_id=DEMO_METHOD_OK)
    lab.create_plan("Lab monthly", plan_id="monthly", cycle="monthly", credits=50,
                    price_minor=900)
    sub = lab.subscribe("ann", "monthly", idempotency_key="ann-monthly")
    assert (sub.status, sub.current_cycle) == ("active", 0)
    assert sub.current_period_start == START
    assert sub.current_period_end == datetime(2026, 2, 15, 12, 0, tzinfo=UTC)
    lab.spend("ann", 20, idempotency_key="games-jan", service="chess.game")
    assert {lot.source: lot.remaining for lot in lab.lots("ann")} == {"plan": 30, "grant": 100}

    # A month and a few days: the renewal and the old cycle's expiry fall due on Feb 15.
    moved = lab.advance_test_clock(seconds=35 * DAY_S, idempotency_key="a-month-on")

    assert moved.previous_now == START
    assert moved.now == datetime(2026, 2, 19, 12, 0, tzinfo=UTC)
    assert moved.steps == 2  # Feb 15 (renewal and expiry at one instant), then the target
    assert moved.jobs["plans.renew"] == 1
    assert moved.jobs["lots.expire"] == 1
    assert lab.test_clock().now == datetime(2026, 2, 19, 12, 0, tzinfo=UTC)
    renewed = lab.get_subscription(sub.id)
    assert (renewed.status, renewed.current_cycle) == ("active", 1)
    assert renewed.current_period_start == datetime(2026, 2, 15, 12, 0, tzinfo=UTC)
    assert lab.account_balance("breakage").posted == 30  # cycle 0's unused credits
    lots = {lot.source: (lot.remaining, lot.expires_at) for lot in lab.lots("ann")}
    assert lots == {"plan": (50, datetime(2026, 3, 15, 12, 0, tzinfo=UTC)),
                    "grant": (100, None)}
    assert lab.balance("ann").available == 150
    # Cycle 1 was announced; cycle 0's event (Jan 15) is past the outbox's 30 days of
    # retention on the community's clock, and was pruned on the way.
    assert [e["cycle"] for e in events(j.store, "subscription.cycle_started")] == [1]
    assert lab.account_balance("deferred", asset="USD").posted == 2 * 900
    ok(j.store)


def test_a_hold_nobody_settles_times_out_when_the_clock_passes_its_timeout(
        j: jeton.Jeton, lab: jeton.Community) -> None:
    hold = lab.hold("ann", 40, idempotency_key="video-1", timeout_s=600)
    assert lab.balance("ann").available == 60

    lab.advance_test_clock(seconds=599, idempotency_key="almost")
    assert lab.get_hold(hold.id).status == "active"
    moved = lab.advance_test_clock(seconds=60, idempotency_key="past-it")

    assert moved.jobs["holds.expire"] == 1
    assert moved.steps == 2  # the timeout, then the target
    assert lab.get_hold(hold.id).status == "expired"
    assert lab.balance("ann").available == 100
    with pytest.raises(jeton.Conflict) as late:
        lab.capture(hold.id, 10, idempotency_key="too-late")
    assert late.value.status in {jeton.Status.hold_expired, jeton.Status.hold_not_active}
    ok(j.store)


def test_a_per_day_limit_frees_up_the_next_day(j: jeton.Jeton, lab: jeton.Community) -> None:
    lab.set_velocity_limit(per_day=50)
    lab.spend("ann", 40, idempotency_key="d1-a", service="chess.game")
    with pytest.raises(jeton.VelocityLimitExceeded) as over:
        lab.spend("ann", 20, idempotency_key="d1-b", service="chess.game")
    assert over.value.status == jeton.Status.velocity_limit_exceeded
    # The limit frees up at the start of the next UTC day of the community's clock.
    assert over.value.extra["retry_after"] == datetime(2026, 1, 16, tzinfo=UTC)

    lab.advance_test_clock(to=datetime(2026, 1, 16, 0, 0, 1, tzinfo=UTC),
                           idempotency_key="next-day")

    spent = lab.spend("ann", 20, idempotency_key="d1-b", service="chess.game")
    assert spent.effective_at == datetime(2026, 1, 16, 0, 0, 1, tzinfo=UTC)
    assert lab.balance("ann").available == 40
    ok(j.store)


def test_the_clock_never_moves_back_and_a_retry_moves_it_once(
        j: jeton.Jeton, lab: jeton.Community) -> None:
    first = lab.advance_test_clock(seconds=3600, idempotency_key="an-hour")
    again = lab.advance_test_clock(seconds=3600, idempotency_key="an-hour")
    assert again.replayed
    assert not first.replayed
    assert again.now == first.now == START + timedelta(hours=1)
    assert lab.test_clock().now == START + timedelta(hours=1)  # not two hours
    with pytest.raises(jeton.IdempotencyConflict):
        lab.advance_test_clock(seconds=60, idempotency_key="an-hour")

    for to in (START, START + timedelta(hours=1)):  # back, and where it stands
        with pytest.raises(jeton.Conflict) as back:
            lab.advance_test_clock(to=to, idempotency_key=f"back-{to.isoformat()}")
        assert back.value.status == jeton.Status.clock_backwards
    for bad in ({"seconds": 0}, {"seconds": -5}, {}, {"seconds": 5, "to": START},
                {"to": datetime(2027, 1, 1)},  # no time zone
                {"seconds": 3 * 366 * DAY_S}):
        with pytest.raises(jeton.InvalidRequest) as refused:
            lab.advance_test_clock(idempotency_key="bad", **bad)  # type: ignore[arg-type]
        assert refused.value.status == jeton.Status.value_invalid
    assert lab.test_clock().now == START + timedelta(hours=1)
    ok(j.store)


def test_a_live_community_refuses_to_move_its_clock(j: jeton.Jeton) -> None:
    live = j.create_community("Live club", "live")
    live.create_member("bob")
    for attempt in (live.test_clock,
                    lambda: live.advance_test_clock(seconds=60, idempotency_key="x")):
        with pytest.raises(jeton.Conflict) as refused:
            attempt()
        assert refused.value.status == jeton.Status.test_mode_required
    with pytest.raises(jeton.NotFound):
        j.ledger.clocks.info("nowhere")
    # Its mode is set once: made again in test mode, it is another community's id.
    with pytest.raises(jeton.Conflict) as again:
        j.create_community("Live club", "live", test_mode=True)
    assert again.value.status == jeton.Status.already_exists
    assert j.create_community("Live club", "live").info().test_mode is False
    ok(j.store)


def test_the_worker_runs_a_test_communitys_jobs_on_its_own_clock(
        j: jeton.Jeton, lab: jeton.Community, clock: ManualClock) -> None:
    from jeton.services.ops.worker import run_due

    lab.grant("ann", 10, idempotency_key="short-lived",
              expires_at=START + timedelta(days=2))
    clock.advance(days=30)  # the process's time passes the lot's expiry...
    run_due(j, force=True)
    assert lab.balance("ann").available == 110  # ...the community's time does not
    lab.advance_test_clock(seconds=2 * DAY_S, idempotency_key="two-days")
    assert lab.balance("ann").available == 100
    assert lab.account_balance("breakage").posted == 10
    ok(j.store)


def test_a_pack_paid_on_the_hosted_page_is_granted_at_the_communitys_time(
        j: jeton.Jeton, lab: jeton.Community, clock: ManualClock) -> None:
    lab.create_pack("Week pass", pack_id="week", credits=30, price_minor=500,
                    credit_expiry_days=7)
    lab.advance_test_clock(seconds=DAY_S, idempotency_key="a-day")
    clock.advance(days=100)  # the process's time is far off; the grant keeps to the lab's
    checkout = lab.buy_pack("ann", "week", idempotency_key="buy-week", success_url=SUCCESS,
                            cancel_url=CANCEL)
    pay(j, checkout)  # the member pays on the demo page; its event reaches the handler
    bought = [lot for lot in lab.lots("ann") if lot.source == "purchase"]
    assert [(lot.created_at, lot.expires_at) for lot in bought] == [
        (START + timedelta(days=1), START + timedelta(days=8))]
    moved = lab.advance_test_clock(seconds=7 * DAY_S, idempotency_key="a-week")
    assert moved.jobs["lots.expire"] == 1
    assert lab.balance("ann").available == 100
    ok(j.store)


def test_a_second_advance_waits_for_the_first_or_takes_over_once_its_lease_is_gone(
        j: jeton.Jeton, lab: jeton.Community) -> None:
    import time

    from jeton.store.tables.clocks import test_clocks

    def running(lease_s: float) -> None:  # as if another process were advancing to +1 day
        with j.store.write() as conn:
            conn.execute(test_clocks.update().values(
                status="advancing", advance_key="other", advance_hash="x" * 64,
                advance_from_us=test_clocks.c.frozen_time_us,
                advance_to_us=test_clocks.c.frozen_time_us + DAY_S * 1_000_000,
                lease_until_us=int((time.time() + lease_s) * 1_000_000)))

    running(lease_s=60)
    assert lab.test_clock().status == "advancing"
    assert lab.test_clock().advancing_to == START + timedelta(days=1)
    with pytest.raises(jeton.Conflict) as busy:
        lab.advance_test_clock(seconds=60, idempotency_key="mine")
    assert busy.value.status == jeton.Status.clock_advancing

    running(lease_s=-1)  # that process died: its lease ran out
    moved = lab.advance_test_clock(seconds=60, idempotency_key="mine")
    assert moved.now == START + timedelta(seconds=60)
    assert lab.test_clock().status == "ready"
    ok(j.store)
