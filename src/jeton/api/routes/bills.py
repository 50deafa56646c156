"""Post-pay bills: what members on a credit line owe, billed each cycle and paid through the
payment provider in one payment (docs/api/bills.md).

The `bills.issue` job issues bills by itself; `POST /members/{id}/bills` bills now. A bill is
paid by the member's saved card (off-session, when the bill is issued) or on the checkout that
`POST /bills/{id}/pay` opens; the credits come back to the wallet when the provider confirms.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query, Response
from pydantic import Field, StrictBool, StrictInt

from jeton.api.auth import Caller, requires
from jeton.api.funding_schemas import ProviderName, Url
from jeton.api.idempotency import IdempotencyKey
from jeton.api.params import AfterId, Limit, MemberId
from jeton.api.routes.funding_params import ForMember
from jeton.api.routes.purchases import provider_retry_later
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import UUID_PATTERN, AssetCode, Body, CurrencyCode
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.funding.results import BillInfo, BillingSettings, Checkout
from jeton.services.ledger.results import Page

router = api_router(tags=["bills"])

BillId = Annotated[str, Path(pattern=UUID_PATTERN)]
AssetQuery = Annotated[str, Query(pattern=r"^[A-Z][A-Z0-9_]{0,15}$")]


class CsvResponse(Response):
    media_type = "text/csv"


class SetBilling(Body):
    asset: AssetCode = "CREDIT"
    currency: CurrencyCode = "USD"
    credit_price_minor: Annotated[StrictInt, Field(
        ge=1, le=limits.credit_price_minor_max,
        description="Money for one whole credit, in the currency's minor unit.")]
    cycle: Literal["week", "month"] = "month"
    grace_days: Annotated[StrictInt, Field(ge=0, le=limits.bill_grace_days_max)] = 7
    bill_at_percent: Annotated[StrictInt | None, Field(
        ge=1, le=100, description="Bill at once when this share of the credit line is owed "
                                  "and unbilled; null: only at the end of a cycle.")] = 90
    provider: ProviderName | None = None


class IssueBill(Body):
    asset: AssetCode = "CREDIT"


class PayBill(Body):
    success_url: Url | None = None
    cancel_url: Url | None = None
    provider: ProviderName | None = None
    save_payment_method: StrictBool = False


@router.get("/settings/billing")
def get_billing(caller: Annotated[Caller, requires(Scope.reports_read)],
                asset: AssetQuery = "CREDIT") -> BillingSettings:
    """How members on a credit line are billed (`enabled: false` while it is not set)."""
    return caller.community.billing_settings(asset=asset)


@router.post("/settings/billing")
def set_billing(body: SetBilling,
                caller: Annotated[Caller, requires(Scope.admin)]) -> BillingSettings:
    """Bill the members on a credit line at the end of each cycle at the credit price."""
    return caller.community.set_billing_settings(
        credit_price_minor=body.credit_price_minor, currency=body.currency, cycle=body.cycle,
        grace_days=body.grace_days, bill_at_percent=body.bill_at_percent,
        provider=body.provider, asset=body.asset)


@router.post("/members/{member_id}/bills", status_code=201,
             responses=problem_responses(404, 409, 503))
def issue_bill(member_id: MemberId, body: IssueBill,
               caller: Annotated[Caller, requires(Scope.credits_write)],
               key: IdempotencyKey) -> BillInfo:
    """Bill now what the member owes and no bill asks yet (409 when there is nothing)."""
    with provider_retry_later():
        return caller.community.issue_bill(member_id, idempotency_key=key, asset=body.asset)


@router.get("/bills")
def list_bills(caller: Annotated[Caller, requires(Scope.members_read)],
               member: ForMember = None, status: Literal["open", "paid"] | None = None,
               limit: Limit = limits.page_size_default,
               starting_after: AfterId = None) -> Page[BillInfo]:
    """Bills, newest first; with `member`, that member's; with `status`, open or paid ones."""
    return caller.community.list_bills(member, status=status, limit=limit,
                                       starting_after=starting_after)


@router.get("/bills/{bill_id}.csv", response_class=CsvResponse,
            responses={200: {"description": "The bill as a CSV document."}})
def bill_csv(bill_id: BillId,
             caller: Annotated[Caller, requires(Scope.members_read)]) -> CsvResponse:
    """The bill as the member downloads it: its header, one row a service, the totals.
    (Before `/bills/{bill_id}`, which would take `….csv` for an id.)"""
    community = caller.community
    info = community.get_bill(bill_id)
    return CsvResponse(community.bill_csv(bill_id), headers={
        "Content-Disposition": f'attachment; filename="{info.number_text}.csv"'})


@router.get("/bills/{bill_id}")
def get_bill(bill_id: BillId, caller: Annotated[Caller, requires(Scope.members_read)]
             ) -> BillInfo:
    return caller.community.get_bill(bill_id)


@router.post("/bills/{bill_id}/pay", status_code=201,
             responses=problem_responses(404, 409, 503))
def pay_bill(bill_id: BillId, body: PayBill,
             caller: Annotated[Caller, requires(Scope.credits_write)]) -> Checkout:
    """A checkout for an open bill: send the member to the answer's `url`. Asked again while
    it is open, the same checkout (no second payment). 409 when the bill is paid."""
    with provider_retry_later():
        return caller.community.pay_bill(bill_id, provider=body.provider,
                                         success_url=body.success_url,
                                         cancel_url=body.cancel_url,
                                         save_payment_method=body.save_payment_method)
