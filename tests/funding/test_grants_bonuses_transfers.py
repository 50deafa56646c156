"""Credits given by the community: the sign-up bonus, staff and moderator grants within their
limits (audited), and transfers between members within theirs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.audit import list_audit

from .conftest import ok


def test_new_members_get_the_sign_up_bonus_once(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    club.set_signup_bonus(20, expiry_days=14)
    assert club.balance("ann").posted == 0  # members from before the bonus get nothing
    club.create_member("dana")
    club.create_member("dana")  # the same member again: no second bonus
    lot = club.lots("dana")[0]
    assert (lot.source, lot.remaining, lot.paid) == ("signup", 20, False)
    assert lot.expires_at == clock.now() + timedelta(days=14)
    clock.advance(days=15)
    club.run_expiry()
    assert club.balance("dana").posted == 0
    club.set_signup_bonus(0)
    club.create_member("eli")
    assert club.balance("eli").posted == 0
    ok(j.store)


def test_an_owner_grants_and_charges_credits_with_a_reason_and_it_is_audited(
        j: jeton.Jeton, club: jeton.Community) -> None:
    granted = club.staff_grant("ann", 50, actor="staff:olga", reason="won the club open",
                               idempotency_key="prize-ann")
    assert granted.actor == "staff:olga"
    assert granted.memo == "won the club open"
    charged = club.staff_charge("ann", 10, actor="olga", reason="broken clock replaced",
                                idempotency_key="fine-ann")
    assert charged.actor == "staff:olga"
    assert charged.reason_code == "staff_charge"
    assert club.balance("ann").available == 40
    audit = list_audit(j.store, "chess")
    assert [(a.action, a.user_id, a.target, a.detail["amount"]) for a in audit] == [
        ("credits.charged", "olga", "ann", 10), ("credits.granted", "olga", "ann", 50)]
    with pytest.raises(jeton.InvalidRequest):
        club.staff_grant("ann", 5, actor="olga", reason="", idempotency_key="no-reason")
    ok(j.store)


def test_a_moderator_posts_within_the_role_limit_per_day(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock) -> None:
    clock.set(datetime(2026, 3, 2, 10, tzinfo=UTC))
    with pytest.raises(jeton.Declined) as unset:
        club.staff_grant("bob", 5, actor="mod-max", role="moderator", reason="welcome",
                         idempotency_key="w0")
    assert unset.value.status is jeton.Status.limit_exceeded
    club.set_role_limit("moderator", 30, period="day")
    club.staff_grant("bob", 20, actor="mod-max", role="moderator", reason="welcome",
                     idempotency_key="w1")
    with pytest.raises(jeton.Declined) as over:
        club.staff_grant("cy", 15, actor="mod-max", role="moderator", reason="welcome",
                         idempotency_key="w2")
    assert over.value.status is jeton.Status.limit_exceeded
    assert "10 left" in over.value.detail
    club.staff_grant("cy", 10, actor="mod-max", role="moderator", reason="welcome",
                     idempotency_key="w3")
    # Another moderator has a limit of their own; the next day starts afresh.
    club.staff_grant("cy", 30, actor="mod-mia", role="moderator", reason="welcome",
                     idempotency_key="w4")
    clock.advance(days=1)
    club.staff_grant("cy", 30, actor="mod-max", role="moderator", reason="welcome",
                     idempotency_key="w5")
    with pytest.raises(jeton.Declined) as support:
        club.staff_grant("cy", 1, actor="sue", role="support", reason="sorry",
                         idempotency_key="w6")
    assert support.value.status is jeton.Status.forbidden
    assert club.balance("bob").posted == 20
    assert club.balance("cy").posted == 70
    ok(j.store)


def test_transfers_between_members_respect_the_daily_and_monthly_limits_and_pay_the_fee(
        j: jeton.Jeton, club: jeton.Community, clock: ManualClock,
        buy: Callable[..., jeton.PurchaseInfo]) -> None:
    clock.set(datetime(2026, 3, 30, 10, tzinfo=UTC))
    buy("ann", "p100")
    club.set_transfer_limits(per_day=30, per_month=50, fee_fixed=1)
    sent = club.transfer("ann", "bob", 20, idempotency_key="t1")
    assert club.balance("bob").available == 20
    assert club.balance("ann").available == 79
    assert sent.amount == 21
    with pytest.raises(jeton.Declined) as daily:
        club.transfer("ann", "bob", 10, idempotency_key="t2")  # 21 + 11 > 30
    assert daily.value.status is jeton.Status.limit_exceeded
    assert club.balance("ann").available == 79  # refused: nothing written
    club.transfer("ann", "bob", 8, idempotency_key="t3")  # 21 + 9 = 30
    clock.advance(days=1)
    with pytest.raises(jeton.Declined) as monthly:
        club.transfer("ann", "cy", 20, idempotency_key="t4")  # 30 + 21 > 50 this month
    assert "per month" in monthly.value.detail
    club.transfer("ann", "cy", 19, idempotency_key="t5")  # 30 + 20 = 50
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    club.transfer("ann", "cy", 20, idempotency_key="t6")  # April: afresh
    assert club.account_balance("revenue").posted == 4  # the fees
    assert club.get_transfer_limits().per_day == 30
    ok(j.store)
