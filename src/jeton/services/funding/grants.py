"""Credits posted by hand: staff grants and charges, with a reason, within per-role limits.

Every posting names its staff actor (`staff:<user>` on the transfer), carries the reason as the
transfer's memo, and writes an audit record (services/access/audit.py) in the same transaction.

Roles (services/access/staff.py): owners and moderators may post credits, support may not. A role
limit caps what each staff user of that role posts (granted plus charged) per UTC day, ISO
week or calendar month, checked with a conditional update of the user's usage row, so two
postings at once cannot both slip under it. Moderators post only within a limit an owner has
set (no limit set means they may not post); owners are unlimited unless a limit is set for
them too. Over the limit is refused with status `limit_exceeded`, naming what is left.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core.clock import ensure_utc, to_us
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.core.transfers import TransferKind
from jeton.services.access.audit import record_audit
from jeton.services.access.staff import ROLE_PERMISSIONS, Permission, StaffRole, StaffUser, require
from jeton.services.funding import base as fb
from jeton.services.funding.results import RoleLimit
from jeton.services.ledger.results import SpendRequest, TransferResult
from jeton.services.ledger.state import Declined, Header, LotSpec, system_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.sql import insert_ignore
from jeton.store.tables.funding import staff_posting_usage

if TYPE_CHECKING:
    from jeton.app import Jeton

_SETTING = "role_limits"
_PERIODS = ("day", "week", "month")


def set_role_limit(j: Jeton, community_id: str, role: str, amount: int, *,
                   period: str = "day", asset: str = "CREDIT") -> RoleLimit:
    """What each staff user of `role` may post per period (granted plus charged)."""
    role = StaffRole(role).value
    if period not in _PERIODS:
        raise InvalidRequest(f"period must be one of {_PERIODS}", status=Status.value_invalid)
    amount = amounts.whole_amount(amount, "amount")
    if amount < 0:
        raise InvalidRequest("a limit is not negative", status=Status.amount_invalid)
    asset = amounts.asset_code(asset)
    now_us = j.ledger.now_us()

    def tx(conn: Connection) -> None:
        fb.require_asset(conn, community_id, asset)
        value = fb.get_setting(conn, community_id, _SETTING) or {}
        value.setdefault(role, {})[asset] = {"amount": amount, "period": period}
        fb.put_setting(conn, community_id, _SETTING, value, now_us)

    j.store.run_write(tx)
    return RoleLimit(role=role, asset=asset, amount=amount, period=period)


def role_limits(j: Jeton, community_id: str) -> list[RoleLimit]:
    with j.store.read() as conn:
        value = fb.get_setting(conn, community_id, _SETTING) or {}
    return [RoleLimit(role=role, asset=asset, amount=v["amount"], period=v["period"])
            for role, by_asset in sorted(value.items())
            for asset, v in sorted(by_asset.items())]


def staff_grant(j: Jeton, community_id: str, member_id: str, amount: int, *,
                actor: StaffUser | str, reason: str, idempotency_key: str,
                role: str | None = None, asset: str = "CREDIT",
                expires_at: datetime | None = None) -> TransferResult:
    """Free credits for a member, posted by a staff user with a reason."""
    amount = amounts.positive_amount(amount)
    user_id, staff_role = _actor(actor, role)
    reason = _reason(reason)
    expires_us = to_us(ensure_utc(expires_at)) if expires_at is not None else None
    request = {"member": member_id, "amount": amount, "asset": asset, "actor": user_id,
               "reason": reason, "expires": expires_us}

    def body(ws: WorkSet) -> TransferResult:
        if expires_us is not None and expires_us <= ws.now_us:
            raise InvalidRequest("expires_at is not in the future", status=Status.expiry_invalid)
        _use_limit(ws, user_id, staff_role, asset, amount)
        header = Header(TransferKind.grant, asset, member_id=member_id,
                        actor=f"staff:{user_id}", reason_code="staff_grant", memo=reason,
                        metadata={"role": staff_role}, idempotency_key=idempotency_key)
        result = j.ledger.apply_grant(ws, header, member_id, amount,
                                      LotSpec(source="staff", expires_at_us=expires_us),
                                      system_id("promotions", asset))
        record_audit(ws.conn, community_id, user_id, "credits.granted", target=member_id,
                     detail={"amount": amount, "asset": asset, "reason": reason,
                             "transfer_id": result.id, "role": staff_role})
        return result

    return fb.write_once(j.ledger, community_id, idempotency_key, "staff.grant", request, body,
                         TransferResult)


def staff_charge(j: Jeton, community_id: str, member_id: str, amount: int, *,
                 actor: StaffUser | str, reason: str, idempotency_key: str,
                 role: str | None = None, asset: str = "CREDIT") -> TransferResult:
    """Take credits from a member by hand (in spend order), with a reason."""
    amount = amounts.positive_amount(amount)
    user_id, staff_role = _actor(actor, role)
    reason = _reason(reason)
    request = {"member": member_id, "amount": amount, "asset": asset, "actor": user_id,
               "reason": reason}

    def body(ws: WorkSet) -> TransferResult:
        _use_limit(ws, user_id, staff_role, asset, amount)
        req = SpendRequest(member=member_id, amount=amount, idempotency_key=idempotency_key,
                           asset=asset, reason_code="staff_charge", memo=reason)
        header = Header(TransferKind.spend, asset, member_id=member_id,
                        actor=f"staff:{user_id}", reason_code="staff_charge", memo=reason,
                        metadata={"role": staff_role}, idempotency_key=idempotency_key)
        result = j.ledger.apply_spend(ws, header, req, None)
        record_audit(ws.conn, community_id, user_id, "credits.charged", target=member_id,
                     detail={"amount": amount, "asset": asset, "reason": reason,
                             "transfer_id": result.id, "role": staff_role})
        return result

    return fb.write_once(j.ledger, community_id, idempotency_key, "staff.charge", request, body,
                         TransferResult)


def _actor(actor: StaffUser | str, role: str | None) -> tuple[str, str]:
    """(user id, role) of who posts. A StaffUser speaks for itself; a plain id comes from a
    trusted caller (the CLI, an API key) with its role, by default owner."""
    if isinstance(actor, StaffUser):
        require(actor, Permission.post_credits)
        return actor.user_id, actor.role.value
    if not isinstance(actor, str) or not actor or len(actor) > 150:
        raise InvalidRequest("actor must be a staff user or its id", status=Status.value_invalid)
    staff_role = StaffRole(role or StaffRole.owner.value)
    if Permission.post_credits not in ROLE_PERMISSIONS[staff_role]:
        raise Declined(Status.forbidden,
                       f"the {staff_role.value} role may not post credits").error()
    return actor.removeprefix("staff:"), staff_role.value


def _reason(reason: str) -> str:
    return fb.text(reason, "reason", limits.memo_chars_max)


def _use_limit(ws: WorkSet, user_id: str, role: str, asset: str, amount: int) -> None:
    conn = ws.conn
    config = (fb.get_setting(conn, ws.community_id, _SETTING) or {}).get(role, {}).get(asset)
    if config is None:
        if role == StaffRole.owner.value:
            return
        raise Declined(Status.limit_exceeded,
                       f"the {role} role has no posting limit for {asset}: an owner sets one "
                       "before moderators post credits", limit=0, used=0)
    key, _start = fb.period_bounds(config["period"], ws.now_us)
    u = staff_posting_usage.c
    where = (u.community_id == ws.community_id, u.actor == user_id, u.asset == asset,
             u.period_key == key)
    conn.execute(insert_ignore(conn.dialect.name, staff_posting_usage,
                               ["community_id", "actor", "asset", "period_key"]),
                 {"community_id": ws.community_id, "actor": user_id, "asset": asset,
                  "period_key": key, "amount_used": 0})
    done = conn.execute(staff_posting_usage.update().where(
        *where, u.amount_used + amount <= config["amount"]).values(
        amount_used=u.amount_used + amount))
    if not done.rowcount:
        used = conn.execute(sa.select(u.amount_used).where(*where)).scalar_one()
        left = max(config["amount"] - used, 0)
        raise Declined(Status.limit_exceeded,
                       f"over the {role} limit of {config['amount']} {asset} per "
                       f"{config['period']}: {left} left this {config['period']}",
                       limit=config["amount"], used=used, required=amount)
