"""Buying credits for money through a payment provider: purchases, checkouts, completion.

1. `buy_pack` records a pending purchase (idempotent per client key), then opens the provider's
   hosted checkout for it (outside any database transaction), then stores the session.
2. The provider confirms the payment: a verified webhook (`provider_webhooks`), the offline
   provider's record of a check, or an off-session charge that succeeded (auto-recharge, plan
   renewals). `complete_in` then grants everything in ONE transaction: the paid lot (cost basis
   = the money paid), the bonus lot (free), classes and keys, the money itself (clearing →
   deferred in the currency's asset), the `purchase.completed` event, and the purchase marked
   completed by a conditional update. A key `jeton:purchase-completed:<id>` in the idempotency
   table makes a second completion impossible even for code that skipped the status check.
3. A purchase nobody paid for is marked expired by the `purchases.expire` job. If its money
   arrives after all (the member paid in the last second), it is still completed: the member
   paid, so they get what they paid for.

Only provider ids are stored (session, payment, customer, payment method).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core import amounts, limits
from jeton.core.clock import from_us
from jeton.core.errors import IdempotencyConflict, InvalidRequest, NotFound, invariant
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.core.transfers import TransferKind
from jeton.payments import _validate
from jeton.payments._local import LocalProvider
from jeton.payments.errors import ProviderRejected
from jeton.payments.offline import OfflineProvider
from jeton.services.access.audit import record_audit
from jeton.services.charging.access_grants import grant_class, grant_key
from jeton.services.funding import base as fb
from jeton.services.funding.packs import offer_snapshot, offered_pack
from jeton.services.funding.results import Checkout, PaymentProfile, PurchaseInfo
from jeton.services.ledger.idempotency import claim, conflict_detail, request_hash
from jeton.services.ledger.jobs import job
from jeton.services.ledger.results import Page
from jeton.services.ledger.state import Header, LotSpec, system_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update, is_unique_violation
from jeton.store.sql import insert_ignore
from jeton.store.tables.funding import billing_profiles, purchases

if TYPE_CHECKING:
    from jeton.app import Jeton
    from jeton.payments.port import PaymentProvider

CHECKOUT_KINDS = ("pack", "plan", "bill")  # paid on a hosted page
# Charged to a saved payment method; a bill is paid either way (bill_payments.py).
OFF_SESSION_KINDS = ("recharge", "renewal", "bill")
OPEN_STATUSES = ("pending", "charging", "processing")


# ---- buying ----

def buy_pack(j: Jeton, community_id: str, member_id: str, pack_id: str, *,
             idempotency_key: str, success_url: str | None = None,
             cancel_url: str | None = None, provider: str | None = None,
             save_payment_method: bool = False) -> Checkout:
    """Start buying a pack: a pending purchase and the provider's hosted checkout for it.

    The same key returns the same checkout (asking the provider again if the first attempt did
    not reach it). Credits are granted only when the provider confirms the payment.
    """
    key = amounts.idempotency_key(idempotency_key)
    prov = j.payments.get(provider)
    success_url, cancel_url = return_urls(j, prov, success_url, cancel_url)
    if type(save_payment_method) is not bool:
        raise InvalidRequest("save_payment_method must be true or false",
                             status=Status.value_invalid)
    request = {"member": member_id, "pack": pack_id, "provider": prov.name,
               "save": save_payment_method, "success": success_url, "cancel": cancel_url}

    def make(conn: Connection, now_us: int) -> dict[str, Any]:
        pack = offered_pack(conn, community_id, member_id, pack_id, now_us)
        return {"kind": "pack", "pack_id": pack.id, "description": pack.name,
                "asset": pack.asset, "credits": pack.credits, "bonus_credits": pack.bonus_credits,
                "amount_minor": pack.price_minor, "currency": pack.currency,
                "offer_json": json.dumps(offer_snapshot(pack))}

    row, replayed = open_purchase(j, community_id, member_id, key, request, prov.name, make)
    return start_checkout(j, community_id, row, success_url=success_url, cancel_url=cancel_url,
                          save_payment_method=save_payment_method, replayed=replayed)


def return_urls(j: Jeton, prov: PaymentProvider, success_url: str | None,
                cancel_url: str | None) -> tuple[str, str]:
    """Where the checkout page sends the member back. Stripe's page needs both; Jeton's own
    page for the demo and offline providers (web/checkout.py) says how it went by itself
    when they are left out (decision 0046)."""
    if success_url is None or cancel_url is None:
        if not isinstance(prov, LocalProvider):
            raise InvalidRequest(f"success_url and cancel_url are required with provider "
                                 f"{prov.name!r}: its checkout page sends the member back there",
                                 status=Status.value_invalid)
        done = f"{j.settings.public_url.rstrip('/')}/pay/done"
        success_url = success_url or f"{done}?result=paid"
        cancel_url = cancel_url or f"{done}?result=canceled"
    return _validate.url(success_url, "success_url"), _validate.url(cancel_url, "cancel_url")


def open_purchase(j: Jeton, community_id: str, member_id: str, key: str,
                  request: dict[str, Any], provider: str,
                  make: Callable[[Connection, int], dict[str, Any]],
                  **extra: Any) -> tuple[RowMapping, bool]:
    """Insert a pending purchase for `key` (or find the one made by an earlier call with it).

    `make(conn, now_us)` checks what is bought and returns its columns. Returns the row and
    whether it already existed.
    """
    stored_request = request_hash("purchase", request)

    def tx(conn: Connection) -> tuple[RowMapping, bool]:
        fb.require_community(conn, community_id)
        existing = conn.execute(sa.select(purchases).where(
            purchases.c.community_id == community_id,
            purchases.c.request_key == key)).mappings().first()
        if existing is not None:
            meta = json.loads(existing["offer_json"])
            if meta.get("request_hash") != stored_request:
                raise IdempotencyConflict(conflict_detail(key, "purchase", "purchase"),
                                          key=key)
            return existing, True
        now_us = j.ledger.now_us()
        claim(conn, community_id, key, "purchase", stored_request, now_us)
        fb.require_member(conn, community_id, member_id)
        columns = make(conn, now_us)
        offer = json.loads(columns.pop("offer_json", "{}"))
        offer["request_hash"] = stored_request
        purchase_id = new_id()
        conn.execute(purchases.insert().values(
            community_id=community_id, purchase_id=purchase_id, member_id=member_id,
            provider=provider, status="pending", request_key=key,
            offer_json=json.dumps(offer), created_at_us=now_us,
            expires_at_us=now_us + limits.purchase_pending_ttl_s * 1_000_000,
            **columns, **extra))
        return lock_purchase(conn, community_id, purchase_id), False

    for attempt in range(2):
        try:
            return j.store.run_write(tx)
        except sa.exc.IntegrityError as exc:  # the same key, concurrently: find its purchase
            if attempt == 0 and is_unique_violation(exc):
                continue
            raise
    raise AssertionError("unreachable")


def start_checkout(j: Jeton, community_id: str, row: RowMapping, *, success_url: str,
                   cancel_url: str, save_payment_method: bool, replayed: bool) -> Checkout:
    """Open (or find again) the provider's checkout for a pending purchase."""
    if row["session_id"] is not None or row["status"] not in ("pending",):
        return checkout_of(row, replayed)
    prov = j.payments.get(row["provider"])
    with j.store.read() as conn:
        profile = payment_profile(conn, community_id, row["member_id"], prov.name)
    made = prov.create_checkout(
        community_id=community_id, member_id=row["member_id"], purchase_id=row["purchase_id"],
        description=row["description"], amount_minor=row["amount_minor"],
        currency=row["currency"], success_url=success_url, cancel_url=cancel_url,
        save_payment_method=save_payment_method,
        customer_id=profile.customer_id if profile else None)
    now_us = j.ledger.now_us()

    def tx(conn: Connection) -> RowMapping:
        # Only the session fields: a provider that confirms at once (the demo provider) may
        # have completed the purchase already.
        conn.execute(purchases.update().where(
            purchases.c.community_id == community_id,
            purchases.c.purchase_id == row["purchase_id"],
            purchases.c.session_id.is_(None)).values(
            session_id=made.session_id, checkout_url=made.url,
            customer_id=sa.func.coalesce(purchases.c.customer_id, made.customer_id)))
        if made.customer_id:
            save_profile(conn, community_id, row["member_id"], prov.name, now_us,
                         customer_id=made.customer_id)
        return lock_purchase(conn, community_id, row["purchase_id"])

    return checkout_of(j.store.run_write(tx), replayed)


def checkout_of(row: RowMapping, replayed: bool) -> Checkout:
    return Checkout(purchase_id=row["purchase_id"], provider=row["provider"],
                    session_id=row["session_id"], url=row["checkout_url"], status=row["status"],
                    amount_minor=row["amount_minor"], currency=row["currency"],
                    replayed=replayed)


# ---- completing ----

def complete_in(ws: WorkSet, j: Jeton, row: RowMapping, *, actor: str,
                payment_id: str | None = None, customer_id: str | None = None,
                payment_method_id: str | None = None) -> bool:
    """Grant a paid purchase, inside the caller's transaction (the purchase row locked).

    Returns False when it was already completed: a replay changes nothing.
    """
    if row["status"] == "completed":
        return False
    conn, cid, pid = ws.conn, ws.community_id, row["purchase_id"]
    done = conn.execute(purchases.update().where(
        purchases.c.community_id == cid, purchases.c.purchase_id == pid,
        purchases.c.status == row["status"]).values(
        status="completed", completed_at_us=ws.now_us, failure_reason=None,
        payment_id=sa.func.coalesce(payment_id, purchases.c.payment_id),
        customer_id=sa.func.coalesce(customer_id, purchases.c.customer_id),
        payment_method_id=sa.func.coalesce(payment_method_id, purchases.c.payment_method_id)))
    invariant(done.rowcount == 1, f"purchase {pid} changed while locked")
    # The database's own guard: this key can be claimed once per purchase.
    ws.remember_key(f"jeton:purchase-completed:{pid}", "purchase.complete",
                    request_hash("purchase.complete", {"purchase": pid}), "{}")
    member = row["member_id"]
    meta = {"purchase_id": pid, "provider": row["provider"]}
    money = fb.post_money(ws, row["currency"], row["amount_minor"], refund=False,
                          member_id=member, actor=actor, reason_code="purchase",
                          memo=row["description"], metadata={**meta, "payment_id": payment_id})
    ids: dict[str, Any] = {"money_transfer_id": money.id}
    if row["kind"] in ("pack", "recharge"):
        ids.update(_grant_pack(ws, j, row, actor, meta))
    elif row["kind"] == "bill":
        from jeton.services.funding import bill_payments

        ids["grant_transfer_id"] = bill_payments.paid_in(ws, j, row, actor)
    else:
        from jeton.services.funding import renewals

        ids["grant_transfer_id"] = renewals.cycle_paid_in(ws, j, row, actor=actor)
    conn.execute(purchases.update().where(purchases.c.community_id == cid,
                                          purchases.c.purchase_id == pid).values(**ids))
    if customer_id or payment_method_id:
        save_profile(conn, cid, member, row["provider"], ws.now_us, customer_id=customer_id,
                     payment_method_id=payment_method_id)
    ws.emit("purchase.completed", member, {
        "purchase_id": pid, "member_id": member, "kind": row["kind"], "pack_id": row["pack_id"],
        "subscription_id": row["subscription_id"], "credits": row["credits"],
        "bonus_credits": row["bonus_credits"], "asset": row["asset"],
        "amount_minor": row["amount_minor"], "currency": row["currency"],
        "provider": row["provider"]})
    if row["kind"] == "recharge":
        from jeton.services.funding import recharge

        recharge.completed_in(ws, row)
    return True


def _grant_pack(ws: WorkSet, j: Jeton, row: RowMapping, actor: str,
                meta: dict[str, Any]) -> dict[str, Any]:
    offer = json.loads(row["offer_json"])
    asset, member, now = row["asset"], row["member_id"], ws.now_us
    source = "recharge" if row["kind"] == "recharge" else "purchase"
    header = Header(TransferKind.grant, asset, member_id=member, actor=actor,
                    reason_code=source, memo=row["description"], metadata=meta)
    paid = LotSpec(source=source, paid=True, cost_minor=row["amount_minor"],
                   cost_currency=row["currency"],
                   expires_at_us=fb.expiry_after(now, offer.get("credit_expiry_days")))
    ids: dict[str, Any] = {}
    grant = j.ledger.apply_grant(ws, header, member, row["credits"], paid,
                                 system_id("issuance", asset))
    ids["grant_transfer_id"] = grant.id
    if row["bonus_credits"]:
        bonus = LotSpec(source="bonus",
                        expires_at_us=fb.expiry_after(now, offer.get("bonus_expiry_days")))
        bonus_header = Header(TransferKind.grant, asset, member_id=member, actor=actor,
                              reason_code="bonus", memo=row["description"], metadata=meta)
        ids["bonus_transfer_id"] = j.ledger.apply_grant(
            ws, bonus_header, member, row["bonus_credits"], bonus,
            system_id("promotions", asset)).id
    for e in offer.get("classes", []):
        grant_class(ws.conn, ws.community_id, member, e["name"],
                    expires_at_us=fb.expiry_after(now, e.get("days")), now_us=now,
                    source=source)
    for e in offer.get("keys", []):
        grant_key(ws.conn, ws.community_id, member, e["name"],
                  expires_at_us=fb.expiry_after(now, e.get("days")), now_us=now, source=source)
    return ids


def fail_in(ws: WorkSet, row: RowMapping, status: str, reason: str) -> bool:
    """Mark an open purchase failed or expired; False if it is no longer open."""
    if row["status"] not in OPEN_STATUSES:
        return False
    done = ws.conn.execute(purchases.update().where(
        purchases.c.community_id == ws.community_id,
        purchases.c.purchase_id == row["purchase_id"],
        purchases.c.status == row["status"]).values(status=status, failure_reason=reason[:200]))
    return bool(done.rowcount)


def record_offline_payment(j: Jeton, community_id: str, purchase_id: str, *, reference: str,
                           actor: str = "staff") -> PurchaseInfo:
    """Staff confirm that the money for an offline purchase arrived ("check 1042 from Ann").

    The offline provider makes the signed `checkout_completed` event from the purchase as
    recorded here (so this works after a restart too) and it goes through the webhook path like
    any provider's. Recording it again changes nothing.
    """
    from jeton.services.funding import provider_webhooks

    note = _validate.text(reference, "reference", 200)
    with j.store.read() as conn:
        row = find_purchase(conn, community_id, purchase_id)
    prov = j.payments.get(row["provider"])
    if not isinstance(prov, OfflineProvider):
        raise InvalidRequest(f"purchase {purchase_id} is paid through {row['provider']}, "
                             "not offline", status=Status.value_invalid)
    if row["status"] == "completed":
        return purchase_info(row)

    def note_reference(conn: Connection) -> None:
        conn.execute(purchases.update().where(
            purchases.c.community_id == community_id,
            purchases.c.purchase_id == purchase_id).values(reference=note))
        record_audit(conn, community_id, actor.removeprefix("staff:"),
                     "purchase.offline_payment_recorded", target=purchase_id,
                     detail={"reference": note, "member_id": row["member_id"],
                             "amount_minor": row["amount_minor"], "currency": row["currency"]})

    j.store.run_write(note_reference)
    try:
        webhook = prov.record_payment(
            community_id=community_id, member_id=row["member_id"], purchase_id=purchase_id,
            amount_minor=row["amount_minor"], currency=row["currency"], reference=note)
    except ProviderRejected:
        # Recorded already by this process (a double click): its event was handled then.
        return get_purchase(j, community_id, purchase_id)
    provider_webhooks.handle_provider_webhook(j, prov.name, webhook.payload, webhook.headers)
    return get_purchase(j, community_id, purchase_id)


# ---- reads ----

def get_purchase(j: Jeton, community_id: str, purchase_id: str) -> PurchaseInfo:
    with j.store.read() as conn:
        return purchase_info(find_purchase(conn, community_id, purchase_id))


def list_purchases(j: Jeton, community_id: str, member_id: str | None = None, *,
                   limit: int = limits.page_size_default,
                   starting_after: str | None = None) -> Page[PurchaseInfo]:
    """Purchases newest first (ids are time-ordered), optionally of one member."""
    if type(limit) is not int or not 1 <= limit <= limits.page_size_max:
        raise InvalidRequest(f"limit must be 1-{limits.page_size_max}",
                             status=Status.value_invalid)
    p = purchases.c
    stmt = sa.select(purchases).where(p.community_id == community_id)
    if member_id is not None:
        stmt = stmt.where(p.member_id == member_id)
    if starting_after:
        stmt = stmt.where(p.purchase_id < starting_after)
    with j.store.read() as conn:
        rows = conn.execute(stmt.order_by(p.purchase_id.desc()).limit(limit + 1)).mappings().all()
    data = [purchase_info(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(data=data, has_more=more, next_cursor=data[-1].id if more else None)


def find_purchase(conn: Connection, community_id: str, purchase_id: str) -> RowMapping:
    row = conn.execute(sa.select(purchases).where(
        purchases.c.community_id == community_id,
        purchases.c.purchase_id == purchase_id)).mappings().first()
    if row is None:
        raise NotFound(f"no purchase {purchase_id!r}", status=Status.not_found)
    return row


def lock_purchase(conn: Connection, community_id: str, purchase_id: str) -> RowMapping:
    """The purchase row, locked for the rest of the transaction (PostgreSQL)."""
    stmt = sa.select(purchases).where(purchases.c.community_id == community_id,
                                      purchases.c.purchase_id == purchase_id)
    row = conn.execute(for_update(stmt, conn.dialect.name)).mappings().first()
    if row is None:
        raise NotFound(f"no purchase {purchase_id!r}", status=Status.not_found)
    return row


def purchase_info(row: RowMapping) -> PurchaseInfo:
    return PurchaseInfo(
        id=row["purchase_id"], member_id=row["member_id"], kind=row["kind"],
        pack_id=row["pack_id"], subscription_id=row["subscription_id"],
        provider=row["provider"], status=row["status"], description=row["description"],
        asset=row["asset"], credits=row["credits"], bonus_credits=row["bonus_credits"],
        amount_minor=row["amount_minor"], currency=row["currency"],
        refunded_minor=row["refunded_minor"], credits_taken_back=row["credits_taken_back"],
        session_id=row["session_id"], payment_id=row["payment_id"], reference=row["reference"],
        failure_reason=row["failure_reason"], grant_transfer_id=row["grant_transfer_id"],
        bonus_transfer_id=row["bonus_transfer_id"], money_transfer_id=row["money_transfer_id"],
        created_at=from_us(row["created_at_us"]),
        completed_at=from_us(row["completed_at_us"]) if row["completed_at_us"] else None)


# ---- saved payment methods ----

def payment_profile(conn: Connection, community_id: str, member_id: str,
                    provider: str) -> PaymentProfile | None:
    b = billing_profiles.c
    row = conn.execute(sa.select(b.customer_id, b.payment_method_id).where(
        b.community_id == community_id, b.member_id == member_id,
        b.provider == provider)).first()
    if row is None:
        return None
    return PaymentProfile(member_id=member_id, provider=provider, customer_id=row[0],
                          payment_method_id=row[1])


def get_payment_profile(j: Jeton, community_id: str, member_id: str,
                        provider: str | None = None) -> PaymentProfile | None:
    """The member's customer and saved method at `provider` (the default one when None), or
    None if they have none there. Ids only: Jeton never learns a card's brand or digits."""
    name = j.payments.get(provider).name
    with j.store.read() as conn:
        return payment_profile(conn, community_id, member_id, name)


def save_profile(conn: Connection, community_id: str, member_id: str, provider: str,
                 now_us: int, *, customer_id: str | None = None,
                 payment_method_id: str | None = None) -> None:
    """Remember the member's provider customer and saved method (ids only)."""
    b = billing_profiles.c
    conn.execute(insert_ignore(conn.dialect.name, billing_profiles,
                               ["community_id", "member_id", "provider"]),
                 {"community_id": community_id, "member_id": member_id, "provider": provider,
                  "customer_id": None, "payment_method_id": None, "updated_at_us": now_us})
    values: dict[str, Any] = {"updated_at_us": now_us}
    if customer_id:
        values["customer_id"] = customer_id
    if payment_method_id:
        values["payment_method_id"] = payment_method_id
    conn.execute(billing_profiles.update().where(
        b.community_id == community_id, b.member_id == member_id,
        b.provider == provider).values(**values))


def set_payment_method(j: Jeton, community_id: str, member_id: str, *, provider: str,
                       customer_id: str, payment_method_id: str) -> PaymentProfile:
    """Attach a payment method the host app saved at the provider itself (ids only)."""
    name = j.payments.get(provider).name
    _validate.provider_id(customer_id, "customer_id")
    _validate.provider_id(payment_method_id, "payment_method_id")
    now_us = j.ledger.now_us()

    def tx(conn: Connection) -> None:
        fb.require_member(conn, community_id, member_id)
        save_profile(conn, community_id, member_id, name, now_us, customer_id=customer_id,
                     payment_method_id=payment_method_id)

    j.store.run_write(tx)
    return PaymentProfile(member_id=member_id, provider=name, customer_id=customer_id,
                          payment_method_id=payment_method_id)


# ---- jobs ----

@job("purchases.expire", 60)
def expire_stale(j: Jeton, community_id: str) -> int:
    """Mark purchases nobody paid for as expired (their checkout has closed)."""
    now_us = j.ledger.now_us()
    p = purchases.c

    def tx(ws: WorkSet) -> int:
        due = ws.conn.execute(sa.select(p.purchase_id).where(
            p.community_id == community_id, p.status == "pending",
            p.expires_at_us <= now_us).limit(limits.job_batch_size)).scalars().all()
        count = 0
        for purchase_id in due:
            row = lock_purchase(ws.conn, community_id, purchase_id)
            if fail_in(ws, row, "expired", "checkout_expired"):
                count += 1
                if row["kind"] == "plan":
                    from jeton.services.funding import renewals

                    renewals.checkout_abandoned_in(ws, row)
        return count

    total = 0
    while done := fb.write_plain(j.ledger, community_id, tx, now_us=now_us):
        total += done
    return total


# ---- off-session charges (auto-recharge, plan renewals) ----

@dataclass(frozen=True, slots=True)
class SavedMethodCharge:
    """A purchase to charge to the member's saved payment method, outside any transaction."""

    purchase: RowMapping
    customer_id: str
    payment_method_id: str


def charge_saved_method(j: Jeton, community_id: str, charge: SavedMethodCharge, *,
                        actor: str) -> None:
    """Charge the provider off-session (no transaction is open while it answers), then record
    the outcome in a transaction of its own: paid, still processing, or failed. If the
    provider cannot be reached the purchase stays `charging` and the next job pass asks again
    with the same idempotency key."""
    from jeton.payments.errors import PaymentError, ProviderUnavailable
    from jeton.payments.port import ChargeStatus
    from jeton.services.funding.provider_webhooks import failed_in

    row = charge.purchase
    provider = j.payments.get(row["provider"])
    try:
        result = provider.charge_saved_method(
            customer_id=charge.customer_id, payment_method_id=charge.payment_method_id,
            amount_minor=row["amount_minor"], currency=row["currency"],
            purchase_id=row["purchase_id"],
            idempotency_key=f"jeton:{community_id}:{row['purchase_id']}:charge",
            community_id=community_id, member_id=row["member_id"])
        status, reason = result.status, result.failure_reason
        payment_id = result.provider_payment_id
    except ProviderUnavailable:
        return
    except PaymentError as exc:
        status, reason, payment_id = ChargeStatus.failed, exc.detail[:200], None

    def tx(ws: WorkSet) -> None:
        locked = lock_purchase(ws.conn, community_id, row["purchase_id"])
        if status is ChargeStatus.succeeded:
            complete_in(ws, j, locked, actor=actor, payment_id=payment_id)
        elif status is ChargeStatus.processing:
            ws.conn.execute(purchases.update().where(
                purchases.c.community_id == community_id,
                purchases.c.purchase_id == row["purchase_id"],
                purchases.c.status == "charging").values(status="processing",
                                                        payment_id=payment_id))
        else:
            failed_in(ws, j, locked, reason or status.value)

    fb.write_plain(j.ledger, community_id, tx)

