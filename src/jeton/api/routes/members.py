"""Members, and what they hold: balances, lots and statements."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query

from jeton.api.auth import Caller, requires
from jeton.api.params import AfterId, AfterMember, Asset, Limit, MemberId, Search
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import CreateMember, SetCreditLine
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.results import (
    Balance,
    BalanceAt,
    BalanceHistory,
    LotInfo,
    MemberInfo,
    Page,
    StatementLine,
)

router = api_router(tags=["members"])


@router.post("/members", status_code=201, responses=problem_responses(409))
def create_member(body: CreateMember,
                  caller: Annotated[Caller, requires(Scope.members_write)]) -> MemberInfo:
    """A member. Creating one that exists returns it as it is, when the name, email and
    metadata sent are its own or left out; another is refused (409 `already_exists`, naming
    the field) and changes nothing."""
    return caller.community.create_member(body.id, name=body.name, email=body.email,
                                          metadata=body.metadata)


@router.get("/members")
def list_members(caller: Annotated[Caller, requires(Scope.members_read)],
                 limit: Limit = limits.page_size_default, starting_after: AfterMember = None,
                 search: Search = None) -> Page[MemberInfo]:
    """Members by id."""
    return caller.community.list_members(limit=limit, starting_after=starting_after,
                                         search=search)


@router.get("/members/{member_id}")
def get_member(member_id: MemberId,
               caller: Annotated[Caller, requires(Scope.members_read)]) -> MemberInfo:
    return caller.community.get_member(member_id)


@router.get("/members/{member_id}/balance")
def balance(member_id: MemberId, caller: Annotated[Caller, requires(Scope.members_read)],
            asset: Asset = "CREDIT",
            as_of: Annotated[datetime | None, Query(
                description="An instant with its offset (RFC 3339): the posted balance the "
                            "journal gives at that instant instead of the balance now.")] = None,
            ) -> Balance | BalanceAt:
    """Posted, pending (held) and available credits; with `as_of`, the posted balance at that
    instant (a `BalanceAt`)."""
    if as_of is not None:
        return caller.community.balance_at(member_id, as_of, asset=asset)
    return caller.community.balance(member_id, asset=asset)


@router.get("/members/{member_id}/balance/history")
def balance_history(member_id: MemberId,
                    caller: Annotated[Caller, requires(Scope.members_read)],
                    since: Annotated[datetime, Query(alias="from", description=(
                        "The start of the range, with its offset (RFC 3339)."))],
                    until: Annotated[datetime, Query(alias="to", description=(
                        "The end of the range, with its offset (RFC 3339)."))],
                    interval: Literal["hour", "day"] = "day",
                    asset: Asset = "CREDIT") -> BalanceHistory:
    """The posted balance at `from` and at the end of each hour or day up to `to`."""
    return caller.community.balance_history(member_id, since, until, interval=interval,
                                            asset=asset)


@router.get("/members/{member_id}/lots")
def lots(member_id: MemberId, caller: Annotated[Caller, requires(Scope.members_read)],
         asset: Asset = "CREDIT", include_empty: bool = False) -> Page[LotInfo]:
    """The member's lots in the order they would be spent (one page: every live lot)."""
    return Page(data=caller.community.lots(member_id, asset=asset, include_empty=include_empty),
                has_more=False)


@router.get("/members/{member_id}/statement")
def statement(member_id: MemberId, caller: Annotated[Caller, requires(Scope.members_read)],
              asset: Asset = "CREDIT", limit: Limit = limits.page_size_default,
              starting_after: AfterId = None) -> Page[StatementLine]:
    """Every movement of the member's wallet with the balance after it, newest first."""
    return caller.community.statement(member_id, asset=asset, limit=limit,
                                      starting_after=starting_after)


@router.post("/members/{member_id}/credit_line", responses=problem_responses(409))
def set_credit_line(member_id: MemberId, body: SetCreditLine,
                    caller: Annotated[Caller, requires(Scope.credits_write)]) -> Balance:
    """Let the member's wallet go down to `floor` (zero or negative): post-pay, credit lines."""
    return caller.community.set_credit_line(member_id, body.floor, asset=body.asset)
