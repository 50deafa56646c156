"""Members, and what they hold: balances, lots and statements."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.params import AfterId, AfterMember, Asset, Limit, MemberId, Search
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import CreateMember, SetCreditLine
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.results import Balance, LotInfo, MemberInfo, Page, StatementLine

router = api_router(tags=["members"])


@router.post("/members", status_code=201)
def create_member(body: CreateMember,
                  caller: Annotated[Caller, requires(Scope.members_write)]) -> MemberInfo:
    """A member. Creating one that exists returns it as it is."""
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
            asset: Asset = "CREDIT") -> Balance:
    """Posted, pending (held) and available credits."""
    return caller.community.balance(member_id, asset=asset)


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
