"""Staff sign-in and dashboard sessions.

Sign-in is a password, then a one-time code (TOTP) when the user enrolled one. Five failures in
a row (a wrong password or a wrong code) lock the account for 15 minutes (`core.limits`). A
session is a random token given to the browser once; the store keeps only its SHA-256 digest.
It ends 12 hours after sign-in, after an hour without use, or at sign-out. Business time
(expiry, lockout) comes from the `Clock` passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import limits
from jeton.core.clock import Clock, from_us, to_us
from jeton.core.errors import Conflict, InvalidRequest
from jeton.core.statuses import Status
from jeton.services.access.audit import record_audit
from jeton.services.access.staff import (
    Action,
    SessionStage,
    StaffSession,
    StaffUser,
    area_lease_column,
    load_user,
    matching_totp_step,
    normalize_email,
    password_matches,
    rehash_if_outdated,
    revoke_user_sessions,
    spend_hashing_time,
    user_from_row,
    user_row,
)
from jeton.services.ledger.jobs import job
from jeton.store.engine import Store
from jeton.store.tables.web import staff_sessions, staff_users

if TYPE_CHECKING:
    from jeton.app import Jeton

_S = 1_000_000  # microseconds per second


class SignInStatus(StrEnum):
    ok = "ok"
    totp_required = "totp_required"  # the password was right; ask for the code
    invalid = "invalid"  # unknown email, disabled user or wrong password: one answer for all
    totp_invalid = "totp_invalid"
    locked = "locked"


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str  # give this to the browser; it is stored nowhere
    session: StaffSession


@dataclass(frozen=True, slots=True)
class Authentication:
    status: SignInStatus
    user: StaffUser | None = None  # set for ok and totp_required
    locked_until: datetime | None = None  # set for locked


# ---- sign-in ----

def authenticate(store: Store, clock: Clock, community_id: str, email: str, password: str,
                 totp_code: str | None = None) -> Authentication:
    """Check a password (and the one-time code, when the user enrolled TOTP).

    Unknown email, disabled user and wrong password give the same `invalid` answer. A user with
    TOTP who gives no code gets `totp_required` (the password was right; not a failure).
    """
    try:
        email = normalize_email(email)
    except InvalidRequest:
        # Not an address: perhaps a password typed in the wrong box; the audit keeps none of it.
        email = ""
    now = clock.now()
    now_us = to_us(now)
    row = None
    if email:
        with store.read() as conn:
            row = conn.execute(sa.select(
                staff_users, area_lease_column(community_id, staff_users.c.user_id)).where(
                staff_users.c.community_id == community_id,
                staff_users.c.email == email)).mappings().first()

    if row is None or row["disabled"]:
        spend_hashing_time(password)
        user_id = row["user_id"] if row else None
        why = "disabled" if row else ("unknown email" if email else "not an email address")
        store.run_write(lambda conn: record_audit(
            conn, community_id, user_id, Action.sign_in_failed, target=email,
            detail={"why": why}))
        return Authentication(SignInStatus.invalid)
    user = user_from_row(row)
    locked = _locked_until(row, now_us)
    if locked is not None:
        store.run_write(lambda conn: record_audit(
            conn, community_id, user.user_id, Action.sign_in_refused_locked, target=email))
        return Authentication(SignInStatus.locked, locked_until=locked)
    if not password_matches(row["password_hash"], password):
        return _failed(store, clock, user, code=False)
    if row["totp_secret"] is None:
        return _succeeded(store, user, password=password, step=None)
    if not totp_code:
        return Authentication(SignInStatus.totp_required, user=user)
    return _check_code(store, clock, user, totp_code, password=password)


def complete_totp_sign_in(store: Store, clock: Clock, pending: StaffSession,
                          code: str) -> tuple[Authentication, NewSession | None]:
    """The second step: a session that passed the password gives the one-time code.

    On success the pending session ends and a full one (a new token) begins.
    """
    if pending.stage is not SessionStage.totp:
        raise Conflict("this session is not waiting for a one-time code", status=Status.conflict)
    with store.read() as conn:
        row = user_row(conn, pending.community_id, pending.user.user_id)
    user = user_from_row(row)
    locked = _locked_until(row, to_us(clock.now()))
    if locked is not None:
        _end(store, pending)
        return Authentication(SignInStatus.locked, locked_until=locked), None
    result = _check_code(store, clock, user, code, password=None)
    if result.status is SignInStatus.ok:
        _end(store, pending)
        return result, open_session(store, clock, user)
    if result.status is SignInStatus.locked:
        _end(store, pending)
    return result, None


def _check_code(store: Store, clock: Clock, user: StaffUser, code: str,
                password: str | None) -> Authentication:
    now = clock.now()
    with store.read() as conn:
        row = user_row(conn, user.community_id, user.user_id)
    secret = row["totp_secret"]
    step = matching_totp_step(secret, code, now) if secret else None
    last = row["totp_last_step"]
    if step is None or (last is not None and step <= last):
        return _failed(store, clock, user, code=True)
    return _succeeded(store, user, password=password, step=step)


def _failed(store: Store, clock: Clock, user: StaffUser, *, code: bool) -> Authentication:
    what = "one-time code" if code else "password"
    now_us = to_us(clock.now())

    def write(conn: Connection) -> Authentication:
        row = user_row(conn, user.community_id, user.user_id, lock=True)
        failures = row["failed_logins"] + 1
        values: dict[str, Any] = {"failed_logins": failures}
        locked_until_us = None
        if failures >= limits.staff_sign_in_failures_max:
            # Start counting afresh once the lock is over.
            locked_until_us = now_us + limits.staff_lockout_s * _S
            values = {"failed_logins": 0, "locked_until_at_us": locked_until_us}
        conn.execute(staff_users.update().where(
            staff_users.c.community_id == user.community_id,
            staff_users.c.user_id == user.user_id).values(**values))
        record_audit(conn, user.community_id, user.user_id, Action.sign_in_failed,
                     target=user.email, detail={"why": f"wrong {what}", "failures": failures})
        if locked_until_us is not None:
            revoke_user_sessions(conn, user.community_id, user.user_id, stage=SessionStage.totp)
            record_audit(conn, user.community_id, user.user_id, Action.locked_out,
                         target=user.email,
                         detail={"locked_until": from_us(locked_until_us).isoformat()})
            return Authentication(SignInStatus.locked, locked_until=from_us(locked_until_us))
        return Authentication(SignInStatus.totp_invalid if code else SignInStatus.invalid)

    return store.run_write(write)


def _succeeded(store: Store, user: StaffUser, *, password: str | None,
               step: int | None) -> Authentication:
    def write(conn: Connection) -> StaffUser | None:
        row = user_row(conn, user.community_id, user.user_id, lock=True)
        last = row["totp_last_step"]
        if step is not None and last is not None and step <= last:
            return None  # a concurrent sign-in used this very code a moment ago
        values: dict[str, Any] = {"failed_logins": 0, "locked_until_at_us": None}
        if step is not None:
            values["totp_last_step"] = step
        rehashed = rehash_if_outdated(row["password_hash"], password) if password else None
        if rehashed is not None:
            values["password_hash"] = rehashed
        conn.execute(staff_users.update().where(
            staff_users.c.community_id == user.community_id,
            staff_users.c.user_id == user.user_id).values(**values))
        record_audit(conn, user.community_id, user.user_id, Action.signed_in, target=user.email,
                     detail={"totp": step is not None})
        return load_user(conn, user.community_id, user.user_id)

    fresh = store.run_write(write)
    if fresh is None:
        return Authentication(SignInStatus.totp_invalid)
    return Authentication(SignInStatus.ok, user=fresh)


def _locked_until(row: RowMapping, now_us: int) -> datetime | None:
    until = row["locked_until_at_us"]
    return from_us(until) if until is not None and until > now_us else None


# ---- sessions ----

def open_session(store: Store, clock: Clock, user: StaffUser,
                 stage: SessionStage = SessionStage.full) -> NewSession:
    """A new session for a user who just proved who they are. Only the token's digest is kept."""
    now_us = to_us(clock.now())
    lifetime_s = (limits.staff_session_lifetime_s if stage is SessionStage.full
                  else limits.staff_totp_pending_s)
    token = _make_token(user.community_id)
    row = {
        "community_id": user.community_id,
        "session_id": _digest(token),
        "user_id": user.user_id,
        "stage": stage.value,
        "csrf_token": secrets.token_urlsafe(32),
        "created_at_us": now_us,
        "expires_at_us": now_us + lifetime_s * _S,
        "last_seen_at_us": now_us,
        "revoked": False,
    }
    store.run_write(lambda conn: conn.execute(staff_sessions.insert().values(**row)))
    return NewSession(token=token, session=_session_from(row, user))


def resolve_session(store: Store, clock: Clock, token: str,
                    stage: SessionStage | None = SessionStage.full) -> StaffSession | None:
    """The live session `token` stands for, or None (unknown, ended, expired, idle too long).

    Only a session at `stage` is returned; `stage=None` accepts either stage.
    """
    community_id = _token_community(token)
    if community_id is None:
        return None
    session_id = _digest(token)
    now_us = to_us(clock.now())
    s = staff_sessions.c
    with store.read() as conn:
        srow = conn.execute(sa.select(staff_sessions).where(
            s.community_id == community_id, s.session_id == session_id)).mappings().first()
        if srow is None:
            return None
        urow = user_row(conn, community_id, srow["user_id"])
    if (srow["revoked"] or (stage is not None and srow["stage"] != stage.value) or urow["disabled"]
            or now_us >= srow["expires_at_us"]
            or now_us - srow["last_seen_at_us"] >= limits.staff_session_idle_s * _S):
        return None
    row = dict(srow)
    if now_us - srow["last_seen_at_us"] >= limits.staff_session_touch_s * _S:
        store.run_write(lambda conn: conn.execute(staff_sessions.update().where(
            s.community_id == community_id, s.session_id == session_id,
        ).values(last_seen_at_us=now_us)))
        row["last_seen_at_us"] = now_us
    return _session_from(row, user_from_row(urow))


def end_session(store: Store, clock: Clock, session: StaffSession) -> None:
    """Sign out: the token stops working at once."""
    def write(conn: Connection) -> None:
        _revoke(conn, session)
        if session.stage is SessionStage.full:
            record_audit(conn, session.community_id, session.user.user_id, Action.signed_out,
                         target=session.user.email)

    store.run_write(write)


def purge_sessions(store: Store, clock: Clock, community_id: str) -> int:
    """Delete sessions past their absolute expiry (revoked or not). For a periodic job."""
    now_us = to_us(clock.now())
    s = staff_sessions.c

    def write(conn: Connection) -> int:
        result = conn.execute(staff_sessions.delete().where(
            s.community_id == community_id, s.expires_at_us <= now_us))
        return int(result.rowcount)

    return store.run_write(write)


@job("staff_sessions.purge", 3600, real_time=True)
def _purge_sessions_job(j: Jeton, community_id: str) -> int:
    return purge_sessions(j.store, j.clock, community_id)


def _end(store: Store, session: StaffSession) -> None:
    store.run_write(lambda conn: _revoke(conn, session))


def _revoke(conn: Connection, session: StaffSession) -> None:
    conn.execute(staff_sessions.update().where(
        staff_sessions.c.community_id == session.community_id,
        staff_sessions.c.session_id == session.session_id).values(revoked=True))


def _make_token(community_id: str) -> str:
    # The community rides in the token so a session is found by its primary key.
    prefix = base64.urlsafe_b64encode(community_id.encode()).decode().rstrip("=")
    return f"{prefix}.{secrets.token_urlsafe(32)}"


def _token_community(token: str) -> str | None:
    if len(token) > 200 or token.count(".") != 1:
        return None
    prefix = token.split(".", 1)[0]
    try:
        return base64.urlsafe_b64decode(prefix + "=" * (-len(prefix) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session_from(row: Mapping[str, Any], user: StaffUser) -> StaffSession:
    return StaffSession(
        community_id=row["community_id"], session_id=row["session_id"], user=user,
        stage=SessionStage(row["stage"]), csrf_token=row["csrf_token"],
        created_at=from_us(row["created_at_us"]), expires_at=from_us(row["expires_at_us"]),
        last_seen_at=from_us(row["last_seen_at_us"]))


