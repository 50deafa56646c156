"""Staff users of the dashboard: who they are, what their role lets them do, and TOTP.

Roles (DESIGN.md §1):
- owner: everything, including managing staff;
- moderator: reads, and posts credits to members within the role's limit (the limit itself is
  enforced by the funding services; they read `StaffUser.role`);
- support: reads only;
- operator (decision 0071): the dashboard account of a member who runs a leased area of the
  catalog. It is stored as a `support` account bound to the lease (`leases.staff_user_id`), so
  databases made before leases need no change to their roles; while bound, the account may
  only `operate_area`, its own area, whatever the stored role says, and the lease ending
  leaves it that and nothing more.

A use case that acts for a staff user calls `require(actor, Permission.x)` first and writes an
audit record (`services.staff_audit.record_audit`) in its own transaction. Sign-in and sessions
are in `services.staff_sessions`.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import limits
from jeton.core.clock import Clock, from_us, to_us
from jeton.core.errors import Conflict, Declined, InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.access.audit import record_audit
from jeton.store.dialect import for_update, is_unique_violation
from jeton.store.engine import Store
from jeton.store.tables.leases import leases
from jeton.store.tables.ledger import communities
from jeton.store.tables.web import staff_sessions, staff_users

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
EMAIL_CHARS_MAX = 254
_hasher = PasswordHasher()


class StaffRole(StrEnum):
    owner = "owner"
    moderator = "moderator"
    support = "support"
    operator = "operator"  # never stored: a support account bound to a lease (see above)


# The roles an owner gives on the staff page; an operator is made by binding a lease.
STORED_ROLES = (StaffRole.owner, StaffRole.moderator, StaffRole.support)


class Permission(StrEnum):
    """What a page or a use case needs. Roles are sets of these (`ROLE_PERMISSIONS`)."""

    view = "view"  # read members, reports, the audit
    post_credits = "post_credits"  # grant or charge credits by hand, within the role's limit
    configure = "configure"  # catalog, packs, plans, coupons, webhooks, API keys
    manage_staff = "manage_staff"  # create staff users, set roles, disable, reset TOTP
    operate_area = "operate_area"  # an operator: the report and prices of their leased area


ROLE_PERMISSIONS: Mapping[StaffRole, frozenset[Permission]] = {
    StaffRole.owner: frozenset(Permission),
    StaffRole.moderator: frozenset({Permission.view, Permission.post_credits}),
    StaffRole.support: frozenset({Permission.view}),
    StaffRole.operator: frozenset({Permission.operate_area}),
}


class Action(StrEnum):
    """Audit actions of this module. Other services record their own action names."""

    owner_bootstrapped = "staff.owner_bootstrapped"
    user_created = "staff.user_created"
    role_changed = "staff.role_changed"
    user_disabled = "staff.user_disabled"
    user_enabled = "staff.user_enabled"
    signed_in = "staff.signed_in"
    sign_in_failed = "staff.sign_in_failed"
    locked_out = "staff.locked_out"  # this failure locked the account
    sign_in_refused_locked = "staff.sign_in_refused_locked"
    signed_out = "staff.signed_out"
    totp_enrollment_started = "staff.totp_enrollment_started"
    totp_enabled = "staff.totp_enabled"
    totp_reset = "staff.totp_reset"
    password_reset = "staff.password_reset"  # noqa: S105 (an audit action; by the operator)


class SessionStage(StrEnum):
    totp = "totp"  # the password was right; the one-time code is still to come
    full = "full"


@dataclass(frozen=True, slots=True)
class StaffUser:
    community_id: str
    user_id: str
    email: str
    name: str
    role: StaffRole
    totp_enabled: bool
    totp_enrollment_pending: bool
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    area_lease_id: str | None = None  # an operator's lease (its running one, else the latest)

    def can(self, permission: Permission) -> bool:
        return not self.disabled and permission in ROLE_PERMISSIONS[self.role]


@dataclass(frozen=True, slots=True)
class StaffSession:
    community_id: str
    session_id: str  # hex SHA-256 of the token
    user: StaffUser
    stage: SessionStage
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime

    @property
    def role(self) -> StaffRole:
        return self.user.role

    def can(self, permission: Permission) -> bool:
        return self.stage is SessionStage.full and self.user.can(permission)


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    secret: str  # base32, what a person types into an authenticator app
    uri: str  # otpauth:// URI, what a QR code would carry


# ---- roles ----

def require(actor: StaffUser | StaffSession, permission: Permission) -> None:
    """Raise `Declined` (status `forbidden`) unless `actor` has `permission`."""
    if not actor.can(permission):
        user = actor.user if isinstance(actor, StaffSession) else actor
        raise Declined(f"the {user.role.value} role may not {permission.value.replace('_', ' ')}",
                       status=Status.forbidden, permission=permission.value)


# ---- passwords and email ----

def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > EMAIL_CHARS_MAX or not _EMAIL.match(email):
        raise InvalidRequest(f"not an email address: {value[:EMAIL_CHARS_MAX]!r}",
                             status=Status.value_invalid, field="email")
    return email


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing (and too long to hash cheaply)."""
    if len(password) < limits.staff_password_chars_min:
        raise InvalidRequest(
            f"a password needs at least {limits.staff_password_chars_min} characters",
            status=Status.value_invalid, field="password")
    if len(password) > limits.staff_password_chars_max:
        raise InvalidRequest(
            f"a password may have at most {limits.staff_password_chars_max} characters",
            status=Status.value_invalid, field="password")


def hash_password(password: str) -> str:
    check_password(password)
    return str(_hasher.hash(password))


def password_matches(password_hash: str, password: str) -> bool:
    if len(password) > limits.staff_password_chars_max:
        return False
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def rehash_if_outdated(password_hash: str, password: str) -> str | None:
    """A new hash when `password_hash` was made with weaker parameters than today's."""
    if _hasher.check_needs_rehash(password_hash):
        return str(_hasher.hash(password))
    return None


@cache
def _dummy_hash() -> str:
    return str(_hasher.hash(secrets.token_hex(16)))


def spend_hashing_time(password: str) -> None:
    """Verify against a throwaway hash so an unknown email answers as slowly as a known one."""
    password_matches(_dummy_hash(), password)


# ---- users ----

def bootstrap_owner(store: Store, clock: Clock, community_id: str, email: str,
                    password: str) -> StaffUser:
    """Create the first owner of a community (called by the CLI). Refused once staff exist."""
    email = normalize_email(email)
    password_hash = hash_password(password)
    now_us = to_us(clock.now())

    def write(conn: Connection) -> StaffUser:
        found = conn.execute(sa.select(communities.c.community_id).where(
            communities.c.community_id == community_id)).first()
        if found is None:
            raise NotFound(f"community {community_id!r} does not exist",
                           status=Status.community_not_found)
        existing = conn.execute(sa.select(sa.func.count()).select_from(staff_users).where(
            staff_users.c.community_id == community_id)).scalar_one()
        if existing:
            raise Conflict(f"community {community_id!r} already has staff users; an owner "
                           "creates more from the dashboard", status=Status.already_exists)
        user_id = _insert_user(conn, community_id, email, "", StaffRole.owner, password_hash,
                               now_us)
        record_audit(conn, community_id, None, Action.owner_bootstrapped, target=email,
                     detail={"user_id": user_id})
        return load_user(conn, community_id, user_id)

    return store.run_write(write)


def reset_password(store: Store, clock: Clock, community_id: str, email: str,
                   password: str) -> StaffUser:
    """Set a staff user's password from the command line (the operator, who holds the
    database, is trusted): lifts a lock-out and ends the user's sessions. Two-step sign-in,
    when the user has it, stays on."""
    email = normalize_email(email)
    password_hash = hash_password(password)

    def write(conn: Connection) -> StaffUser:
        u = staff_users.c
        row = conn.execute(sa.select(u.user_id).where(
            u.community_id == community_id, u.email == email)).first()
        if row is None:
            raise NotFound(f"no staff user {email!r} in community {community_id!r}",
                           status=Status.not_found, field="email")
        user_id = str(row.user_id)
        conn.execute(staff_users.update().where(
            u.community_id == community_id, u.user_id == user_id,
        ).values(password_hash=password_hash, failed_logins=0, locked_until_at_us=None))
        revoke_user_sessions(conn, community_id, user_id)
        record_audit(conn, community_id, None, Action.password_reset, target=email,
                     detail={"user_id": user_id})
        return load_user(conn, community_id, user_id)

    return store.run_write(write)


def create_staff_user(store: Store, clock: Clock, actor: StaffUser | StaffSession, *,
                      email: str, password: str, role: StaffRole, name: str = "") -> StaffUser:
    require(actor, Permission.manage_staff)
    community_id = actor.community_id
    email = normalize_email(email)
    name = name.strip()
    if len(name) > limits.display_name_chars_max:
        raise InvalidRequest(f"a name may have at most {limits.display_name_chars_max} "
                             "characters", status=Status.value_invalid, field="name")
    role = _stored_role(role)
    password_hash = hash_password(password)
    now_us = to_us(clock.now())
    actor_id = _user_of(actor).user_id

    def write(conn: Connection) -> StaffUser:
        user_id = _insert_user(conn, community_id, email, name, role, password_hash, now_us)
        record_audit(conn, community_id, actor_id, Action.user_created, target=email,
                     detail={"user_id": user_id, "role": role.value})
        return load_user(conn, community_id, user_id)

    try:
        return store.run_write(write)
    except sa.exc.IntegrityError as exc:
        if is_unique_violation(exc):
            raise Conflict(f"a staff user with email {email!r} already exists",
                           status=Status.already_exists, field="email") from None
        raise


def set_role(store: Store, clock: Clock, actor: StaffUser | StaffSession, user_id: str,
             role: StaffRole) -> StaffUser:
    require(actor, Permission.manage_staff)
    role = _stored_role(role)
    community_id = actor.community_id
    actor_id = _user_of(actor).user_id

    def write(conn: Connection) -> StaffUser:
        owners = _lock_active_owners(conn, community_id)
        user = load_user(conn, community_id, user_id)
        if user.role is role:
            return user
        if user.role is StaffRole.owner and owners == [user_id]:
            raise Conflict("a community keeps at least one owner: make another owner first",
                           status=Status.conflict)
        conn.execute(staff_users.update().where(
            staff_users.c.community_id == community_id, staff_users.c.user_id == user_id,
        ).values(role=role.value))
        record_audit(conn, community_id, actor_id, Action.role_changed, target=user.email,
                     detail={"user_id": user_id, "from": user.role.value, "to": role.value})
        return load_user(conn, community_id, user_id)

    return store.run_write(write)


def set_disabled(store: Store, clock: Clock, actor: StaffUser | StaffSession, user_id: str,
                 disabled: bool) -> StaffUser:
    """Disable (every session of the user ends at once) or enable a staff user."""
    require(actor, Permission.manage_staff)
    community_id = actor.community_id
    actor_id = _user_of(actor).user_id

    def write(conn: Connection) -> StaffUser:
        owners = _lock_active_owners(conn, community_id)
        user = load_user(conn, community_id, user_id)
        if user.disabled == disabled:
            return user
        if disabled and user_id == actor_id:
            raise Conflict("you cannot disable yourself", status=Status.conflict)
        if disabled and owners == [user_id]:
            raise Conflict("a community keeps at least one owner", status=Status.conflict)
        conn.execute(staff_users.update().where(
            staff_users.c.community_id == community_id, staff_users.c.user_id == user_id,
        ).values(disabled=disabled, failed_logins=0, locked_until_at_us=None))
        if disabled:
            revoke_user_sessions(conn, community_id, user_id)
        record_audit(conn, community_id, actor_id,
                     Action.user_disabled if disabled else Action.user_enabled,
                     target=user.email, detail={"user_id": user_id})
        return load_user(conn, community_id, user_id)

    return store.run_write(write)


def community_choices(store: Store, limit: int = 2) -> list[str]:
    """A few community ids, in order: the sign-in form fills in the one when there is one."""
    with store.read() as conn:
        rows = conn.execute(sa.select(communities.c.community_id)
                            .order_by(communities.c.community_id).limit(limit)).scalars()
        return [str(r) for r in rows]


def get_staff_user(store: Store, community_id: str, user_id: str) -> StaffUser:
    with store.read() as conn:
        return load_user(conn, community_id, user_id)


def list_staff_users(store: Store, community_id: str) -> list[StaffUser]:
    t = staff_users.c
    with store.read() as conn:
        rows = conn.execute(sa.select(
            staff_users, area_lease_column(community_id, t.user_id)).where(
            t.community_id == community_id).order_by(t.email)).mappings().all()
    return [user_from_row(row) for row in rows]


# ---- TOTP ----

def start_totp_enrollment(store: Store, clock: Clock, actor: StaffSession) -> TotpEnrollment:
    """Make a new TOTP secret for the signed-in user. It is used only once confirmed."""
    secret = str(pyotp.random_base32())
    user = actor.user

    def write(conn: Connection) -> None:
        conn.execute(staff_users.update().where(
            staff_users.c.community_id == user.community_id,
            staff_users.c.user_id == user.user_id,
        ).values(totp_pending_secret=secret))
        record_audit(conn, user.community_id, user.user_id, Action.totp_enrollment_started,
                     target=user.email)

    store.run_write(write)
    return _enrollment(user, secret)


def pending_totp_enrollment(store: Store, actor: StaffSession) -> TotpEnrollment | None:
    """The enrollment the user started and has not confirmed yet, to show it again."""
    user = actor.user
    with store.read() as conn:
        secret = conn.execute(sa.select(staff_users.c.totp_pending_secret).where(
            staff_users.c.community_id == user.community_id,
            staff_users.c.user_id == user.user_id)).scalar_one_or_none()
    return _enrollment(user, secret) if secret else None


def confirm_totp(store: Store, clock: Clock, actor: StaffSession, code: str) -> bool:
    """Turn TOTP on if `code` matches the pending secret. False: wrong code, nothing changed."""
    user = actor.user
    now = clock.now()

    def write(conn: Connection) -> bool:
        row = user_row(conn, user.community_id, user.user_id, lock=True)
        secret = row["totp_pending_secret"]
        if not secret:
            raise Conflict("no TOTP enrollment is under way", status=Status.conflict)
        step = matching_totp_step(secret, code, now)
        if step is None:
            return False
        conn.execute(staff_users.update().where(
            staff_users.c.community_id == user.community_id,
            staff_users.c.user_id == user.user_id,
        ).values(totp_secret=secret, totp_pending_secret=None, totp_last_step=step))
        record_audit(conn, user.community_id, user.user_id, Action.totp_enabled,
                     target=user.email)
        return True

    return store.run_write(write)


def reset_totp(store: Store, clock: Clock, actor: StaffUser | StaffSession,
               user_id: str) -> StaffUser:
    """Turn TOTP off for a user who lost their device; they enroll again after signing in."""
    require(actor, Permission.manage_staff)
    community_id = actor.community_id
    actor_id = _user_of(actor).user_id

    def write(conn: Connection) -> StaffUser:
        user = load_user(conn, community_id, user_id)
        conn.execute(staff_users.update().where(
            staff_users.c.community_id == community_id, staff_users.c.user_id == user_id,
        ).values(totp_secret=None, totp_pending_secret=None, totp_last_step=None))
        record_audit(conn, community_id, actor_id, Action.totp_reset, target=user.email,
                     detail={"user_id": user_id})
        return load_user(conn, community_id, user_id)

    return store.run_write(write)


def _enrollment(user: StaffUser, secret: str) -> TotpEnrollment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email,
                                              issuer_name=f"Jeton {user.community_id}")
    return TotpEnrollment(secret=secret, uri=str(uri))


def matching_totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code is `code`, within the accepted window, or None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(totp.timecode(now))
    window = limits.staff_totp_window_steps
    found = None
    for step in range(current - window, current + window + 1):
        # Compare them all, so the time taken does not say which step matched.
        if hmac.compare_digest(str(totp.generate_otp(step)), code):
            found = step
    return found


# ---- rows ----

def _insert_user(conn: Connection, community_id: str, email: str, name: str, role: StaffRole,
                 password_hash: str, now_us: int) -> str:
    user_id = new_id()
    conn.execute(staff_users.insert().values(
        community_id=community_id, user_id=user_id, email=email, name=name, role=role.value,
        password_hash=password_hash, created_at_us=now_us))
    return user_id


def user_row(conn: Connection, community_id: str, user_id: str,
             lock: bool = False) -> RowMapping:
    query = sa.select(staff_users, area_lease_column(community_id, staff_users.c.user_id)).where(
        staff_users.c.community_id == community_id, staff_users.c.user_id == user_id)
    if lock:
        query = for_update(query, conn.dialect.name)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"no staff user {user_id!r}", status=Status.not_found)
    return row


def load_user(conn: Connection, community_id: str, user_id: str) -> StaffUser:
    return user_from_row(user_row(conn, community_id, user_id))


def _lock_active_owners(conn: Connection, community_id: str) -> list[str]:
    """Lock the active owners' rows in id order, so two owners cannot demote each other at once."""
    t = staff_users.c
    query = (sa.select(t.user_id).where(t.community_id == community_id,
                                        t.role == StaffRole.owner.value,
                                        t.disabled == sa.false())
             .order_by(t.user_id))
    return [str(r) for r in conn.execute(for_update(query, conn.dialect.name)).scalars()]


def area_lease_column(community_id: str, user_id: Any) -> Any:
    """The lease an account operates (its running one, else the latest bound to it), as a
    column of its row in `community_id`.

    The subquery names the community itself rather than correlating on the row's: Citus routes
    a query to one shard only when every table in it is filtered by the same value, and refuses
    a FOR UPDATE it cannot route."""
    lc = leases.c
    # A running lease before ended ones, then the latest (ids are time-ordered).
    return sa.select(lc.lease_id).where(
        lc.community_id == community_id, lc.staff_user_id == user_id).order_by(
        sa.case((lc.ended_at_us.is_(None), 0), else_=1), lc.started_at_us.desc(),
        lc.lease_id.desc()).limit(1).scalar_subquery().label("area_lease_id")


def user_from_row(row: RowMapping | Mapping[str, Any]) -> StaffUser:
    until = row["locked_until_at_us"]
    area = row.get("area_lease_id")
    return StaffUser(
        community_id=row["community_id"], user_id=row["user_id"], email=row["email"],
        name=row["name"], role=StaffRole.operator if area else StaffRole(row["role"]),
        area_lease_id=area,
        totp_enabled=row["totp_secret"] is not None,
        totp_enrollment_pending=row["totp_pending_secret"] is not None,
        disabled=bool(row["disabled"]), failed_logins=int(row["failed_logins"]),
        locked_until=from_us(until) if until is not None else None,
        created_at=from_us(row["created_at_us"]))


def revoke_user_sessions(conn: Connection, community_id: str, user_id: str,
                          stage: SessionStage | None = None) -> None:
    s = staff_sessions.c
    where = [s.community_id == community_id, s.user_id == user_id, s.revoked == sa.false()]
    if stage is not None:
        where.append(s.stage == stage.value)
    conn.execute(staff_sessions.update().where(*where).values(revoked=True))


def _stored_role(role: StaffRole | str) -> StaffRole:
    chosen = StaffRole(role)
    if chosen not in STORED_ROLES:
        raise InvalidRequest("an operator account is made by binding a support account to a "
                             "lease (bind_lease_staff)", status=Status.value_invalid,
                             field="role")
    return chosen


def _user_of(actor: StaffUser | StaffSession) -> StaffUser:
    return actor.user if isinstance(actor, StaffSession) else actor
