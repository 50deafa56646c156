"""Access rules: who sees a service, who may use it, and what would let them in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jeton.core.access import (
    OPEN,
    AccessLevel,
    AccessRule,
    Fix,
    FixKind,
    Grant,
    Holdings,
    NeedKind,
    Reason,
    ReasonKind,
    Requirement,
    evaluate,
    live_classes,
)
from jeton.core.errors import InvalidRequest

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
VIP = Requirement(NeedKind.member_class, "vip")
PAYMENT = Requirement(NeedKind.payment)
COLLECTORS = Requirement(NeedKind.key, "collectors")

PRIVATE_ROOM = AccessRule(AccessLevel.locked, (VIP, PAYMENT))
VIP_LOUNGE = AccessRule(AccessLevel.locked, (VIP,))
BADGE = AccessRule(AccessLevel.hidden, (COLLECTORS,))
NOBODY = Holdings()


def test_open_service_is_usable_by_any_member_at_its_price() -> None:
    access = evaluate(OPEN, NOBODY, NOW)
    assert (access.visible, access.allowed, access.pay) == (True, True, True)


def test_vip_enters_the_private_room_without_paying() -> None:
    access = evaluate(PRIVATE_ROOM, Holdings(classes=(Grant("vip"),)), NOW)
    assert access.allowed
    assert not access.pay
    assert access.via == VIP


def test_member_without_vip_pays_for_the_private_room() -> None:
    access = evaluate(PRIVATE_ROOM, NOBODY, NOW)
    assert access.allowed
    assert access.pay
    assert access.via == PAYMENT


def test_a_class_that_only_opens_the_door_still_pays_the_price() -> None:
    access = evaluate(VIP_LOUNGE, Holdings(classes=(Grant("vip"),)), NOW)
    assert access.allowed
    assert access.pay


def test_locked_service_is_seen_but_not_touched_and_says_how_to_get_in() -> None:
    access = evaluate(VIP_LOUNGE, Holdings(classes=(Grant("buyer"),)), NOW)
    assert access.visible
    assert not access.allowed
    assert access.reasons == (Reason(ReasonKind.no_class, "vip"),)
    assert access.fixes == (Fix(FixKind.get_class, "vip"),)


def test_expired_class_stops_counting_at_the_instant_it_expires() -> None:
    member = Holdings(classes=(Grant("vip", expires_at=NOW),))
    assert evaluate(VIP_LOUNGE, member, NOW - timedelta(microseconds=1)).allowed
    access = evaluate(VIP_LOUNGE, member, NOW)
    assert not access.allowed
    assert access.reasons == (Reason(ReasonKind.class_expired, "vip", expired_at=NOW),)
    assert live_classes(member, NOW) == frozenset()


def test_a_renewed_class_counts_while_an_older_grant_has_expired() -> None:
    member = Holdings(classes=(Grant("vip", NOW - timedelta(days=30)),
                               Grant("vip", NOW + timedelta(days=30))))
    assert evaluate(VIP_LOUNGE, member, NOW).allowed


def test_hidden_service_does_not_exist_for_a_member_without_the_key() -> None:
    access = evaluate(BADGE, Holdings(keys=(Grant("other"),)), NOW)
    assert not access.visible
    assert not access.allowed
    assert access.reasons == ()  # a hidden service's requirements are not disclosed
    assert access.fixes == ()


def test_hidden_service_appears_with_the_key_until_the_key_expires() -> None:
    member = Holdings(keys=(Grant("collectors", NOW + timedelta(hours=1)),))
    assert evaluate(BADGE, member, NOW).visible
    assert evaluate(BADGE, member, NOW).allowed
    assert not evaluate(BADGE, member, NOW + timedelta(hours=1)).visible


def test_non_member_sees_the_service_and_is_asked_to_join() -> None:
    access = evaluate(PRIVATE_ROOM, None, NOW)
    assert access.visible
    assert not access.allowed
    assert access.reasons == (Reason(ReasonKind.not_a_member),)
    assert access.fixes == (Fix(FixKind.become_member), Fix(FixKind.get_class, "vip"),
                            Fix(FixKind.pay))
    assert evaluate(OPEN, None, NOW).fixes == (Fix(FixKind.become_member), Fix(FixKind.pay))


def test_non_member_does_not_see_hidden_services() -> None:
    assert not evaluate(BADGE, None, NOW).visible


def test_requirements_read_and_print_the_same() -> None:
    for text in ("class:vip", "key:collectors", "payment"):
        assert str(Requirement.parse(text)) == text


@pytest.mark.parametrize("make", [
    lambda: AccessRule(AccessLevel.open, (VIP,)),
    lambda: AccessRule(AccessLevel.locked, ()),
    lambda: AccessRule(AccessLevel.hidden, (PAYMENT,)),
    lambda: AccessRule(AccessLevel.locked, (VIP, VIP)),
    lambda: AccessRule("locked", (VIP,)),  # type: ignore[arg-type]
    lambda: Requirement(NeedKind.payment, "x"),
    lambda: Requirement(NeedKind.key, None),
    lambda: Requirement.parse("role:vip"),
    lambda: Grant("vip", datetime(2027, 1, 1)),  # naive on purpose
])
def test_rules_that_make_no_sense_are_refused(make: object) -> None:
    with pytest.raises(InvalidRequest):
        make()  # type: ignore[operator]


def test_evaluation_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(OPEN, NOBODY, datetime(2026, 11, 21))  # naive on purpose
