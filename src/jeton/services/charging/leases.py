"""Sub-leased areas: an area of the catalog leased to a member, its operator (decision 0071).

- The owner leases an area (the services whose code starts with `files.lib42.`) to a member
  with a share (basis points of each charge's price), the bounds of every credit price the
  operator may set and the price kinds they may use. Two running leases never overlap.
- The operator sets a service of the area (`set_area_service`): its name, price kind, credits
  and class prices within the bounds, unit and access. Its splits stay the owner's. Each change
  is a catalog version of its own, like any edit of the catalog, and an audit record.
- Every charge in a running lease's area pays the operator `share_bp` of the price in the same
  transfer as the charge (`with_share`): taken from what the platform keeps, never from other
  splits (an uploader's royalty stays whole), rounded down like every share. The charge reads
  the running leases in its first statement (reads.py), so ending a lease stops the share from
  that instant; what was paid stays paid.
- The operator signs in to the dashboard with an account bound to the lease
  (`bind_lease_staff`; services/access/staff.py) that sees and changes only the area, and reads
  the area's report (`area_report`): uses, credits charged and earned, top members.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import amounts, limits
from jeton.core.catalog import catalog_from_data
from jeton.core.clock import from_us
from jeton.core.errors import Conflict, Declined, IdempotencyConflict, InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.prices import BP_WHOLE, PriceKind
from jeton.core.splits import REVENUE_TEXT
from jeton.core.statuses import Status
from jeton.services.access.audit import record_audit
from jeton.services.access.staff import (
    Permission,
    StaffRole,
    StaffSession,
    StaffUser,
    normalize_email,
    revoke_user_sessions,
)
from jeton.services.charging.reads import LeaseTerm
from jeton.services.charging.results import LeaseInfo, ServiceInfo, SplitLine
from jeton.services.ledger.idempotency import claim, conflict_detail, request_hash
from jeton.store.dialect import for_update
from jeton.store.tables.leases import leases
from jeton.store.tables.ledger import members
from jeton.store.tables.web import staff_users

if TYPE_CHECKING:
    from jeton.app import Jeton

Actor = StaffUser | StaffSession | str
# What the operator may set of a service; the rest of its entry (splits, money) stays.
_LEASE = "lease:"  # the target of the operator's split line: `lease:<lease id>`
OPERATOR_FIELDS = ("name", "kind", "credits", "unit", "unit_size", "class_credits", "access")


# ---- the charge's share ----

def with_share(lines: list[SplitLine], term: LeaseTerm | None, payer: str,
               charge: int) -> list[SplitLine]:
    """The charge's split lines with the lease's share moved from revenue to the operator
    (unchanged when no lease runs: `term` None).

    The share is `floor(charge × share_bp / 10,000)`, at most what revenue would keep. An
    operator charged in their own area pays themselves nothing."""
    if term is None or term.operator_id == payer:
        return lines
    revenue = next((line for line in lines if line.target == REVENUE_TEXT), None)
    if revenue is None:
        return lines
    share = min(charge * term.share_bp // BP_WHOLE, revenue.amount)
    if share <= 0:
        return lines
    kept = [line for line in lines if line is not revenue]
    if revenue.amount > share:
        kept.append(revenue.model_copy(update={"amount": revenue.amount - share}))
    return [*kept, SplitLine(target=f"{_LEASE}{term.lease_id}", member=term.operator_id,
                             amount=share)]


def paid_lease(lines: list[SplitLine]) -> str | None:
    """The lease whose operator these split lines pay a share (`with_share`), if any."""
    return next((line.target.removeprefix(_LEASE) for line in lines
                 if line.target.startswith(_LEASE)), None)


# ---- leasing ----

def create_lease(j: Jeton, community_id: str, *, area: str, operator: str, share_bp: int,
                 price_min: int, price_max: int, kinds: list[str] | None = None,
                 idempotency_key: str, actor: Actor = "owner") -> LeaseInfo:
    """Lease `area` to the member `operator`. The same key answers the same lease."""
    key = amounts.idempotency_key(idempotency_key)
    area = _area(area)
    amounts.external_id(operator, "operator")
    if type(share_bp) is not int or not 0 <= share_bp <= BP_WHOLE:
        raise InvalidRequest("share_bp must be 0-10000 (basis points of each charge)",
                             status=Status.value_invalid)
    for value, what in ((price_min, "price_min"), (price_max, "price_max")):
        if type(value) is not int or not 0 <= value <= limits.amount_max:
            raise InvalidRequest(f"{what} must be a whole number of credits, at least 0",
                                 status=Status.amount_invalid)
    if price_max < price_min:
        raise InvalidRequest("price_max is under price_min", status=Status.amount_invalid)
    allowed = _kinds(kinds)
    by, user_id = _actor(actor, Permission.configure)
    now_us = j.ledger.now_us()
    request = {"area": area, "operator": operator, "share_bp": share_bp,
               "price_min": price_min, "price_max": price_max, "kinds": allowed}

    def tx(conn: Connection) -> str:
        lc = leases.c
        found = conn.execute(sa.select(leases).where(
            lc.community_id == community_id, lc.request_key == key)).mappings().first()
        if found is not None:
            if _request_of(found) != request:
                raise IdempotencyConflict(conflict_detail(key, "lease", "lease"), key=key)
            return str(found["lease_id"])
        claim(conn, community_id, key, "lease", request_hash("lease", request), now_us)
        if conn.execute(sa.select(members.c.member_id).where(
                members.c.community_id == community_id,
                members.c.member_id == operator)).first() is None:
            raise NotFound(f"no member {operator!r}", status=Status.member_not_found)
        running = conn.execute(for_update(sa.select(lc.area, lc.lease_id).where(
            lc.community_id == community_id, lc.ended_at_us.is_(None)),
            conn.dialect.name)).all()
        if len(running) >= limits.leases_max:
            raise Conflict(f"a community runs at most {limits.leases_max} leases",
                           status=Status.limit_exceeded)
        for other, other_id in running:
            if other.startswith(area) or area.startswith(other):
                raise Conflict(f"the area {area!r} overlaps {other!r}, leased already",
                               status=Status.conflict, lease=other_id)
        lease_id = new_id()
        conn.execute(leases.insert().values(
            community_id=community_id, lease_id=lease_id, area=area, operator_id=operator,
            share_bp=share_bp, price_min=price_min, price_max=price_max,
            kinds_json=json.dumps(allowed), created_by=by, started_at_us=now_us,
            request_key=key))
        record_audit(conn, community_id, user_id, "lease.created", target=lease_id,
                     detail={**request, "by": by})
        return lease_id

    return get_lease(j, community_id, j.store.run_write(tx))


def end_lease(j: Jeton, community_id: str, lease_id: str, *, reason: str,
              actor: Actor = "owner") -> LeaseInfo:
    """End a lease now: charges pay no share from this instant; nothing paid moves. Ending an
    ended lease changes nothing."""
    reason = _reason(reason)
    by, user_id = _actor(actor, Permission.configure)
    now_us = j.ledger.now_us()

    def tx(conn: Connection) -> None:
        row = _find(conn, community_id, lease_id, lock=True)
        if row["ended_at_us"] is not None:
            return
        conn.execute(leases.update().where(
            leases.c.community_id == community_id, leases.c.lease_id == lease_id,
            leases.c.ended_at_us.is_(None)).values(
            ended_at_us=max(now_us, row["started_at_us"]), ended_by=by, end_reason=reason))
        record_audit(conn, community_id, user_id, "lease.ended", target=lease_id,
                     detail={"area": row["area"], "operator": row["operator_id"],
                             "reason": reason, "by": by})

    j.store.run_write(tx)
    return get_lease(j, community_id, lease_id)


def bind_lease_staff(j: Jeton, community_id: str, lease_id: str, *, email: str,
                     actor: Actor = "owner") -> LeaseInfo:
    """Make the dashboard account `email` the lease's operator account. It must be a support
    account (the least role) operating no other running lease (an operator whose lease ended
    may take on a new one); from now on it sees only the area."""
    by, user_id = _actor(actor, Permission.manage_staff)
    address = normalize_email(email)

    def tx(conn: Connection) -> None:
        row = _find(conn, community_id, lease_id, lock=True)
        if row["ended_at_us"] is not None:
            raise Conflict("the lease has ended", status=Status.conflict)
        su = staff_users.c
        account = conn.execute(sa.select(su.user_id, su.role).where(
            su.community_id == community_id, su.email == address)).first()
        if account is None:
            raise NotFound(f"no staff user {address!r}", status=Status.not_found)
        if account[1] != StaffRole.support.value:
            raise Conflict("only a support account may become an operator account (it loses "
                           "everything but its area)", status=Status.conflict)
        other = conn.execute(sa.select(leases.c.lease_id).where(
            leases.c.community_id == community_id, leases.c.staff_user_id == account[0],
            leases.c.lease_id != lease_id, leases.c.ended_at_us.is_(None))).first()
        if other is not None:
            raise Conflict("that account operates another running lease",
                           status=Status.conflict)
        conn.execute(leases.update().where(
            leases.c.community_id == community_id, leases.c.lease_id == lease_id).values(
            staff_user_id=account[0]))
        # Its sessions were made as a support account: it signs in again as an operator.
        revoke_user_sessions(conn, community_id, account[0])
        record_audit(conn, community_id, user_id, "lease.staff_bound", target=lease_id,
                     detail={"email": address, "by": by})

    j.store.run_write(tx)
    return get_lease(j, community_id, lease_id)


# ---- the operator's prices ----

def set_area_service(j: Jeton, community_id: str, lease_id: str, code: str,
                     entry: dict[str, Any], *, actor: Actor) -> ServiceInfo:
    """Add or change a service of the lease's area, within the lease's bounds.

    `entry` holds what the operator sets (OPERATOR_FIELDS, in a catalog file's shape: `kind`,
    `credits`, `class_credits`, `unit`, `unit_size`, `name`, `access`). The service's splits and
    money price stay as the owner set them. Refused: a code outside the area, a price kind not
    allowed, a credit price out of bounds, an ended lease, an account of another area."""
    by, user_id = _actor(actor, None, lease_id=lease_id)
    with j.store.read() as conn:
        lease = _find(conn, community_id, lease_id)
    if lease["ended_at_us"] is not None:
        raise Declined("the lease has ended: its area is the owner's again",
                       status=Status.forbidden)
    code = amounts.service_code(code)
    if not code.startswith(lease["area"]):
        raise InvalidRequest(f"{code!r} is not in the area {lease['area']!r}",
                             status=Status.value_invalid)
    unknown = sorted(set(entry) - set(OPERATOR_FIELDS))
    if unknown:
        raise InvalidRequest(f"an operator does not set {', '.join(unknown)}",
                             status=Status.value_invalid)
    kind = entry.get("kind", PriceKind.fixed.value)
    if kind not in json.loads(lease["kinds_json"]):
        raise InvalidRequest(f"the lease allows the price kinds "
                             f"{', '.join(json.loads(lease['kinds_json']))}, not {kind!r}",
                             status=Status.value_invalid)
    prices = [entry.get("credits"), *dict(entry.get("class_credits") or {}).values()]
    for price in prices:
        if type(price) is not int or not lease["price_min"] <= price <= lease["price_max"]:
            raise InvalidRequest(f"a price must be {lease['price_min']}-{lease['price_max']} "
                                 f"credits in this area, got {price!r}",
                                 status=Status.amount_invalid)
    info = j.charging.catalogs.info(community_id)
    data: dict[str, Any] = {
        "services": {s.code: dict(s.definition) for s in info.services},
        "rewards": {r.code: {"name": r.name, "credits": r.credits, "limit": r.limit,
                             "per": r.per} for r in info.rewards}}
    old = data["services"].get(code, {})
    kept = {k: v for k, v in old.items() if k in ("splits", "money", "allowance")}
    data["services"][code] = {"name": entry.get("name") or old.get("name") or code, **kept,
                              **{k: v for k, v in entry.items() if k != "name"}}
    result = catalog_from_data({k: v for k, v in data.items() if v})
    if result.catalog is None:
        raise InvalidRequest("; ".join(str(e) for e in result.errors),
                             status=Status.catalog_invalid,
                             errors=[str(e) for e in result.errors])
    done = j.charging.catalogs.put(community_id, result.catalog, actor=by)
    j.store.run_write(lambda conn: record_audit(
        conn, community_id, user_id, "lease.service_set", target=code,
        detail={"lease_id": lease_id, "catalog_version": done.version, "by": by,
                "kind": kind, "credits": entry.get("credits")}))
    found = {s.code: s for s in j.charging.catalogs.info(community_id).services}
    return found[code]


# ---- reads ----

def get_lease(j: Jeton, community_id: str, lease_id: str) -> LeaseInfo:
    with j.store.read() as conn:
        return lease_info(_find(conn, community_id, lease_id))


def list_leases(j: Jeton, community_id: str, *, active_only: bool = False,
                operator: str | None = None) -> list[LeaseInfo]:
    lc = leases.c
    stmt = sa.select(leases).where(lc.community_id == community_id)
    if active_only:
        stmt = stmt.where(lc.ended_at_us.is_(None))
    if operator is not None:
        stmt = stmt.where(lc.operator_id == operator)
    with j.store.read() as conn:
        rows = conn.execute(stmt.order_by(lc.lease_id.desc())
                            .limit(limits.page_size_max)).mappings().all()
    return [lease_info(r) for r in rows]


def lease_info(row: RowMapping) -> LeaseInfo:
    return LeaseInfo(
        id=row["lease_id"], area=row["area"], operator_id=row["operator_id"],
        share_bp=row["share_bp"], price_min=row["price_min"], price_max=row["price_max"],
        kinds=json.loads(row["kinds_json"]), active=row["ended_at_us"] is None,
        staff_user_id=row["staff_user_id"], created_by=row["created_by"],
        started_at=from_us(row["started_at_us"]), ended_at=_when(row["ended_at_us"]),
        ended_by=row["ended_by"], end_reason=row["end_reason"])


def _find(conn: Connection, community_id: str, lease_id: str, *,
          lock: bool = False) -> RowMapping:
    stmt = sa.select(leases).where(leases.c.community_id == community_id,
                                   leases.c.lease_id == lease_id)
    if lock:
        stmt = for_update(stmt, conn.dialect.name)
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound(f"no lease {lease_id!r}", status=Status.not_found)
    return row


def _request_of(row: RowMapping) -> dict[str, Any]:
    return {"area": row["area"], "operator": row["operator_id"], "share_bp": row["share_bp"],
            "price_min": row["price_min"], "price_max": row["price_max"],
            "kinds": json.loads(row["kinds_json"])}


def _when(value: int | None) -> datetime | None:
    return from_us(value) if value is not None else None


# ---- checks ----

def _area(value: object) -> str:
    if not isinstance(value, str) or not value.endswith(".") or len(value) > 100:
        raise InvalidRequest("an area is a prefix of service codes ending in '.', like "
                             "'files.lib42.'", status=Status.value_invalid)
    amounts.service_code(value[:-1])
    return value


def _kinds(values: list[str] | None) -> list[str]:
    every = [k.value for k in PriceKind]
    if values is None:
        return every
    if not isinstance(values, list) or not values or any(v not in every for v in values):
        raise InvalidRequest(f"kinds must be a non-empty list of {', '.join(every)}",
                             status=Status.value_invalid)
    return sorted(set(values))


def _reason(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise InvalidRequest("a reason of 1-500 characters is required",
                             status=Status.value_invalid)
    return value.strip()


def _actor(actor: Actor, permission: Permission | None, *,
           lease_id: str | None = None) -> tuple[str, str | None]:
    """Who acts (for the audit) and their staff user id. A staff user needs `permission`, or,
    for an area's prices (`permission` None), to be the lease's operator account or an owner
    who configures the catalog. A string is the host app's word, trusted as its API key is."""
    if isinstance(actor, str):
        return (actor.strip()[:200] or "system"), None
    user = actor.user if isinstance(actor, StaffSession) else actor
    allowed = (user.can(permission) if permission is not None
               else user.can(Permission.configure) or (
                   user.can(Permission.operate_area) and user.area_lease_id == lease_id))
    if not allowed:
        raise Declined(f"the {user.role.value} role may not do this here",
                       status=Status.forbidden)
    return f"staff:{user.user_id}", user.user_id
