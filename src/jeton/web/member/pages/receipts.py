"""A receipt from the member's history: what it says, and the signed JSON to keep or hand to
anyone who checks it with the community's published key (docs/api/receipts.md)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, Response

from jeton.core.errors import InvalidRequest, NotFound
from jeton.services.funding.receipts import Receipt
from jeton.services.ledger.state import wallet_id
from jeton.web.member.context import Member
from jeton.web.member.pages.home import source_label
from jeton.web.member.routing import page_router
from jeton.web.member.security import CurrentMember
from jeton.web.member.templating import render

router = page_router()

TransferPath = Annotated[str, Path(max_length=40, pattern=r"^[0-9a-f-]{36}$")]


def _mine(me: Member, transfer_id: str) -> Receipt | None:
    """The receipt, if the transfer moved this member's credits; else None (not theirs)."""
    try:
        receipt = me.community.receipt(transfer_id)
    except (NotFound, InvalidRequest):
        return None
    wallet = wallet_id(me.id, me.asset.code)
    if all(p["account_id"] != wallet for p in receipt.data["postings"]):
        return None
    return receipt


def _not_found(request: Request) -> HTMLResponse:
    return render(request, "member/error.html", {
        "title": "No such receipt", "message": "This receipt is not one of yours."},
        status_code=404)


# Before the page: `/receipts/{id}` would take `{id}.json` and refuse it.
@router.get("/receipts/{transfer_id}.json", name="member.receipt_json")
def receipt_json(request: Request, me: CurrentMember, transfer_id: TransferPath) -> Response:
    receipt = _mine(me, transfer_id)
    if receipt is None:
        return _not_found(request)
    body = json.dumps(receipt.model_dump(mode="json", exclude={"data"}), indent=2)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="receipt-{transfer_id}.json"'})


@router.get("/receipts/{transfer_id}", name="member.receipt")
def receipt_page(request: Request, me: CurrentMember, transfer_id: TransferPath) -> Response:
    receipt = _mine(me, transfer_id)
    if receipt is None:
        return _not_found(request)
    wallet = wallet_id(me.id, me.asset.code)
    lots = [m for m in receipt.data["lots"] if m["account_id"] == wallet]
    sources = {lot.id: source_label(lot.source)
               for lot in me.community.lots(me.id, include_empty=True)}
    return render(request, "member/receipt.html", {
        "receipt": receipt, "facts": receipt.data,
        "mine": next(p["amount"] for p in receipt.data["postings"] if p["account_id"] == wallet),
        "lots": [(m, sources.get(m["lot_id"], "")) for m in lots],
        "keys_url": f"/.well-known/jeton/{me.community.id}/keys",
    }, section="home")
