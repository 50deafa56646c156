"""Refunds: money back in cash, money back as credits, and charges back to their lots.

- `refund_purchase` (cash, through the provider): first, in one transaction, the purchase's
  unspent credits are taken back from the very lots it filled (paid credits to issuance, bonus
  credits to promotions) and the refund is recorded as pending; then the provider is asked
  (outside any transaction, with the refund's id as idempotency key); then the money is posted
  back (deferred → clearing). If the provider refuses, the credits go back into the same lots.
  Paid credits are taken back in proportion to the money: refunding $30 of a $60 pack of 20
  credits takes back 10. If the member has already spent (or let expire) credits that the
  refund would take back, the refund is refused with `reversal_insufficient`, saying the most
  that can still be refunded in cash; `refund_as_credits` is the remedy for the rest
  (docs/decisions/0010). Bonus credits are taken back in the same
  proportion as far as they are left; spent bonus credits never block a refund.
- `refund_as_credits`: the money stays; the purchase's unspent credits (in proportion) are taken
  back and permanent paid credits worth the refunded money are granted instead (cost basis = the
  money), so the money backs one set of credits, never two.
- `refund_charge`: a charge given back to the lots it came from, with their expiry and paid
  status (the ledger's reversal).
- A refund made at the provider directly (its dashboard) arrives as a `refunded` event:
  `external_refund_in` records it and takes back what it can of the unspent credits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from jeton.core import amounts, limits
from jeton.core.clock import from_us
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.core.transfers import TransferDraft, TransferKind
from jeton.payments.errors import PaymentError, PaymentNotFound, ProviderUnavailable
from jeton.payments.offline import OfflineProvider
from jeton.payments.port import RefundStatus
from jeton.services.funding import base as fb
from jeton.services.funding import purchases as pur
from jeton.services.funding.results import RefundInfo
from jeton.services.ledger.results import TransferResult
from jeton.services.ledger.state import Declined, Header, LotSpec, system_id, wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.tables.funding import purchases, refunds
from jeton.store.tables.ledger import posting_lots

if TYPE_CHECKING:
    from jeton.app import Jeton


# ---- cash ----

def refund_purchase(j: Jeton, community_id: str, purchase_id: str, *, idempotency_key: str,
                    amount_minor: int | None = None, actor: str = "system",
                    reason: str = "") -> RefundInfo:
    """Give money back through the provider and take back the purchase's unspent credits."""
    if amount_minor is not None:
        amounts.positive_amount(amount_minor, "amount_minor")
    reason = fb.text(reason, "reason", limits.memo_chars_max, allow_empty=True)
    request = {"purchase": purchase_id, "amount": amount_minor, "reason": reason}

    def body(ws: WorkSet) -> RefundInfo:
        row = _refundable(ws, community_id, purchase_id)
        amount = _amount(row, amount_minor)
        paid_take, bonus_take = _shares(row, amount)
        refund_id = new_id()
        taken = _take_back(ws, row, paid_take, bonus_take, refund_id, actor, strict=True,
                           amount=amount)
        _record(ws, row, refund_id, "cash", "pending", amount, taken, 0,
                request_key=idempotency_key, actor=actor, reason=reason,
                take_transfer_id=taken[0])
        return _info(_refund_row(ws, community_id, refund_id))

    first = fb.write_once(j.ledger, community_id, idempotency_key, "purchase.refund", request,
                          body, RefundInfo)
    with j.store.read() as conn:
        current = conn.execute(sa.select(refunds).where(
            refunds.c.community_id == community_id,
            refunds.c.refund_id == first.id)).mappings().one()
    if current["status"] != "pending":
        return _info(current).model_copy(update={"replayed": first.replayed})
    return _settle_cash(j, community_id, current, first.replayed)


def _settle_cash(j: Jeton, community_id: str, refund: RowMapping, replayed: bool) -> RefundInfo:
    with j.store.read() as conn:
        row = pur.find_purchase(conn, community_id, refund["purchase_id"])
    provider = j.payments.get(row["provider"])
    outcome: str | None = None
    provider_refund_id = None
    try:
        if row["payment_id"] is None:
            raise PaymentNotFound("no provider payment on this purchase", provider=provider.name)
        made = provider.refund(provider_payment_id=row["payment_id"],
                               amount_minor=refund["amount_minor"],
                               idempotency_key=f"jeton:{community_id}:{refund['refund_id']}")
        provider_refund_id = made.refund_id
        if made.status is RefundStatus.failed:
            outcome = made.failure_reason or "refund_failed"
    except ProviderUnavailable:
        raise  # still pending: the same idempotency key retries it
    except PaymentNotFound:
        # Money paid offline and given back by hand: there is nothing to ask a provider.
        if not isinstance(provider, OfflineProvider):
            outcome = "payment_not_found"
    except PaymentError as exc:
        outcome = exc.detail[:200]

    def tx(ws: WorkSet) -> RefundInfo:
        locked = pur.lock_purchase(ws.conn, community_id, row["purchase_id"])
        current = _refund_row(ws, community_id, refund["refund_id"], lock=True)
        if current["status"] != "pending":
            return _info(current)
        if outcome is None:
            money = fb.post_money(ws, row["currency"], refund["amount_minor"], refund=True,
                                  member_id=row["member_id"], actor=refund["actor"],
                                  reason_code="refund", memo=refund["reason"],
                                  metadata={"purchase_id": row["purchase_id"],
                                            "refund_id": refund["refund_id"]})
            _update_refund(ws, refund["refund_id"], status="succeeded",
                           provider_refund_id=provider_refund_id, money_transfer_id=money.id,
                           settled_at_us=ws.now_us)
            _emit(ws, locked, current, "succeeded")
        else:
            give_back, paid_back = _restore(ws, locked, current)
            ws.conn.execute(purchases.update().where(
                purchases.c.community_id == community_id,
                purchases.c.purchase_id == row["purchase_id"]).values(
                refunded_minor=purchases.c.refunded_minor - refund["amount_minor"],
                credits_taken_back=purchases.c.credits_taken_back - paid_back))
            _update_refund(ws, refund["refund_id"], status="failed", failure_reason=outcome,
                           give_transfer_id=give_back, settled_at_us=ws.now_us)
            ws.emit("purchase.refund_failed", row["member_id"], {
                "purchase_id": row["purchase_id"], "refund_id": refund["refund_id"],
                "reason": outcome})
        return _info(_refund_row(ws, community_id, refund["refund_id"]))

    result = fb.write_plain(j.ledger, community_id, tx)
    return result.model_copy(update={"replayed": replayed})


# ---- as credits ----

def refund_as_credits(j: Jeton, community_id: str, purchase_id: str, *, idempotency_key: str,
                      amount_minor: int | None = None, credits: int | None = None,
                      actor: str = "system", reason: str = "") -> RefundInfo:
    """Refund money as permanent credits: the money stays, the purchase's unspent credits (in
    proportion) are taken back, and `credits` (default: what the money bought, in proportion)
    are granted as a permanent paid lot whose cost basis is the refunded money."""
    if amount_minor is not None:
        amounts.positive_amount(amount_minor, "amount_minor")
    if credits is not None:
        amounts.positive_amount(credits, "credits")
    reason = fb.text(reason, "reason", limits.memo_chars_max, allow_empty=True)
    request = {"purchase": purchase_id, "amount": amount_minor, "credits": credits,
               "reason": reason}

    def body(ws: WorkSet) -> RefundInfo:
        row = _refundable(ws, community_id, purchase_id)
        amount = _amount(row, amount_minor)
        paid_take, bonus_take = _shares(row, amount)
        give = credits if credits is not None else max(
            1, row["credits"] * amount // row["amount_minor"])
        refund_id = new_id()
        taken = _take_back(ws, row, paid_take, bonus_take, refund_id, actor, strict=False,
                           amount=amount)
        header = Header(TransferKind.grant, row["asset"], member_id=row["member_id"],
                        actor=actor, reason_code="refund", memo=reason,
                        metadata={"purchase_id": purchase_id, "refund_id": refund_id})
        spec = LotSpec(source="refund", paid=True, cost_minor=amount,
                       cost_currency=row["currency"])
        grant = j.ledger.apply_grant(ws, header, row["member_id"], give, spec,
                                     system_id("issuance", row["asset"]))
        _record(ws, row, refund_id, "credits", "succeeded", amount, taken, give,
                request_key=idempotency_key, actor=actor, reason=reason,
                take_transfer_id=taken[0], give_transfer_id=grant.id, settled_at_us=ws.now_us)
        current = _refund_row(ws, community_id, refund_id)
        _emit(ws, row, current, "succeeded")
        return _info(current)

    return fb.write_once(j.ledger, community_id, idempotency_key, "purchase.refund_as_credits",
                         request, body, RefundInfo)


# ---- a charge back to its lots ----

def refund_charge(j: Jeton, community_id: str, transfer_id: str, *, idempotency_key: str,
                  actor: str = "system", reason: str = "") -> TransferResult:
    """Give a charge back: every lot it drew from is restored, with its expiry and paid status."""
    original = j.ledger.get_transfer(community_id, transfer_id)
    if original.kind not in ("spend", "capture"):
        raise InvalidRequest(f"transfer {transfer_id} is a {original.kind}, not a charge",
                             status=Status.not_reversible)
    return j.ledger.reverse(community_id, transfer_id, idempotency_key=idempotency_key,
                            actor=actor, reason_code="refund", memo=reason)


# ---- a refund made at the provider ----

def external_refund_in(ws: WorkSet, j: Jeton, row: RowMapping, refunded_total: int,
                       payment_id: str | None, *, kind: str = "external",
                       reason: str = "refunded at the provider") -> str:
    """A `refunded` event: record money refunded outside Jeton (the provider's dashboard).

    `refunded_total` is the provider's running total for the payment; what Jeton already
    recorded (its own refunds) is not counted twice. The money is gone, so the credits are
    taken back as far as they are unspent, and `purchase.refunded` says how many could not be.
    A chargeback is recorded the same way (`dispute_in`).
    """
    if row["status"] != "completed":
        return "ignored"
    if payment_id and row["payment_id"] and payment_id != row["payment_id"]:
        return "ignored"
    extra = min(refunded_total, row["amount_minor"]) - row["refunded_minor"]
    if extra <= 0:
        return "already_recorded"
    paid_take, bonus_take = _shares(row, extra)
    refund_id = new_id()
    actor = f"provider:{row['provider']}"
    taken = _take_back(ws, row, paid_take, bonus_take, refund_id, actor, strict=False,
                       amount=extra)
    money = fb.post_money(ws, row["currency"], extra, refund=True, member_id=row["member_id"],
                          actor=actor, reason_code="refund", memo=reason,
                          metadata={"purchase_id": row["purchase_id"], "refund_id": refund_id})
    _record(ws, row, refund_id, kind, "succeeded", extra, taken, 0, request_key=None,
            actor=actor, reason=reason, take_transfer_id=taken[0],
            money_transfer_id=money.id, settled_at_us=ws.now_us)
    current = _refund_row(ws, ws.community_id, refund_id)
    _emit(ws, row, current, "succeeded", credits_short=paid_take + bonus_take - taken[1])
    return "refunded"


def dispute_in(ws: WorkSet, j: Jeton, row: RowMapping, disputed_minor: int,
               payment_id: str | None) -> str:
    """A `disputed` event: the member's bank took `disputed_minor` back (a chargeback). Recorded
    as a refund of kind `dispute`: the credits it stands for are taken back as far as they are
    unspent. Each dispute is its own provider event, so its amount adds to what was refunded.
    If the owner wins the dispute, the bank returns the money; granting the credits again is
    then the owner's decision (a grant), as Jeton cannot know what the member was promised."""
    return external_refund_in(ws, j, row, row["refunded_minor"] + max(disputed_minor, 0),
                              payment_id, kind="dispute", reason="disputed at the bank")


# ---- helpers ----

def _refundable(ws: WorkSet, community_id: str, purchase_id: str) -> RowMapping:
    row = pur.lock_purchase(ws.conn, community_id, purchase_id)
    if row["status"] != "completed":
        raise Declined(Status.conflict, f"purchase {purchase_id} is {row['status']}; only a "
                                        "completed purchase is refunded")
    return row


def _amount(row: RowMapping, amount_minor: int | None) -> int:
    left = row["amount_minor"] - row["refunded_minor"]
    amount = left if amount_minor is None else amount_minor
    if left <= 0:
        raise Declined(Status.already_reversed, f"purchase {row['purchase_id']} is refunded")
    if amount > left:
        raise Declined(Status.limit_exceeded, f"at most {left} {row['currency']} minor units of "
                       "this purchase are left to refund", balance=left, required=amount)
    return amount


def _shares(row: RowMapping, amount: int) -> tuple[int, int]:
    """Paid and bonus credits that `amount` more refunded money stands for. Cumulative, so that
    two half refunds take back exactly what one whole refund would."""
    price = row["amount_minor"]
    total = row["refunded_minor"] + amount

    def share(n: int) -> int:
        return int(-(-n * total // price))  # rounded up: a refund never leaves credits it paid for

    bonus = int(-(-row["bonus_credits"] * amount // price))  # best effort, not cumulative
    return share(row["credits"]) - row["credits_taken_back"], bonus


def _purchase_lots(ws: WorkSet, row: RowMapping) -> list[tuple[str, bool]]:
    """(lot id, is bonus) of the lots the purchase filled in the member's wallet."""
    wallet = wallet_id(row["member_id"], row["asset"])
    found: list[tuple[str, bool]] = []
    for transfer_id, bonus in ((row["grant_transfer_id"], False),
                               (row["bonus_transfer_id"], True)):
        if transfer_id is None:
            continue
        lots = ws.conn.execute(sa.select(posting_lots.c.lot_id).where(
            posting_lots.c.community_id == ws.community_id,
            posting_lots.c.transfer_id == transfer_id, posting_lots.c.account_id == wallet,
            posting_lots.c.amount > 0)).scalars().all()
        found.extend((lot_id, bonus) for lot_id in lots)
    return found


def _take_back(ws: WorkSet, row: RowMapping, paid_want: int, bonus_want: int,
               refund_id: str, actor: str, *, strict: bool,
               amount: int) -> tuple[str | None, int]:
    """Take back up to `paid_want` paid and `bonus_want` bonus credits from the purchase's own
    lots. Strict: refuse unless every paid credit wanted is still there. Returns the transfer id
    and the credits taken."""
    wallet = wallet_id(row["member_id"], row["asset"])
    issuance, promotions = system_id("issuance", row["asset"]), system_id("promotions",
                                                                          row["asset"])
    ws.load([wallet, issuance, promotions])
    lots = _purchase_lots(ws, row)
    paid_left = sum(ws.lot(lot_id).remaining for lot_id, bonus in lots if not bonus)
    if strict and paid_left < paid_want:
        unspent = row["credits_taken_back"] + paid_left
        most = unspent * row["amount_minor"] // row["credits"] - row["refunded_minor"]
        raise Declined(
            Status.reversal_insufficient,
            f"{paid_want - paid_left} of the {paid_want} credits this refund takes back have "
            f"been spent or have expired; refund at most {max(most, 0)} {row['currency']} minor "
            "units in cash, or refund as credits", balance=max(most, 0), required=amount)
    draft = TransferDraft(TransferKind.reversal, row["asset"])
    taken_paid = taken_bonus = 0
    for lot_id, bonus in lots:
        want = (bonus_want - taken_bonus) if bonus else (paid_want - taken_paid)
        take = min(want, max(ws.lot(lot_id).remaining, 0))
        if take <= 0:
            continue
        ws.restore(draft, wallet, lot_id, -take)
        if bonus:
            taken_bonus += take
        else:
            taken_paid += take
    total = taken_paid + taken_bonus
    if total:
        draft.add(wallet, -total)
        if taken_paid:
            draft.add(issuance, taken_paid)
        if taken_bonus:
            draft.add(promotions, taken_bonus)
    ws.conn.execute(purchases.update().where(
        purchases.c.community_id == ws.community_id,
        purchases.c.purchase_id == row["purchase_id"]).values(
        refunded_minor=purchases.c.refunded_minor + amount,
        credits_taken_back=purchases.c.credits_taken_back + taken_paid))
    if not total:
        return None, 0
    header = Header(TransferKind.reversal, row["asset"], member_id=row["member_id"], actor=actor,
                    reason_code="refund", memo=row["description"],
                    metadata={"purchase_id": row["purchase_id"], "refund_id": refund_id})
    return ws.commit_transfer(header, draft, ws.accounts[wallet]).id, total


def _restore(ws: WorkSet, row: RowMapping, refund: RowMapping) -> tuple[str | None, int]:
    """Put credits taken back for a refund that failed into the lots they came from. Returns
    the transfer and how many of the credits were paid ones."""
    take_id = refund["take_transfer_id"]
    if take_id is None:
        return None, 0
    moves = ws.conn.execute(sa.select(posting_lots.c.account_id, posting_lots.c.lot_id,
                                      posting_lots.c.amount).where(
        posting_lots.c.community_id == ws.community_id,
        posting_lots.c.transfer_id == take_id)).all()
    asset = row["asset"]
    wallet = wallet_id(row["member_id"], asset)
    issuance, promotions = system_id("issuance", asset), system_id("promotions", asset)
    ws.load([wallet, issuance, promotions])
    draft = TransferDraft(TransferKind.grant, asset)
    bonus_lots = {lot_id for lot_id, bonus in _purchase_lots(ws, row) if bonus}
    paid = 0
    for account_id, lot_id, moved in moves:
        ws.restore(draft, account_id, lot_id, -moved)
        draft.add(account_id, -moved)
        draft.add(promotions if lot_id in bonus_lots else issuance, moved)
        paid += 0 if lot_id in bonus_lots else -moved
    header = Header(TransferKind.grant, asset, member_id=row["member_id"],
                    actor=refund["actor"], reason_code="refund_failed", memo=row["description"],
                    metadata={"purchase_id": row["purchase_id"],
                              "refund_id": refund["refund_id"]})
    return ws.commit_transfer(header, draft, ws.accounts[wallet]).id, paid


def _record(ws: WorkSet, row: RowMapping, refund_id: str, kind: str, status: str, amount: int,
            taken: tuple[str | None, int], given: int, *, request_key: str | None, actor: str,
            reason: str, **more: Any) -> None:
    ws.conn.execute(refunds.insert().values(
        community_id=ws.community_id, refund_id=refund_id, purchase_id=row["purchase_id"],
        kind=kind, status=status, amount_minor=amount, currency=row["currency"],
        credits_taken=taken[1], credits_given=given, request_key=request_key,
        actor=actor[:200], reason=reason, created_at_us=ws.now_us, **more))


def _update_refund(ws: WorkSet, refund_id: str, **values: Any) -> None:
    ws.conn.execute(refunds.update().where(refunds.c.community_id == ws.community_id,
                                           refunds.c.refund_id == refund_id).values(**values))


def _refund_row(ws: WorkSet, community_id: str, refund_id: str, *,
                lock: bool = False) -> RowMapping:
    stmt = sa.select(refunds).where(refunds.c.community_id == community_id,
                                    refunds.c.refund_id == refund_id)
    if lock and ws.dialect == "postgresql":
        stmt = stmt.with_for_update()
    row = ws.conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound(f"no refund {refund_id!r}", status=Status.not_found)
    return row


def _emit(ws: WorkSet, purchase: RowMapping, refund: RowMapping, status: str,
          credits_short: int = 0) -> None:
    ws.emit("purchase.refunded", purchase["member_id"], {
        "purchase_id": purchase["purchase_id"], "refund_id": refund["refund_id"],
        "kind": refund["kind"], "status": status, "amount_minor": refund["amount_minor"],
        "currency": refund["currency"], "credits_taken": refund["credits_taken"],
        "credits_given": refund["credits_given"], "credits_short": max(credits_short, 0)})


def _info(row: RowMapping) -> RefundInfo:
    return RefundInfo(
        id=row["refund_id"], purchase_id=row["purchase_id"], kind=row["kind"],
        status=row["status"], amount_minor=row["amount_minor"], currency=row["currency"],
        credits_taken=row["credits_taken"], credits_given=row["credits_given"],
        provider_refund_id=row["provider_refund_id"], take_transfer_id=row["take_transfer_id"],
        give_transfer_id=row["give_transfer_id"], money_transfer_id=row["money_transfer_id"],
        failure_reason=row["failure_reason"], created_at=from_us(row["created_at_us"]))
