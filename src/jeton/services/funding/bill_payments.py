"""Paying a post-pay bill: one payment through the provider, and the suspended credit line.

A bill is paid by a purchase of kind `bill` (its `offer_json` names the bill), so it goes through
the same provider paths as any purchase: a hosted checkout (`pay_bill`, a link the member
follows) or the member's saved payment method charged off-session (`collect`, right after the
bill is issued). When the provider confirms the payment, `purchases.complete_in` posts the money
and calls `paid_in`, which in the same transaction grants the bill's credits to the wallet from
issuance as one paid lot (cost basis: the money paid): credits coming in repay the credit line
first (decision 0008), so the wallet is back where it was before the billed charges. The bill is
then marked paid by a conditional update; `bill.paid` tells the host app. A payment that fails
counts on the bill and says `bill.payment_failed`; the member may pay again with a checkout.

`credit_line_hook` is a ledger hook: a debit that draws on the credit line of a member with a
bill open past its due date is refused inside the write with `credit_line_suspended`. Credits of
the member's own still pay; paying the bill lifts the suspension at once (decision 0070).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core.errors import Conflict, CreditLineSuspended, InvalidRequest, invariant
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.core.transfers import TransferKind
from jeton.services.funding import base as fb
from jeton.services.funding import bills as bl
from jeton.services.funding import purchases as pur
from jeton.services.funding.results import Checkout
from jeton.services.ledger.results import TransferResult
from jeton.services.ledger.state import Header, LotSpec, system_id, wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.tables.bills import bills
from jeton.store.tables.funding import purchases

if TYPE_CHECKING:
    from jeton.app import Jeton

# Debits a suspension stops: what the member does. Staff's charges and refunds are not stopped.
MEMBER_KINDS = frozenset({"spend", "capture", "transfer"})
STAFF_REASONS = frozenset({"staff_charge", "refund"})
SOURCE = "bill"  # the lot source of a paid bill's credits


# ---- paying ----

def pay_bill(j: Jeton, community_id: str, bill_id: str, *, provider: str | None = None,
             success_url: str | None = None, cancel_url: str | None = None,
             save_payment_method: bool = False) -> Checkout:
    """A hosted checkout for an open bill. Asking again while its checkout is open answers the
    same checkout (two clicks make one payment); a paid bill is a conflict (`bill_paid`), and
    so is one paid while this call ran (a late payment of an expired checkout, say): a new
    purchase is made only under the bill's lock, while it is open and its last attempt is the
    one judged here."""
    with j.store.snapshot() as conn:  # the bill and its last attempt as of one moment
        row = bl.find_bill(conn, community_id, bill_id)
        settings = bl.billing_settings(conn, community_id, row["asset"])
        attempt = _attempt(conn, community_id, row["purchase_id"])
    _refuse_paid(row)
    if attempt is not None and attempt["status"] == "pending" \
            and attempt["session_id"] is not None:
        return pur.checkout_of(attempt, True)
    if attempt is not None and attempt["status"] in ("charging", "processing"):
        raise _in_flight(row)
    prov = j.payments.get(provider or (settings.provider if settings else None))
    success_url, cancel_url = pur.return_urls(j, prov, success_url, cancel_url)
    if type(save_payment_method) is not bool:
        raise InvalidRequest("save_payment_method must be true or false",
                             status=Status.value_invalid)
    # One key per bill and per attempt before it: two clicks make the same purchase.
    key = f"jeton:bill:{bill_id}:after:{row['purchase_id'] or 'none'}"
    request = {"bill": bill_id, "provider": prov.name}

    def columns(conn: Connection, _now_us: int) -> dict[str, Any]:
        now = bl.find_bill(conn, community_id, bill_id, lock=True)
        _refuse_paid(now)
        if now["purchase_id"] != row["purchase_id"]:  # another attempt began meanwhile
            raise _in_flight(now)
        return _purchase_columns(row)

    opened, replayed = pur.open_purchase(
        j, community_id, row["member_id"], key, request, prov.name, columns, kind="bill")
    j.store.run_write(lambda conn: _attach(conn, community_id, bill_id, opened["purchase_id"]))
    return pur.start_checkout(j, community_id, opened, success_url=success_url,
                              cancel_url=cancel_url, save_payment_method=save_payment_method,
                              replayed=replayed)


def _refuse_paid(row: RowMapping) -> None:
    if row["status"] == "paid":
        raise Conflict(f"bill {bl.number_text(row['number'])} is paid already",
                       status=Status.conflict, reason="bill_paid")


def _in_flight(row: RowMapping) -> Conflict:
    return Conflict(f"a payment of bill {bl.number_text(row['number'])} is under way",
                    status=Status.conflict, reason="payment_in_flight")


def collect(j: Jeton, community_id: str, bill_id: str) -> bool:
    """Charge an open bill to the member's saved payment method, off-session. False when the
    member has none (they pay with a checkout link) or a payment is already under way."""
    step = fb.write_plain(j.ledger, community_id, lambda ws: _collect_in(ws, j, bill_id))
    if step is None:
        return False
    pur.charge_saved_method(j, community_id, step, actor="system:bill")
    return True


def _collect_in(ws: WorkSet, j: Jeton, bill_id: str) -> pur.SavedMethodCharge | None:
    conn, cid = ws.conn, ws.community_id
    row = bl.find_bill(conn, cid, bill_id, lock=True)
    attempt = _attempt(conn, cid, row["purchase_id"])
    if row["status"] != "open" or (attempt is not None
                                   and attempt["status"] in pur.OPEN_STATUSES):
        return None
    settings = bl.billing_settings(conn, cid, row["asset"])
    prov = j.payments.get(settings.provider if settings else None)
    profile = pur.payment_profile(conn, cid, row["member_id"], prov.name)
    if profile is None or not profile.customer_id or not profile.payment_method_id:
        return None
    purchase_id = new_id()
    conn.execute(purchases.insert().values(
        community_id=cid, purchase_id=purchase_id, member_id=row["member_id"], kind="bill",
        provider=prov.name, status="charging", created_at_us=ws.now_us,
        **_purchase_columns(row)))
    _attach(conn, cid, bill_id, purchase_id)
    return pur.SavedMethodCharge(pur.lock_purchase(conn, cid, purchase_id),
                                 profile.customer_id, profile.payment_method_id)


def _purchase_columns(row: RowMapping) -> dict[str, Any]:
    return {"description": f"Bill {bl.number_text(row['number'])}", "asset": row["asset"],
            "credits": row["credits_due"], "bonus_credits": 0,
            "amount_minor": row["amount_minor"], "currency": row["currency"],
            "offer_json": json.dumps({"bill_id": row["bill_id"]})}


def _attach(conn: Connection, community_id: str, bill_id: str, purchase_id: str) -> None:
    conn.execute(bills.update().where(
        bills.c.community_id == community_id, bills.c.bill_id == bill_id,
        bills.c.status == "open").values(purchase_id=purchase_id))


def _attempt(conn: Connection, community_id: str, purchase_id: str | None) -> RowMapping | None:
    if purchase_id is None:
        return None
    return conn.execute(sa.select(purchases).where(
        purchases.c.community_id == community_id,
        purchases.c.purchase_id == purchase_id)).mappings().first()


# ---- settling (inside the purchase's completing or failing transaction) ----

def paid_in(ws: WorkSet, j: Jeton, purchase: RowMapping, actor: str) -> str:
    """Grant the bill's credits (repaying the credit line) and mark the bill paid. Returns the
    grant's transfer id. A second payment of a bill already paid (two checkouts both paid)
    still grants its credits: the member paid for them, they stay in the wallet."""
    bill_id = json.loads(purchase["offer_json"])["bill_id"]
    row = bl.find_bill(ws.conn, ws.community_id, bill_id, lock=True)
    member, asset = row["member_id"], row["asset"]
    meta = {"bill_id": bill_id, "number": bl.number_text(row["number"]),
            "purchase_id": purchase["purchase_id"]}
    header = Header(TransferKind.grant, asset, member_id=member, actor=actor,
                    reason_code="bill_paid", memo=purchase["description"], metadata=meta)
    spec = LotSpec(source=SOURCE, paid=True, cost_minor=purchase["amount_minor"],
                   cost_currency=purchase["currency"])
    grant = j.ledger.apply_grant(ws, header, member, purchase["credits"], spec,
                                 system_id("issuance", asset))
    if row["status"] == "open":
        done = ws.conn.execute(bills.update().where(
            bills.c.community_id == ws.community_id, bills.c.bill_id == bill_id,
            bills.c.status == "open").values(
            status="paid", paid_at_us=ws.now_us, purchase_id=purchase["purchase_id"],
            grant_transfer_id=grant.id))
        invariant(done.rowcount == 1, f"bill {bill_id} changed while locked")
        paid = bl.find_bill(ws.conn, ws.community_id, bill_id)
        ws.emit("bill.paid", member, {**bl.event_payload(paid, ws.now_us),
                                      "purchase_id": purchase["purchase_id"],
                                      "grant_transfer_id": grant.id})
    return grant.id


def payment_failed_in(ws: WorkSet, purchase: RowMapping, reason: str) -> None:
    bill_id = json.loads(purchase["offer_json"])["bill_id"]
    row = bl.find_bill(ws.conn, ws.community_id, bill_id, lock=True)
    if row["status"] != "open":
        return
    ws.conn.execute(bills.update().where(
        bills.c.community_id == ws.community_id, bills.c.bill_id == bill_id).values(
        failures=bills.c.failures + 1, last_failure=reason[:200]))
    ws.emit("bill.payment_failed", row["member_id"], {
        **bl.event_payload(row, ws.now_us), "purchase_id": purchase["purchase_id"],
        "reason": reason[:200]})


# ---- the suspended credit line ----

# Charging's `suspension_query` (services/charging/hooks.py): the number of the member's first
# bill open past its due date, which `check` turns into `credit_line_suspended`.
SUSPENSION_QUERY = sa.select(bills.c.number).where(
    bills.c.community_id == sa.bindparam("c"), bills.c.member_id == sa.bindparam("m"),
    bills.c.asset == sa.bindparam("a"), bills.c.status == sa.literal_column("'open'"),
    bills.c.due_at_us <= sa.bindparam("now")).order_by(bills.c.number).limit(1)

def credit_line_hook(ws: WorkSet, results: list[TransferResult]) -> None:
    """Ledger hook: refuse a member's debit that drew on a suspended credit line."""
    for r in results:
        if r.kind not in MEMBER_KINDS or not r.member_id or r.reason_code in STAFF_REASONS:
            continue
        wid = wallet_id(r.member_id, r.asset)
        owed = ws.overdraft_lot(wid) if wid in ws.accounts else None
        if owed is None or not any(m.lot_id == owed.id and m.amount < 0 for m in r.lots):
            continue  # paid from the member's own credits
        b = bills.c
        overdue = ws.conn.execute(sa.select(b.number).where(
            b.community_id == ws.community_id, b.member_id == r.member_id,
            b.asset == r.asset, b.status == "open", b.due_at_us <= ws.now_us)
            .order_by(b.number).limit(1)).scalar_one_or_none()
        if overdue is not None:
            raise CreditLineSuspended(
                f"the credit line of {r.member_id!r} is suspended: bill "
                f"{bl.number_text(overdue)} is past due", member=r.member_id,
                bill=bl.number_text(overdue))

