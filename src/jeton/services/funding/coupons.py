"""Coupons and affiliate codes.

A coupon is a code that gives credits (free, optionally expiring), classes and keys, with a
total limit, a per-member limit and an expiry. Redeeming is idempotent per client key and safe
under races: the total is a conditional update of the coupon's counter
(`redeemed_count < max_redemptions`, and a CHECK behind it), and each member's n-th redemption
of a code is a unique row (coupon, member, n), so two concurrent redemptions by one member of a
once-per-member code cannot both commit.

Affiliate codes are coupons owned by a member: a member of a class the community's affiliate
program names requests N codes (paying a fee in credits if the program sets one) and earns a
royalty in credits each time one of their codes is redeemed, in the same transaction.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import amounts, limits
from jeton.core.clock import ensure_utc, from_us, to_us
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.core.transfers import TransferKind
from jeton.services.charging.access_grants import grant_class, grant_key, member_classes
from jeton.services.funding import base as fb
from jeton.services.funding.results import (
    AffiliateCodes,
    AffiliateProgram,
    CouponInfo,
    Entitlement,
    Redemption,
)
from jeton.services.ledger.results import SpendRequest, TransferResult
from jeton.services.ledger.state import Declined, Header, LotSpec, system_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import is_unique_violation
from jeton.store.tables.funding import coupon_redemptions, coupons

if TYPE_CHECKING:
    from jeton.app import Jeton

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_\-]{2,31}$")
_AFFILIATE = "affiliate_program"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def normalize_code(value: object) -> str:
    """Codes are matched without regard to case or surrounding spaces: ` spring-24 ` is
    `SPRING-24`."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if not _CODE.match(code):
        raise InvalidRequest("a coupon code is 3-32 letters, digits, - or _",
                             status=Status.value_invalid)
    return code


# ---- coupons ----

def create_coupon(j: Jeton, community_id: str, *, code: str | None = None, credits: int = 0,
                  asset: str = "CREDIT", credit_expiry_days: int | None = None,
                  classes: Any = None, keys: Any = None, max_redemptions: int | None = None,
                  per_member_limit: int = 1, expires_at: datetime | None = None) -> CouponInfo:
    """A promotional code. Without `code` one is made up (10 characters, unguessable)."""
    info = CouponInfo(
        code=normalize_code(code) if code is not None else random_code(),
        kind="promo", asset=amounts.asset_code(asset),
        credits=_count(credits, "credits", minimum=0),
        credit_expiry_days=fb.days(credit_expiry_days, "credit_expiry_days"),
        classes=fb.entitlements(classes, "classes"), keys=fb.entitlements(keys, "keys"),
        max_redemptions=(None if max_redemptions is None
                         else _count(max_redemptions, "max_redemptions", minimum=1)),
        per_member_limit=_count(per_member_limit, "per_member_limit", minimum=1),
        expires_at=ensure_utc(expires_at) if expires_at is not None else None,
        created_at=j.clock.now())
    if not info.credits and not info.classes and not info.keys:
        raise InvalidRequest("a coupon gives credits, a class or a key",
                             status=Status.value_invalid)
    now_us = j.ledger.now_us()

    def tx(conn: Connection) -> CouponInfo:
        fb.require_asset(conn, community_id, info.asset)
        existing = _row(conn, community_id, info.code)
        if existing is not None:
            raise Conflict(f"coupon {info.code} exists", status=Status.already_exists)
        _insert(conn, community_id, info, now_us)
        return info.model_copy(update={"created_at": from_us(now_us)})

    return j.store.run_write(tx)


def get_coupon(j: Jeton, community_id: str, code: str) -> CouponInfo:
    with j.store.read() as conn:
        row = _row(conn, community_id, normalize_code(code))
    if row is None:
        raise NotFound(f"no coupon {code!r}", status=Status.not_found)
    return coupon_info(row)


def list_coupons(j: Jeton, community_id: str, *, owner_member_id: str | None = None,
                 limit: int = limits.page_size_default) -> list[CouponInfo]:
    stmt = sa.select(coupons).where(coupons.c.community_id == community_id)
    if owner_member_id is not None:
        stmt = stmt.where(coupons.c.owner_member_id == owner_member_id)
    limit = max(1, min(limit, limits.page_size_max))
    with j.store.read() as conn:
        rows = conn.execute(stmt.order_by(coupons.c.created_at_us.desc(), coupons.c.code)
                            .limit(limit)).mappings().all()
    return [coupon_info(r) for r in rows]


def set_coupon_active(j: Jeton, community_id: str, code: str, active: bool) -> CouponInfo:
    code = normalize_code(code)

    def tx(conn: Connection) -> None:
        done = conn.execute(coupons.update().where(
            coupons.c.community_id == community_id, coupons.c.code == code).values(
            active=bool(active)))
        if not done.rowcount:
            raise NotFound(f"no coupon {code!r}", status=Status.not_found)

    j.store.run_write(tx)
    return get_coupon(j, community_id, code)


def redeem_coupon(j: Jeton, community_id: str, member_id: str, code: str, *,
                  idempotency_key: str) -> Redemption:
    """Redeem a code for a member. The same key returns the first answer."""
    code = normalize_code(code)
    request = {"member": member_id, "code": code}

    def body(ws: WorkSet) -> Redemption:
        conn, now = ws.conn, ws.now_us
        fb.require_member(conn, community_id, member_id)
        row = _row(conn, community_id, code)
        if row is None or not row["active"]:
            raise NotFound(f"no coupon {code!r}", status=Status.not_found)
        if row["expires_at_us"] is not None and row["expires_at_us"] <= now:
            raise Declined(Status.declined, f"coupon {code} expired on "
                           f"{from_us(row['expires_at_us']).date()}", reason="expired")
        if row["owner_member_id"] == member_id:
            raise Declined(Status.forbidden, "members cannot redeem their own affiliate codes")
        r = coupon_redemptions.c
        used = conn.execute(sa.select(sa.func.count()).select_from(coupon_redemptions).where(
            r.community_id == community_id, r.code == code,
            r.member_id == member_id)).scalar_one()
        if used >= row["per_member_limit"]:
            raise Declined(Status.limit_exceeded,
                           f"member {member_id!r} has already redeemed {code}"
                           + (f" {used} times" if row["per_member_limit"] > 1 else ""),
                           reason="per_member_limit")
        c = coupons.c
        counted = conn.execute(coupons.update().where(
            c.community_id == community_id, c.code == code,
            sa.or_(c.max_redemptions.is_(None), c.redeemed_count < c.max_redemptions),
        ).values(redeemed_count=c.redeemed_count + 1))
        if not counted.rowcount:
            raise Declined(Status.limit_exceeded, f"coupon {code} has been fully redeemed",
                           reason="max_redemptions")
        redemption_id = new_id()
        meta = {"coupon": code, "redemption_id": redemption_id}
        grant: TransferResult | None = None
        if row["credits"]:
            header = Header(TransferKind.grant, row["asset"], member_id=member_id,
                            actor=f"member:{member_id}", reason_code="coupon", memo=code,
                            metadata=meta)
            spec = LotSpec(source="coupon",
                           expires_at_us=fb.expiry_after(now, row["credit_expiry_days"]))
            grant = j.ledger.apply_grant(ws, header, member_id, row["credits"], spec,
                                         system_id("promotions", row["asset"]))
        classes = [Entitlement.model_validate(e) for e in json.loads(row["classes_json"])]
        keys = [Entitlement.model_validate(e) for e in json.loads(row["keys_json"])]
        for e in classes:
            grant_class(conn, community_id, member_id, e.name,
                        expires_at_us=fb.expiry_after(now, e.days), now_us=now, source="coupon")
        for e in keys:
            grant_key(conn, community_id, member_id, e.name,
                      expires_at_us=fb.expiry_after(now, e.days), now_us=now, source="coupon")
        royalty: TransferResult | None = None
        owner = row["owner_member_id"]
        if owner is not None and row["royalty"]:
            header = Header(TransferKind.grant, row["asset"], member_id=owner,
                            actor="system:affiliate", reason_code="affiliate_royalty", memo=code,
                            metadata={**meta, "redeemed_by": member_id})
            royalty = j.ledger.apply_grant(ws, header, owner, row["royalty"],
                                           LotSpec(source="royalty"),
                                           system_id("promotions", row["asset"]))
        conn.execute(coupon_redemptions.insert().values(
            community_id=community_id, code=code, member_id=member_id, seq=used + 1,
            redemption_id=redemption_id, transfer_id=grant.id if grant else None,
            royalty_transfer_id=royalty.id if royalty else None, redeemed_at_us=now))
        ws.emit("coupon.redeemed", member_id, {
            "code": code, "member_id": member_id, "credits": row["credits"],
            "classes": [e.name for e in classes], "keys": [e.name for e in keys],
            "affiliate": owner, "royalty": row["royalty"] if owner else 0})
        return Redemption(id=redemption_id, code=code, member_id=member_id,
                          credits=row["credits"], classes=[e.name for e in classes],
                          keys=[e.name for e in keys], transfer=grant, royalty_transfer=royalty)

    try:
        return fb.write_once(j.ledger, community_id, idempotency_key, "coupon.redeem", request,
                             body, Redemption)
    except sa.exc.IntegrityError as exc:
        # The same member redeemed the same code concurrently under another key and committed
        # first: asking again answers with the per-member limit (or the replay).
        if not is_unique_violation(exc):
            raise
        return fb.write_once(j.ledger, community_id, idempotency_key, "coupon.redeem", request,
                             body, Redemption)


# ---- affiliate codes ----

def set_affiliate_program(j: Jeton, community_id: str,
                          program: AffiliateProgram) -> AffiliateProgram:
    """Who may request affiliate codes, what a code costs, gives and earns its owner."""
    amounts.asset_code(program.asset)
    for name in program.classes:
        amounts.external_id(name, "class name")
    for value, what in ((program.fee_per_code, "fee_per_code"), (program.credits, "credits"),
                        (program.royalty, "royalty")):
        _count(value, what, minimum=0)
    fb.days(program.credit_expiry_days, "credit_expiry_days")
    if program.max_redemptions_per_code is not None:
        _count(program.max_redemptions_per_code, "max_redemptions_per_code", minimum=1)
    _count(program.codes_per_member_max, "codes_per_member_max", minimum=0)
    now_us = j.ledger.now_us()

    def tx(conn: Connection) -> None:
        fb.require_asset(conn, community_id, program.asset)
        fb.put_setting(conn, community_id, _AFFILIATE, program.model_dump(), now_us)

    j.store.run_write(tx)
    return program


def get_affiliate_program(j: Jeton, community_id: str) -> AffiliateProgram:
    with j.store.read() as conn:
        value = fb.get_setting(conn, community_id, _AFFILIATE)
    return AffiliateProgram.model_validate(value or {})


def create_affiliate_codes(j: Jeton, community_id: str, member_id: str, count: int, *,
                           idempotency_key: str) -> AffiliateCodes:
    """Codes owned by a member who may have them, for the program's fee per code."""
    if type(count) is not int or not 1 <= count <= limits.affiliate_codes_per_request_max:
        raise InvalidRequest(f"count must be 1-{limits.affiliate_codes_per_request_max}",
                             status=Status.value_invalid)
    request = {"member": member_id, "count": count}

    def body(ws: WorkSet) -> AffiliateCodes:
        conn, now = ws.conn, ws.now_us
        fb.require_member(conn, community_id, member_id)
        program = AffiliateProgram.model_validate(
            fb.get_setting(conn, community_id, _AFFILIATE) or {})
        held = {g.name for g in member_classes(conn, community_id, member_id, from_us(now))}
        if not held & set(program.classes):
            raise Declined(Status.forbidden, "affiliate codes are for members of class "
                           + (", ".join(program.classes) or "(none: the program is off)"))
        owned = conn.execute(sa.select(sa.func.count()).select_from(coupons).where(
            coupons.c.community_id == community_id,
            coupons.c.owner_member_id == member_id)).scalar_one()
        if owned + count > program.codes_per_member_max:
            raise Declined(Status.limit_exceeded,
                           f"a member holds at most {program.codes_per_member_max} affiliate "
                           f"codes; {member_id!r} has {owned}")
        fee = program.fee_per_code * count
        fee_transfer = None
        if fee:
            req = SpendRequest(member=member_id, amount=fee, idempotency_key=idempotency_key,
                               asset=program.asset, service="affiliate.codes",
                               reason_code="affiliate_codes", memo=f"{count} affiliate codes")
            header = Header(TransferKind.spend, program.asset, member_id=member_id,
                            service="affiliate.codes", actor=f"member:{member_id}",
                            reason_code="affiliate_codes", memo=req.memo)
            fee_transfer = j.ledger.apply_spend(ws, header, req, None)
        codes = []
        for _ in range(count):
            info = CouponInfo(code=random_code(), kind="affiliate", asset=program.asset,
                              credits=program.credits,
                              credit_expiry_days=program.credit_expiry_days,
                              max_redemptions=program.max_redemptions_per_code,
                              per_member_limit=1, owner_member_id=member_id,
                              royalty=program.royalty, created_at=from_us(now))
            _insert(conn, community_id, info, now)
            codes.append(info.code)
        ws.emit("affiliate.codes_created", member_id, {"member_id": member_id, "codes": codes,
                                                        "fee": fee})
        return AffiliateCodes(member_id=member_id, codes=codes, fee=fee,
                              fee_transfer=fee_transfer)

    return fb.write_once(j.ledger, community_id, idempotency_key, "affiliate.codes", request,
                         body, AffiliateCodes)


# ---- rows ----

def _insert(conn: Connection, community_id: str, info: CouponInfo, now_us: int) -> None:
    conn.execute(coupons.insert().values(
        community_id=community_id, code=info.code, kind=info.kind, asset=info.asset,
        credits=info.credits, credit_expiry_days=info.credit_expiry_days,
        classes_json=json.dumps([e.model_dump() for e in info.classes]),
        keys_json=json.dumps([e.model_dump() for e in info.keys]),
        max_redemptions=info.max_redemptions, per_member_limit=info.per_member_limit,
        redeemed_count=0,
        expires_at_us=to_us(info.expires_at) if info.expires_at is not None else None,
        active=True, owner_member_id=info.owner_member_id, royalty=info.royalty,
        created_at_us=now_us))


def _row(conn: Connection, community_id: str, code: str) -> RowMapping | None:
    return conn.execute(sa.select(coupons).where(coupons.c.community_id == community_id,
                                                 coupons.c.code == code)).mappings().first()


def coupon_info(row: RowMapping) -> CouponInfo:
    return CouponInfo(
        code=row["code"], kind=row["kind"], asset=row["asset"], credits=row["credits"],
        credit_expiry_days=row["credit_expiry_days"],
        classes=[Entitlement.model_validate(e) for e in json.loads(row["classes_json"])],
        keys=[Entitlement.model_validate(e) for e in json.loads(row["keys_json"])],
        max_redemptions=row["max_redemptions"], per_member_limit=row["per_member_limit"],
        redeemed_count=row["redeemed_count"],
        expires_at=from_us(row["expires_at_us"]) if row["expires_at_us"] else None,
        active=bool(row["active"]), owner_member_id=row["owner_member_id"],
        royalty=row["royalty"], created_at=from_us(row["created_at_us"]))


def _count(value: object, what: str, *, minimum: int) -> int:
    n = amounts.whole_amount(value, what)
    if n < minimum:
        raise InvalidRequest(f"{what} must be at least {minimum}", status=Status.value_invalid)
    return n


def random_code(length: int = 10) -> str:
    """An unguessable code people can read aloud and type: no 0/O or 1/I."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
