"""Receipts a member or host app can verify offline: every charge, purchase and refund (any
transfer about a member) as signed JSON.

A receipt is the transfer's facts as UTF-8 JSON bytes (`payload`, base64url), signed with the
community's Ed25519 key (`signature`, base64url, over exactly those bytes), and the id of that
key. Verifying needs no canonical form: check the signature over the decoded bytes with the
public key published at `/.well-known/jeton/{community}/keys`, then read the JSON. The facts
come from the journal, which never changes, and Ed25519 signatures are deterministic, so a
receipt is made when asked and is the same every time until the key is rotated (decision 0064).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jeton.core.canonical import canonical_json
from jeton.core.clock import Clock
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.services.funding import receipt_keys
from jeton.services.funding.purchases import find_purchase
from jeton.services.ledger.reads import read_transfer
from jeton.services.ledger.results import Result, TransferResult
from jeton.services.ledger.state import wallet_id
from jeton.store.engine import Store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

RECEIPT_TYPE = "jeton.receipt"
RECEIPT_VERSION = 1


class Receipt(Result):
    """`payload`: base64url of the signed JSON bytes; `signature`: base64url of the Ed25519
    signature over them; `data`: the same JSON, parsed (read it only after verifying)."""
    key_id: str
    algorithm: str
    payload: str
    signature: str
    data: dict[str, Any]


# The reason codes of grants that credit what a member paid for: a pack, an automatic
# recharge, a plan's period.
PURCHASE_REASONS = ("purchase", "recharge", "plan", "renewal")


def receipt_for(transfer: TransferResult) -> str:
    """What the receipt is for, as a member would say it."""
    if transfer.kind in ("spend", "capture"):
        return "charge"
    if transfer.kind == "reversal" or transfer.reason_code == "refund":
        return "refund"
    if transfer.reason_code in PURCHASE_REASONS or (
            transfer.metadata.get("purchase_id") and transfer.kind == "grant"):
        return "purchase"
    return transfer.kind


def _purchase_facts(conn: Connection, community_id: str, purchase_id: str) -> dict[str, Any]:
    row = find_purchase(conn, community_id, purchase_id)
    return {"id": row["purchase_id"], "kind": row["kind"], "pack_id": row["pack_id"],
            "provider": row["provider"], "credits": row["credits"],
            "bonus_credits": row["bonus_credits"], "amount_minor": row["amount_minor"],
            "currency": row["currency"]}


def facts(conn: Connection, community_id: str, transfer: TransferResult,
          key_id: str) -> dict[str, Any]:
    """What a receipt says: the transfer, the member's side of it, and every lot it moved."""
    if transfer.member_id is None:
        raise InvalidRequest(f"transfer {transfer.id} is about no member: it has no receipt",
                             status=Status.value_invalid)
    wallet = wallet_id(transfer.member_id, transfer.asset)
    leg = next((p for p in transfer.postings if p.account_id == wallet), None)
    purchase_id = transfer.metadata.get("purchase_id")
    return {
        "type": RECEIPT_TYPE, "version": RECEIPT_VERSION, "key_id": key_id,
        "community_id": community_id, "receipt_for": receipt_for(transfer),
        "transfer_id": transfer.id, "kind": transfer.kind, "reason_code": transfer.reason_code,
        "member_id": transfer.member_id, "asset": transfer.asset,
        "amount": leg.amount if leg else 0, "balance_after": leg.balance_after if leg else None,
        "service": transfer.service, "memo": transfer.memo,
        "reverses_id": transfer.reverses_id,
        "effective_at": transfer.effective_at.isoformat().replace("+00:00", "Z"),
        "lots": [{"lot_id": m.lot_id, "account_id": m.account_id, "amount": m.amount}
                 for m in transfer.lots],
        "postings": [{"account_id": p.account_id, "amount": p.amount}
                     for p in transfer.postings],
        "purchase": (_purchase_facts(conn, community_id, str(purchase_id))
                     if purchase_id else None),
        "refund_id": transfer.metadata.get("refund_id"),
    }


def transfer_receipt(store: Store, clock: Clock, community_id: str,
                     transfer_id: str) -> Receipt:
    """The signed receipt of a transfer about a member (a charge, a purchase's credits, a
    refund...)."""
    key_id, key = receipt_keys.signing_key(store, clock, community_id)
    with store.read() as conn:
        transfer = read_transfer(conn, community_id, transfer_id)
        data = facts(conn, community_id, transfer, key_id)
    payload = canonical_json(data).encode()
    return Receipt(key_id=key_id, algorithm=receipt_keys.ALGORITHM,
                   payload=receipt_keys.b64(payload),
                   signature=receipt_keys.b64(key.sign(payload)), data=data)


def purchase_receipt(store: Store, clock: Clock, community_id: str,
                     purchase_id: str) -> Receipt:
    """The receipt of a completed purchase: its credits' transfer, with the money paid."""
    with store.read() as conn:
        row = find_purchase(conn, community_id, purchase_id)
    if row["grant_transfer_id"] is None:
        raise NotFound(f"purchase {purchase_id} is {row['status']}: it has no receipt yet",
                       status=Status.not_found)
    return transfer_receipt(store, clock, community_id, row["grant_transfer_id"])
