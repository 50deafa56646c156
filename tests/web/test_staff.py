"""Staff accounts, sign-in, sessions and roles, at the service level (no HTTP)."""

from __future__ import annotations

import json
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

import jeton
from jeton.core import limits
from jeton.core.clock import ManualClock
from jeton.core.errors import Conflict, Declined, InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.services.access.audit import list_audit
from jeton.services.access.sessions import (
    SignInStatus,
    authenticate,
    complete_totp_sign_in,
    end_session,
    open_session,
    purge_sessions,
    resolve_session,
)
from jeton.services.access.staff import (
    Action,
    Permission,
    SessionStage,
    StaffRole,
    StaffSession,
    StaffUser,
    bootstrap_owner,
    confirm_totp,
    create_staff_user,
    get_staff_user,
    require,
    reset_totp,
    set_disabled,
    set_role,
    start_totp_enrollment,
)
from jeton.services.ops import worker
from jeton.store.engine import Store
from jeton.store.tables.web import staff_audit, staff_sessions, staff_users

from .conftest import Staff

# The fixture `staff` (conftest.py) makes these.
COMMUNITY = "chat"
OWNER_EMAIL = "owner@example.org"
PASSWORD = "correct horse battery"


def sign_in(store: Store, clock: ManualClock, user: StaffUser) -> StaffSession:
    return open_session(store, clock, user).session


def enroll_totp(store: Store, clock: ManualClock, user: StaffUser) -> pyotp.TOTP:
    session = sign_in(store, clock, user)
    enrollment = start_totp_enrollment(store, clock, session)
    totp = pyotp.TOTP(enrollment.secret)
    assert confirm_totp(store, clock, session, totp.at(clock.now()))
    return totp


def all_text(store: Store, table: sa.Table) -> str:
    with store.read() as conn:
        return json.dumps([list(row) for row in conn.execute(sa.select(table))], default=str)


# ---- passwords ----

def test_password_is_stored_only_as_an_argon2_hash(store: Store, staff: Staff) -> None:
    with store.read() as conn:
        hashes = conn.execute(sa.select(staff_users.c.password_hash)).scalars().all()
    assert len(hashes) == 3
    assert all(h.startswith("$argon2id$") for h in hashes)
    for table in (staff_users, staff_audit, staff_sessions):
        assert PASSWORD not in all_text(store, table)


def test_short_password_is_refused_and_nothing_is_written(store: Store, clock: ManualClock,
                                                          staff: Staff) -> None:
    owner = staff.owner
    short = "x" * (limits.staff_password_chars_min - 1)
    with pytest.raises(InvalidRequest) as caught:
        create_staff_user(store, clock, owner, email="new@example.org", password=short,
                          role=StaffRole.support)
    assert caught.value.extra["field"] == "password"
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(staff_users)).scalar() == 3


def test_email_is_unique_per_community_whatever_its_case(store: Store, clock: ManualClock,
                                                        staff: Staff) -> None:
    owner = staff.owner
    with pytest.raises(Conflict):
        create_staff_user(store, clock, owner, email="  OWNER@Example.org", password=PASSWORD,
                          role=StaffRole.support)


# ---- bootstrap ----

def test_bootstrap_owner_creates_the_first_owner_only(store: Store, clock: ManualClock,
                                                      staff: Staff) -> None:
    owner = staff.owner
    assert owner.role is StaffRole.owner
    assert owner.email == OWNER_EMAIL
    with pytest.raises(Conflict):
        bootstrap_owner(store, clock, COMMUNITY, "second@example.org", PASSWORD)


def test_bootstrap_owner_needs_an_existing_community(store: Store, clock: ManualClock) -> None:
    with pytest.raises(NotFound) as caught:
        bootstrap_owner(store, clock, "nowhere", OWNER_EMAIL, PASSWORD)
    assert caught.value.status is Status.community_not_found


# ---- sign-in and lockout ----

def test_right_password_signs_in(store: Store, clock: ManualClock, staff: Staff) -> None:
    owner = staff.owner
    result = authenticate(store, clock, COMMUNITY, "Owner@Example.org ", PASSWORD)
    assert result.status is SignInStatus.ok
    assert result.user is not None
    assert result.user.user_id == owner.user_id


def test_unknown_email_and_wrong_password_get_the_same_answer(store: Store, clock: ManualClock,
                                                             staff: Staff) -> None:
    unknown = authenticate(store, clock, COMMUNITY, "nobody@example.org", PASSWORD)
    wrong = authenticate(store, clock, COMMUNITY, OWNER_EMAIL, "not the password")
    assert unknown == wrong
    assert unknown.status is SignInStatus.invalid
    assert unknown.user is None


def test_account_locks_after_five_failures_for_fifteen_minutes(store: Store, clock: ManualClock,
                                                               staff: Staff) -> None:
    for _ in range(limits.staff_sign_in_failures_max - 1):
        assert authenticate(store, clock, COMMUNITY, OWNER_EMAIL, "guess 123456").status \
            is SignInStatus.invalid
    fifth = authenticate(store, clock, COMMUNITY, OWNER_EMAIL, "guess 123456")
    assert fifth.status is SignInStatus.locked
    assert fifth.locked_until == clock.now() + timedelta(seconds=limits.staff_lockout_s)

    # While locked, even the right password is refused.
    clock.advance(minutes=14, seconds=59)
    assert authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD).status \
        is SignInStatus.locked

    clock.advance(seconds=1)
    assert authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD).status is SignInStatus.ok


def test_a_success_starts_the_failure_count_again(store: Store, clock: ManualClock,
                                                  staff: Staff) -> None:
    for _ in range(limits.staff_sign_in_failures_max - 1):
        authenticate(store, clock, COMMUNITY, OWNER_EMAIL, "guess 123456")
    assert authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD).status is SignInStatus.ok
    for _ in range(limits.staff_sign_in_failures_max - 1):
        assert authenticate(store, clock, COMMUNITY, OWNER_EMAIL, "guess 123456").status \
            is SignInStatus.invalid


def test_disabled_user_cannot_sign_in(store: Store, clock: ManualClock, staff: Staff) -> None:
    set_disabled(store, clock, staff.owner, staff.support.user_id, True)
    result = authenticate(store, clock, COMMUNITY, staff.support.email, PASSWORD)
    assert result.status is SignInStatus.invalid


# ---- TOTP ----

def test_totp_is_required_once_enrolled(store: Store, clock: ManualClock,
                                        staff: Staff) -> None:
    owner = staff.owner
    totp = enroll_totp(store, clock, owner)
    clock.advance(seconds=30)

    no_code = authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD)
    assert no_code.status is SignInStatus.totp_required
    wrong = authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD, totp_code="000000")
    assert wrong.status is SignInStatus.totp_invalid
    right = authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD,
                         totp_code=totp.at(clock.now()))
    assert right.status is SignInStatus.ok


def test_a_totp_code_works_only_once(store: Store, clock: ManualClock, staff: Staff) -> None:
    owner = staff.owner
    totp = enroll_totp(store, clock, owner)
    clock.advance(seconds=30)
    code = totp.at(clock.now())
    assert authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD, code).status \
        is SignInStatus.ok
    assert authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD, code).status \
        is SignInStatus.totp_invalid


def test_totp_is_off_until_the_enrollment_is_confirmed(store: Store, clock: ManualClock,
                                                       staff: Staff) -> None:
    owner = staff.owner
    session = sign_in(store, clock, owner)
    totp = pyotp.TOTP(start_totp_enrollment(store, clock, session).secret)
    near = {totp.at(clock.now() + timedelta(seconds=s)) for s in (-30, 0, 30)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in near)

    assert not confirm_totp(store, clock, session, wrong)
    assert not get_staff_user(store, COMMUNITY, owner.user_id).totp_enabled
    assert authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD).status \
        is SignInStatus.ok


def test_wrong_codes_count_towards_the_lockout(store: Store, clock: ManualClock,
                                               staff: Staff) -> None:
    owner = staff.owner
    enroll_totp(store, clock, owner)
    pending = open_session(store, clock, owner, stage=SessionStage.totp).session
    for _ in range(limits.staff_sign_in_failures_max - 1):
        result, new = complete_totp_sign_in(store, clock, pending, "000000")
        assert result.status is SignInStatus.totp_invalid
        assert new is None
    result, new = complete_totp_sign_in(store, clock, pending, "000000")
    assert result.status is SignInStatus.locked
    assert new is None
    assert authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD).status \
        is SignInStatus.locked


def test_second_step_swaps_the_pending_session_for_a_full_one(store: Store, clock: ManualClock,
                                                              staff: Staff) -> None:
    owner = staff.owner
    totp = enroll_totp(store, clock, owner)
    clock.advance(seconds=30)
    pending = open_session(store, clock, owner, stage=SessionStage.totp)
    # A pending session opens nothing: it is not a signed-in session.
    assert resolve_session(store, clock, pending.token) is None

    result, new = complete_totp_sign_in(store, clock, pending.session, totp.at(clock.now()))
    assert result.status is SignInStatus.ok
    assert new is not None
    assert new.token != pending.token
    assert resolve_session(store, clock, pending.token, stage=None) is None
    assert resolve_session(store, clock, new.token) is not None


def test_an_owner_resets_a_lost_totp(store: Store, clock: ManualClock, staff: Staff) -> None:
    enroll_totp(store, clock, staff.support)
    user = reset_totp(store, clock, staff.owner, staff.support.user_id)
    assert not user.totp_enabled
    assert authenticate(store, clock, COMMUNITY, staff.support.email, PASSWORD).status \
        is SignInStatus.ok


# ---- sessions ----

def test_session_token_is_stored_only_as_its_digest(store: Store, clock: ManualClock,
                                                    staff: Staff) -> None:
    owner = staff.owner
    new = open_session(store, clock, owner)
    assert new.token not in all_text(store, staff_sessions)
    assert new.token.split(".")[1] not in all_text(store, staff_sessions)


def test_session_ends_after_an_idle_hour(store: Store, clock: ManualClock,
                                         staff: Staff) -> None:
    owner = staff.owner
    token = open_session(store, clock, owner).token
    clock.advance(minutes=59)
    assert resolve_session(store, clock, token) is not None  # seen: the idle clock restarts
    clock.advance(minutes=59)
    assert resolve_session(store, clock, token) is not None
    clock.advance(seconds=limits.staff_session_idle_s)
    assert resolve_session(store, clock, token) is None


def test_session_ends_after_twelve_hours_however_busy(store: Store, clock: ManualClock,
                                                      staff: Staff) -> None:
    owner = staff.owner
    token = open_session(store, clock, owner).token
    for _ in range(limits.staff_session_lifetime_s // 1800 - 1):
        clock.advance(minutes=30)
        assert resolve_session(store, clock, token) is not None
    clock.advance(minutes=30)
    assert resolve_session(store, clock, token) is None


def test_sign_out_ends_the_session_at_once(store: Store, clock: ManualClock,
                                           staff: Staff) -> None:
    owner = staff.owner
    new = open_session(store, clock, owner)
    end_session(store, clock, new.session)
    assert resolve_session(store, clock, new.token) is None


def test_forged_or_damaged_tokens_find_nothing(store: Store, clock: ManualClock,
                                               staff: Staff) -> None:
    owner = staff.owner
    token = open_session(store, clock, owner).token
    prefix, secret = token.split(".")
    for bad in ("", "nonsense", f"{prefix}.{secret[:-1]}x", f"{prefix}x.{secret}", "!!.!!",
                token + ".", "a" * 5000):
        assert resolve_session(store, clock, bad) is None


def test_disabling_a_user_ends_their_sessions(store: Store, clock: ManualClock,
                                              staff: Staff) -> None:
    token = open_session(store, clock, staff.moderator).token
    set_disabled(store, clock, staff.owner, staff.moderator.user_id, True)
    assert resolve_session(store, clock, token) is None


def test_role_changes_apply_to_open_sessions(store: Store, clock: ManualClock,
                                             staff: Staff) -> None:
    token = open_session(store, clock, staff.support).token
    set_role(store, clock, staff.owner, staff.support.user_id, StaffRole.moderator)
    session = resolve_session(store, clock, token)
    assert session is not None
    assert session.role is StaffRole.moderator


def test_purge_deletes_sessions_past_their_expiry(store: Store, clock: ManualClock,
                                                  staff: Staff) -> None:
    owner = staff.owner
    open_session(store, clock, owner)
    clock.advance(seconds=limits.staff_session_lifetime_s)
    live = open_session(store, clock, owner).token
    assert purge_sessions(store, clock, COMMUNITY) == 1
    assert resolve_session(store, clock, live) is not None
    clock.advance(seconds=limits.staff_session_lifetime_s)
    # the worker runs it: `staff_sessions.purge` is a registered job
    done = worker.run_due(jeton.Jeton(store, clock=clock), force=True,
                        only={"staff_sessions.purge"})
    assert done == {"staff_sessions.purge": 1}


# ---- roles ----

def test_support_reads_only(store: Store, clock: ManualClock, staff: Staff) -> None:
    support = sign_in(store, clock, staff.support)
    assert support.can(Permission.view)
    for permission in (Permission.post_credits, Permission.configure, Permission.manage_staff):
        assert not support.can(permission)
        with pytest.raises(Declined) as caught:
            require(support, permission)
        assert caught.value.status is Status.forbidden
    with pytest.raises(Declined):
        create_staff_user(store, clock, support, email="x@example.org", password=PASSWORD,
                          role=StaffRole.owner)
    with pytest.raises(Declined):
        set_role(store, clock, support, staff.support.user_id, StaffRole.owner)
    assert get_staff_user(store, COMMUNITY, staff.support.user_id).role is StaffRole.support


def test_moderator_posts_credits_but_configures_nothing(store: Store, clock: ManualClock,
                                                        staff: Staff) -> None:
    moderator = sign_in(store, clock, staff.moderator)
    assert moderator.role is StaffRole.moderator
    require(moderator, Permission.post_credits)
    assert not moderator.can(Permission.configure)
    assert not moderator.can(Permission.manage_staff)


def test_owner_may_do_everything(store: Store, clock: ManualClock, staff: Staff) -> None:
    owner = staff.owner
    session = sign_in(store, clock, owner)
    assert all(session.can(permission) for permission in Permission)


def test_a_community_keeps_one_owner(store: Store, clock: ManualClock, staff: Staff) -> None:
    with pytest.raises(Conflict):
        set_role(store, clock, staff.owner, staff.owner.user_id, StaffRole.support)
    with pytest.raises(Conflict):
        set_disabled(store, clock, staff.owner, staff.owner.user_id, True)
    set_role(store, clock, staff.owner, staff.moderator.user_id, StaffRole.owner)
    demoted = set_role(store, clock, staff.owner, staff.owner.user_id, StaffRole.support)
    assert demoted.role is StaffRole.support


# ---- audit ----

def test_every_staff_action_is_audited(store: Store, clock: ManualClock, staff: Staff) -> None:
    authenticate(store, clock, COMMUNITY, staff.support.email, "guess 123456")
    result = authenticate(store, clock, COMMUNITY, OWNER_EMAIL, PASSWORD)
    assert result.user is not None
    session = open_session(store, clock, result.user).session
    set_role(store, clock, session, staff.support.user_id, StaffRole.moderator)
    set_disabled(store, clock, session, staff.support.user_id, True)
    end_session(store, clock, session)

    entries = list_audit(store, COMMUNITY)
    assert [e.action for e in reversed(entries)] == [
        Action.owner_bootstrapped, Action.user_created, Action.user_created,
        Action.sign_in_failed, Action.signed_in, Action.role_changed, Action.user_disabled,
        Action.signed_out,
    ]
    role_change = next(e for e in entries if e.action == Action.role_changed)
    assert role_change.user_email == OWNER_EMAIL
    assert role_change.detail == {"user_id": staff.support.user_id, "from": "support",
                                  "to": "moderator"}
