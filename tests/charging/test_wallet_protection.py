"""Protecting wallets, told the way an owner tells it: a moderator freezes an abused wallet,
the owner sets how fast members may spend, and hears about a member who keeps hitting the limit.

Every scenario runs on SQLite and on PostgreSQL (the `store` fixture) and checks the ledger's
invariants after each step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.audit import list_audit
from jeton.services.events.results import EventInfo
from jeton.store.engine import Store

from .conftest import Check, counts


def _events(shop: jeton.Community, type_: str) -> list[EventInfo]:
    return shop.list_events(type=type_).data


# ---- freezing a wallet ----


def test_moderator_freezes_an_abused_wallet_and_every_way_out_is_refused(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.grant("alice", 100, idempotency_key="g")
    hold = shop.hold("alice", 10, idempotency_key="h-before")
    pack = shop.create_pack("Starter", credits=20, price_minor=500)
    freeze = shop.freeze_wallet("alice", reason="chargeback fraud reported", actor="mod-1")
    assert freeze.frozen
    assert freeze.reason == "chargeback fraud reported"
    assert freeze.frozen_by == "mod-1"
    assert freeze.frozen_at is not None
    before = counts(store)

    with pytest.raises(jeton.WalletFrozen) as spend:
        shop.spend("alice", 3, idempotency_key="s1")
    assert spend.value.status is jeton.Status.wallet_frozen
    with pytest.raises(jeton.WalletFrozen):
        shop.transfer("alice", "bob", 5, idempotency_key="t1")
    with pytest.raises(jeton.WalletFrozen):
        shop.capture(hold.id, 5, idempotency_key="c1")
    with pytest.raises(jeton.WalletFrozen) as held:  # nothing more set aside either
        shop.hold("alice", 5, idempotency_key="h-after")
    assert held.value.extra == {"member": "alice"}
    with pytest.raises(jeton.WalletFrozen):
        shop.start_metered("alice", "video.minute", 2, idempotency_key="m1")
    with pytest.raises(jeton.WalletFrozen):
        shop.buy_pack("alice", pack.id, idempotency_key="b1", success_url="https://x.test/ok",
                      cancel_url="https://x.test/no")
    after = counts(store)
    assert {k: v for k, v in after.items() if v != before[k]} == {}
    invariants(store)

    with pytest.raises(jeton.WalletFrozen):
        shop.charge("alice", "classifieds.ad", idempotency_key="ad-1")
    declined = _events(shop, "charge.declined")
    assert declined[0].data["status"] == "wallet_frozen"
    assert shop.balance("alice").posted == 100
    invariants(store)


def test_a_frozen_wallet_still_receives_credits_and_staff_may_still_correct_it(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.grant("alice", 50, idempotency_key="g")
    shop.freeze_wallet("alice", reason="investigation", actor="owner")
    shop.grant("bob", 10, idempotency_key="gb")
    shop.transfer("bob", "alice", 1, idempotency_key="in")
    shop.grant("alice", 5, idempotency_key="g2")
    shop.staff_charge("alice", 20, actor="owner", reason="fraudulent credits removed",
                      idempotency_key="sc")
    assert shop.balance("alice").posted == 50 + 1 + 5 - 20
    invariants(store)


def test_unfreezing_lets_the_member_spend_again_and_both_are_in_the_audit_log(
        shop: jeton.Community, j: jeton.Jeton, store: Store, invariants: Check) -> None:
    shop.grant("alice", 10, idempotency_key="g")
    shop.freeze_wallet("alice", reason="suspicious downloads", actor="mod-1")
    assert shop.freeze_wallet("alice", reason="again", actor="mod-2").reason == \
        "suspicious downloads"  # the first freeze stands
    thawed = shop.unfreeze_wallet("alice", reason="member verified by phone", actor="owner")
    assert not thawed.frozen
    assert not shop.get_wallet_freeze("alice").frozen
    shop.spend("alice", 4, idempotency_key="s")
    assert shop.balance("alice").posted == 6
    audit = list_audit(store, shop.id)
    assert [(a.action, a.target, a.detail["reason"]) for a in audit[:2]] == [
        ("wallet.unfrozen", "alice", "member verified by phone"),
        ("wallet.frozen", "alice", "suspicious downloads")]
    assert [e.type for e in shop.list_events().data][:2] == ["wallet.unfrozen", "wallet.frozen"]
    invariants(store)


def test_freezing_needs_a_reason_and_a_member(shop: jeton.Community) -> None:
    with pytest.raises(jeton.InvalidRequest):
        shop.freeze_wallet("alice", reason="  ", actor="owner")
    with pytest.raises(jeton.NotFound):
        shop.freeze_wallet("nobody", reason="spam", actor="owner")


# ---- velocity limits ----


def test_member_over_the_hourly_limit_is_declined_until_the_hour_ends(
        shop: jeton.Community, clock: ManualClock, store: Store, invariants: Check) -> None:
    shop.set_velocity_limit(per_hour=25, per_day=40)
    shop.grant("alice", 1000, idempotency_key="g")
    shop.charge("alice", "classifieds.ad", idempotency_key="ad-1")  # 10
    shop.charge("alice", "classifieds.ad", idempotency_key="ad-2")  # 20
    with pytest.raises(jeton.VelocityLimitExceeded) as over:
        shop.charge("alice", "classifieds.ad", idempotency_key="ad-3")
    err = over.value
    assert err.status is jeton.Status.velocity_limit_exceeded
    assert (err.extra["limit"], err.extra["used"], err.extra["required"],
            err.extra["period"]) == (25, 20, 10, "hour")
    assert err.extra["retry_after"] == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    with pytest.raises(jeton.VelocityLimitExceeded) as never:  # more than the limit itself
        shop.spend("alice", 26, idempotency_key="s-never")
    assert never.value.extra["retry_after"] is None  # no window would let it through
    assert never.value.detail == ("'alice' may spend 25 CREDIT per hour; 26 is more than the "
                                  "whole limit, so no hour lets it through")
    shop.spend("alice", 5, idempotency_key="s-fits")  # 25: exactly the limit
    invariants(store)

    clock.advance(timedelta(hours=1))  # a new hour: 15 left of the day's 40
    shop.charge("alice", "classifieds.ad", idempotency_key="ad-3")
    with pytest.raises(jeton.VelocityLimitExceeded) as daily:
        shop.charge("alice", "classifieds.ad", idempotency_key="ad-4")
    assert daily.value.extra["period"] == "day"
    assert daily.value.extra["retry_after"] == datetime(2026, 1, 16, tzinfo=UTC)
    assert shop.balance("alice").posted == 1000 - 35
    invariants(store)


def test_a_limit_on_one_service_leaves_the_others_free(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.set_velocity_limit(service="video.minute", per_hour=40)
    shop.grant("alice", 1000, idempotency_key="g")
    shop.charge("alice", "video.minute", 2, idempotency_key="v1")  # 40
    with pytest.raises(jeton.VelocityLimitExceeded) as over:
        shop.charge("alice", "video.minute", 1, idempotency_key="v2")
    assert over.value.extra["service"] == "video.minute"
    for n in range(5):
        shop.charge("alice", "classifieds.ad", idempotency_key=f"ad-{n}")
    assert shop.balance("alice").posted == 1000 - 40 - 50
    invariants(store)


def test_new_members_get_the_tighter_limit_for_their_first_days(
        shop: jeton.Community, clock: ManualClock, store: Store, invariants: Check) -> None:
    shop.set_spending_settings(new_member_days=7)
    shop.set_velocity_limit(per_day=100, new_member_per_day=15)
    shop.grant("alice", 500, idempotency_key="ga")  # alice joined today: new
    shop.charge("alice", "classifieds.ad", idempotency_key="a1")
    with pytest.raises(jeton.VelocityLimitExceeded) as new:
        shop.charge("alice", "classifieds.ad", idempotency_key="a2")
    assert new.value.extra["limit"] == 15
    clock.advance(timedelta(days=8))
    shop.create_member("erin")
    shop.grant("erin", 500, idempotency_key="ge")
    for n in range(5):  # alice is no longer new: 50 of her 100 a day
        shop.charge("alice", "classifieds.ad", idempotency_key=f"old-{n}")
    shop.charge("erin", "classifieds.ad", idempotency_key="e1")
    with pytest.raises(jeton.VelocityLimitExceeded):
        shop.charge("erin", "classifieds.ad", idempotency_key="e2")
    limits = shop.spending_limits()
    assert limits.new_member_days == 7
    assert limits.limits == [jeton.VelocityLimit(per_day=100, new_member_per_day=15)]
    invariants(store)


def test_removing_a_limit_and_refunds_do_not_count(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.set_velocity_limit(per_hour=10)
    shop.grant("alice", 100, idempotency_key="g")
    shop.spend("alice", 10, idempotency_key="s1")
    with pytest.raises(jeton.VelocityLimitExceeded):
        shop.spend("alice", 1, idempotency_key="s2")
    shop.set_velocity_limit()  # every figure None: no limit
    assert shop.spending_limits().limits == []
    shop.spend("alice", 30, idempotency_key="s3")
    assert shop.balance("alice").posted == 60
    invariants(store)


# ---- the owner's alert ----


def test_owner_is_alerted_once_a_day_when_a_member_keeps_tripping_a_limit(
        shop: jeton.Community, clock: ManualClock, store: Store, invariants: Check) -> None:
    shop.set_spending_settings(alert_after_trips=3)
    shop.set_velocity_limit(per_hour=5)
    shop.grant("alice", 100, idempotency_key="g")
    for n in range(5):
        with pytest.raises(jeton.VelocityLimitExceeded):
            shop.spend("alice", 6, idempotency_key=f"s{n}")
        assert len(_events(shop, "member.limit_tripped")) == (0 if n < 2 else 1)
    alert = _events(shop, "member.limit_tripped")[0]
    assert alert.member_id == "alice"
    assert alert.data["trips_today"] == 3
    assert alert.data["limit"] == 5
    clock.advance(timedelta(days=1))
    for n in range(3):
        with pytest.raises(jeton.VelocityLimitExceeded):
            shop.spend("alice", 6, idempotency_key=f"d2-{n}")
    assert len(_events(shop, "member.limit_tripped")) == 2
    invariants(store)


def test_a_members_hook_reads_are_made_once_and_name_their_member() -> None:
    # Every debit asks for the freeze's read and auto-recharge's at least twice: each is made
    # once per community, member and asset, and names the row it reads.
    from jeton.services.charging import protection
    from jeton.services.funding import recharge

    guard = protection.pre_read("shop", "alice", "CREDIT")[0]
    assert protection.pre_read("shop", "alice", "CREDIT")[0] is guard
    assert (guard.name, guard.params) == ("protection:alice:CREDIT",
                                          {"c": "shop", "m": "alice", "a": "CREDIT"})
    other = protection.pre_read("shop", "bob", "CREDIT")[0]
    assert other is not guard
    assert other.name == "protection:bob:CREDIT"
    settings = recharge.pre_read("shop", "alice", "CREDIT")[0]
    assert settings is recharge.pre_read("shop", "alice", "CREDIT")[0]
    assert settings.name == "auto_recharge:alice:CREDIT"
    assert settings.params["m"] == "alice"
    assert recharge.pre_read("club", "alice", "CREDIT")[0].params["c"] == "club"
