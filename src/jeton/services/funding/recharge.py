"""Auto-recharge: buy a chosen pack with the saved payment method when the balance runs low.

A member with a saved payment method sets a threshold, a pack and a monthly cap, and may set a
`target`: then a recharge buys as many of the pack as bring the available balance back to the
target (each pack counting its credits and bonus credits), rounded up to whole packs, at most
`recharge_units_max`; without one it buys one pack (docs/decisions/0061). Two halves:

- `recharge_hook`, a ledger hook, runs inside every write transaction that took credits from a
  member (a spend, a capture, a transfer). When the member's available balance is now under
  the threshold, it only *records the intent*: a row in `recharge_claims`, whose primary key is
  the wallet, inserted with ON CONFLICT DO NOTHING. So twenty charges crossing the threshold at
  once leave one claim, the charge path pays one indexed read, and no provider is ever called
  inside a database transaction.
- The `recharge.run` job takes each claim, re-checks it (still enabled, still under the
  threshold, cap not reached), records a purchase in state `charging`, charges the saved method
  off-session (outside any transaction, idempotency key = the purchase), and then grants the
  pack like any purchase. The claim is deleted when the purchase settles, so at most one
  recharge per wallet is ever in flight.

The monthly cap counts successful recharges per UTC calendar month. A failed charge is reported
(`recharge.failed` event, status `failed`) and pauses auto-recharge until the member sets it
again, so a declined card is not retried on every charge.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import amounts, limits
from jeton.core.errors import InvalidRequest, InvariantViolation, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.funding import base as fb
from jeton.services.funding import purchases as pur
from jeton.services.funding.packs import offer_snapshot, offered_pack
from jeton.services.funding.results import AutoRechargeInfo
from jeton.services.ledger import metrics as process_metrics
from jeton.services.ledger.jobs import job
from jeton.services.ledger.results import TransferResult
from jeton.services.ledger.state import PreRead, member_read, wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update
from jeton.store.sql import insert_new
from jeton.store.tables.funding import auto_recharge, purchases, recharge_claims
from jeton.store.tables.ledger import accounts, lots
from jeton.store.transactions import after_commit

if TYPE_CHECKING:
    from jeton.app import Jeton

_US = 1_000_000
# Transfers that take credits from `member_id`: after these the balance may be under threshold.
_DEBITS = frozenset({"spend", "capture", "transfer"})


# ---- settings ----

def set_auto_recharge(j: Jeton, community_id: str, member_id: str, *, pack_id: str,
                      threshold: int, monthly_cap: int, enabled: bool = True,
                      provider: str | None = None,
                      target: int | None = None) -> AutoRechargeInfo:
    """Turn auto-recharge on (or off) for a member. Setting it again clears a failure. With
    `target`, a recharge buys enough of the pack to bring the balance back to it."""
    threshold = amounts.whole_amount(threshold, "threshold")
    if threshold < 0:
        raise InvalidRequest("threshold must not be negative", status=Status.amount_invalid)
    if target is not None and amounts.whole_amount(target, "target") <= threshold:
        raise InvalidRequest("target must be above the threshold",
                             status=Status.amount_invalid)
    if type(monthly_cap) is not int or not 0 <= monthly_cap <= 1_000:
        raise InvalidRequest("monthly_cap must be 0-1000 recharges", status=Status.value_invalid)
    if type(enabled) is not bool:
        raise InvalidRequest("enabled must be true or false", status=Status.value_invalid)
    prov = j.payments.get(provider)

    def tx(ws: WorkSet) -> str:
        conn = ws.conn
        fb.require_member(conn, community_id, member_id)
        pack = offered_pack(conn, community_id, member_id, pack_id, ws.now_us)
        profile = pur.payment_profile(conn, community_id, member_id, prov.name)
        if enabled and (profile is None or not profile.payment_method_id):
            raise InvalidRequest(f"member {member_id!r} has no saved payment method at "
                                 f"{prov.name}: buy a pack saving the method first",
                                 status=Status.value_invalid)
        values = {"enabled": enabled, "threshold": threshold, "pack_id": pack.id,
                  "monthly_cap": monthly_cap, "provider": prov.name, "status": "ok",
                  "last_error": None, "updated_at_us": ws.now_us, "target": target}
        if not insert_new(conn, auto_recharge, ["community_id", "member_id", "asset"],
                             {"community_id": community_id, "member_id": member_id,
                              "asset": pack.asset, "month_key": 0, "month_count": 0,
                              **values}):
            conn.execute(auto_recharge.update().where(*_pk(community_id, member_id, pack.asset))
                         .values(**values))
        if enabled:  # already under the threshold: no need to wait for the next charge
            request_in(ws, member_id, pack.asset)
        return pack.asset

    asset = fb.write_plain(j.ledger, community_id, tx)
    info = get_auto_recharge(j, community_id, member_id, asset=asset)
    if info is None:
        raise InvariantViolation("auto-recharge settings vanished after being written")
    return info


def get_auto_recharge(j: Jeton, community_id: str, member_id: str, *,
                      asset: str = "CREDIT") -> AutoRechargeInfo | None:
    # One statement, so one snapshot: a recharge settling between two reads (its claim
    # deleted and the month's count raised together) was neither in flight nor counted.
    in_flight = sa.exists().where(*_claim_pk(community_id, member_id, asset))
    with j.store.read() as conn:
        row = conn.execute(sa.select(auto_recharge, in_flight.label("in_flight")).where(
            *_pk(community_id, member_id, asset))).mappings().first()
    if row is None:
        return None
    month = fb.month_key(j.ledger.now_us())
    return AutoRechargeInfo(
        member_id=member_id, asset=asset, enabled=bool(row["enabled"]),
        threshold=row["threshold"], pack_id=row["pack_id"], monthly_cap=row["monthly_cap"],
        provider=row["provider"], status=row["status"], last_error=row["last_error"],
        recharges_this_month=row["month_count"] if row["month_key"] == month else 0,
        in_flight=bool(row["in_flight"]), target=row["target"])


# ---- the trigger ----

def recharge_hook(ws: WorkSet, results: list[TransferResult]) -> None:
    """Ledger hook: record a recharge intent for members who fell under their threshold."""
    seen: set[tuple[str, str]] = set()
    for result in results:
        if result.kind in _DEBITS and result.member_id:
            key = (result.member_id, result.asset)
            if key not in seen:
                seen.add(key)
                request_in(ws, *key)


_SETTINGS_FOR_TRIGGER = sa.select(
    auto_recharge.c.enabled, auto_recharge.c.threshold, auto_recharge.c.status,
    auto_recharge.c.monthly_cap, auto_recharge.c.month_key, auto_recharge.c.month_count).where(
    auto_recharge.c.community_id == sa.bindparam("c"),
    auto_recharge.c.member_id == sa.bindparam("m"), auto_recharge.c.asset == sa.bindparam("a"))


_settings_read = member_read("auto_recharge", _SETTINGS_FOR_TRIGGER)


def pre_read(community_id: str, member_id: str, asset: str) -> list[PreRead]:
    """The settings `request_in` reads, sent ahead with a debit's first round trip."""
    return [_settings_read(community_id, member_id, asset)]


def request_in(ws: WorkSet, member_id: str, asset: str) -> bool:
    """Record a recharge intent if the member has auto-recharge on, is under the threshold and
    under the monthly cap. Cheap: one read by primary key, maybe one insert. Also for callers
    that decline a charge for want of credits (the member then gets credits for next time)."""
    conn, cid = ws.conn, ws.community_id
    # On every debit: the compiled statement on the transaction's cursor (decision 0004).
    row = ws.read_ahead(pre_read(cid, member_id, asset)[0])
    if row is None:
        return False
    enabled, threshold, status, cap, month, count = row
    if not enabled or status == "failed":
        return False
    if _available(ws, member_id, asset) >= threshold:
        return False
    if month == fb.month_key(ws.now_us) and count >= cap:
        if status != "cap_reached":  # said once a month, not on every charge
            _cap_reached(ws, member_id, asset, cap)
        return False
    return insert_new(conn, recharge_claims, ["community_id", "member_id", "asset"],
                         {"community_id": cid, "member_id": member_id, "asset": asset,
                          "claim_id": new_id(), "state": "pending", "purchase_id": None,
                          "attempts": 0, "next_attempt_at_us": ws.now_us,
                          "created_at_us": ws.now_us})


def _available(ws: WorkSet, member_id: str, asset: str) -> int:
    """Available credits: posted - pending, less lots expired but not yet swept. From the
    working set when this transaction holds the wallet, else read without locking."""
    aid = wallet_id(member_id, asset)
    acct = ws.loaded(aid)  # the wallet with all its live lots
    if acct is not None:
        stale = sum(lot.remaining for lot in ws.wallet_lots(aid)
                    if lot.remaining > 0 and lot.expires_at_us is not None
                    and lot.expires_at_us <= ws.now_us)
        return acct.posted - acct.pending - stale
    return available_now(ws.conn, ws.community_id, member_id, asset, ws.now_us)


def available_now(conn: Connection, community_id: str, member_id: str, asset: str,
                  now_us: int) -> int:
    aid = wallet_id(member_id, asset)
    row = conn.execute(sa.select(accounts.c.posted, accounts.c.pending).where(
        accounts.c.community_id == community_id, accounts.c.account_id == aid)).first()
    if row is None:
        return 0
    stale = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(lots.c.remaining), 0)).where(
        lots.c.community_id == community_id, lots.c.account_id == aid, lots.c.remaining > 0,
        lots.c.expires_at_us.is_not(None), lots.c.expires_at_us <= now_us)).scalar_one()
    return int(row[0] - row[1] - stale)


# ---- the job ----

@job("recharge.run", 2)
def run_recharges(j: Jeton, community_id: str) -> int:
    """Carry out the recorded recharge intents that are due. Returns how many moved on."""
    now_us = j.ledger.now_us()
    c = recharge_claims.c
    with j.store.read() as conn:
        due = conn.execute(sa.select(c.member_id, c.asset).where(
            c.community_id == community_id, c.next_attempt_at_us <= now_us)
            .order_by(c.next_attempt_at_us).limit(limits.job_batch_size)).all()
    return sum(1 for member_id, asset in due if process_claim(j, community_id, member_id, asset))


def process_claim(j: Jeton, community_id: str, member_id: str, asset: str) -> bool:
    step = fb.write_plain(j.ledger, community_id, lambda ws: _step(ws, j, member_id, asset))
    if isinstance(step, pur.SavedMethodCharge):
        pur.charge_saved_method(j, community_id, step, actor="system:recharge")
        return True
    return step


def _step(ws: WorkSet, j: Jeton, member_id: str, asset: str) -> bool | pur.SavedMethodCharge:
    conn, cid, now = ws.conn, ws.community_id, ws.now_us
    stmt = sa.select(recharge_claims).where(*_claim_pk(cid, member_id, asset))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)  # another worker has it
    claim = conn.execute(stmt).mappings().first()
    if claim is None or claim["next_attempt_at_us"] > now:
        return False
    settings = conn.execute(for_update(sa.select(auto_recharge).where(
        *_pk(cid, member_id, asset)), conn.dialect.name)).mappings().first()
    if claim["state"] == "charging":
        purchase = pur.lock_purchase(conn, cid, claim["purchase_id"])
        if purchase["status"] in ("completed", "failed", "expired"):
            _drop_claim(ws, member_id, asset)
            return True
        if purchase["status"] == "processing":  # the provider's event will settle it
            _retry_later(ws, member_id, asset, claim["attempts"])
            return False
        if claim["attempts"] >= limits.provider_attempts_max:
            from jeton.services.funding.provider_webhooks import failed_in

            failed_in(ws, j, purchase, "provider_unavailable")
            return True
        _retry_later(ws, member_id, asset, claim["attempts"] + 1)
        return _charge_for(ws, j, purchase)
    if settings is None or not settings["enabled"] or settings["status"] == "failed":
        _drop_claim(ws, member_id, asset)
        return True
    month = fb.month_key(now)
    if settings["month_key"] == month and settings["month_count"] >= settings["monthly_cap"]:
        _drop_claim(ws, member_id, asset)
        if settings["status"] != "cap_reached":
            _cap_reached(ws, member_id, asset, settings["monthly_cap"])
        return True
    available = available_now(conn, cid, member_id, asset, now)
    if available >= settings["threshold"]:
        _drop_claim(ws, member_id, asset)  # topped up meanwhile
        return True
    try:
        pack = offered_pack(conn, cid, member_id, settings["pack_id"], now)
    except NotFound:
        _fail_settings(ws, member_id, asset, "pack_unavailable", None)
        _drop_claim(ws, member_id, asset)
        return True
    purchase_id = new_id()
    units = units_to_target(settings["target"], available, pack.credits + pack.bonus_credits)
    conn.execute(purchases.insert().values(
        community_id=cid, purchase_id=purchase_id, member_id=member_id, kind="recharge",
        pack_id=pack.id, provider=settings["provider"], status="charging",
        description=pack.name if units == 1 else f"{units} × {pack.name}", asset=pack.asset,
        credits=pack.credits * units, bonus_credits=pack.bonus_credits * units,
        amount_minor=pack.price_minor * units, currency=pack.currency,
        offer_json=_json({**offer_snapshot(pack), "units": units}), created_at_us=now))
    conn.execute(recharge_claims.update().where(*_claim_pk(cid, member_id, asset)).values(
        state="charging", purchase_id=purchase_id, attempts=1,
        next_attempt_at_us=now + limits.provider_retry_s * _US))
    return _charge_for(ws, j, pur.lock_purchase(conn, cid, purchase_id))


def units_to_target(target: int | None, available: int, per_unit: int) -> int:
    """How many packs of `per_unit` credits bring `available` back to `target`: rounded up to
    whole packs, at least one, at most `recharge_units_max`. No target: one pack."""
    if target is None or per_unit <= 0 or available >= target:
        return 1
    return min(max(1, -(-(target - available) // per_unit)), limits.recharge_units_max)


def _charge_for(ws: WorkSet, j: Jeton, purchase: RowMapping) -> bool | pur.SavedMethodCharge:
    profile = pur.payment_profile(ws.conn, ws.community_id, purchase["member_id"],
                                  purchase["provider"])
    if profile is None or not profile.customer_id or not profile.payment_method_id:
        from jeton.services.funding.provider_webhooks import failed_in

        failed_in(ws, j, purchase, "no_payment_method")
        return True
    return pur.SavedMethodCharge(purchase, profile.customer_id, profile.payment_method_id)


# ---- called when a recharge purchase settles (inside its transaction) ----

def completed_in(ws: WorkSet, purchase: RowMapping) -> None:
    member, asset = purchase["member_id"], purchase["asset"]
    month = fb.month_key(ws.now_us)
    cid = ws.community_id
    ws.conn.execute(auto_recharge.update().where(*_pk(cid, member, asset)).values(
        month_count=sa.case((auto_recharge.c.month_key == month,
                             auto_recharge.c.month_count + 1), else_=1),
        month_key=month, status="ok", last_error=None))
    ws.conn.execute(recharge_claims.delete().where(
        *_claim_pk(cid, member, asset),
        recharge_claims.c.purchase_id == purchase["purchase_id"]))
    after_commit(ws.conn, process_metrics.recharges_total.labels(outcome="succeeded").inc)
    ws.emit("recharge.succeeded", member, {
        "member_id": member, "asset": asset, "purchase_id": purchase["purchase_id"],
        "credits": purchase["credits"], "amount_minor": purchase["amount_minor"],
        "currency": purchase["currency"]})


def failed_in(ws: WorkSet, purchase: RowMapping, reason: str) -> None:
    member, asset = purchase["member_id"], purchase["asset"]
    ws.conn.execute(recharge_claims.delete().where(
        *_claim_pk(ws.community_id, member, asset),
        recharge_claims.c.purchase_id == purchase["purchase_id"]))
    _fail_settings(ws, member, asset, reason, purchase["purchase_id"])


# ---- helpers ----

def _fail_settings(ws: WorkSet, member_id: str, asset: str, reason: str,
                   purchase_id: str | None) -> None:
    ws.conn.execute(auto_recharge.update().where(*_pk(ws.community_id, member_id, asset))
                    .values(status="failed", last_error=reason[:200]))
    after_commit(ws.conn, process_metrics.recharges_total.labels(outcome="failed").inc)
    ws.emit("recharge.failed", member_id, {"member_id": member_id, "asset": asset,
                                           "purchase_id": purchase_id, "reason": reason})


def _cap_reached(ws: WorkSet, member_id: str, asset: str, cap: int) -> None:
    ws.conn.execute(auto_recharge.update().where(*_pk(ws.community_id, member_id, asset))
                    .values(status="cap_reached"))
    ws.emit("recharge.cap_reached", member_id, {"member_id": member_id, "asset": asset,
                                                "monthly_cap": cap})


def _drop_claim(ws: WorkSet, member_id: str, asset: str) -> None:
    ws.conn.execute(recharge_claims.delete().where(*_claim_pk(ws.community_id, member_id,
                                                              asset)))


def _retry_later(ws: WorkSet, member_id: str, asset: str, attempts: int) -> None:
    ws.conn.execute(recharge_claims.update().where(
        *_claim_pk(ws.community_id, member_id, asset)).values(
        attempts=attempts, next_attempt_at_us=ws.now_us + limits.provider_retry_s * _US))


def _pk(community_id: str, member_id: str, asset: str) -> tuple[Any, ...]:
    a = auto_recharge.c
    return a.community_id == community_id, a.member_id == member_id, a.asset == asset


def _claim_pk(community_id: str, member_id: str, asset: str) -> tuple[Any, ...]:
    c = recharge_claims.c
    return c.community_id == community_id, c.member_id == member_id, c.asset == asset


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value)
