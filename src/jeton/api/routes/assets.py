"""Assets and named accounts: the community's setup, and what system accounts hold."""

from __future__ import annotations

from typing import Annotated

from jeton.api.auth import Caller, requires
from jeton.api.params import AccountName, Asset
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import CreateAccount, CreateAsset
from jeton.services.access.api_keys import Scope
from jeton.services.ledger.results import AccountInfo, AssetInfo, Balance, Page

router = api_router(tags=["assets and accounts"])


@router.post("/assets", status_code=201, responses=problem_responses(409))
def create_asset(body: CreateAsset, caller: Annotated[Caller, requires(Scope.admin)]) -> AssetInfo:
    """An asset (`POINTS`, `USD`...) with its system accounts. Making one that exists with the
    same scale returns it."""
    return caller.community.create_asset(body.code, body.scale, body.name)


@router.get("/assets")
def list_assets(caller: Annotated[Caller, requires(Scope.reports_read)]) -> Page[AssetInfo]:
    """Every asset of the community (one page: a community has a handful)."""
    return Page(data=caller.community.assets(), has_more=False)


@router.post("/accounts", status_code=201, responses=problem_responses(409))
def create_account(body: CreateAccount,
                   caller: Annotated[Caller, requires(Scope.admin)]) -> AccountInfo:
    """A named account that splits may pay (an app store's fee). Idempotent by name."""
    return caller.community.create_account(body.name, asset=body.asset)


@router.get("/accounts/{name}/balance")
def account_balance(name: AccountName, caller: Annotated[Caller, requires(Scope.reports_read)],
                    asset: Asset = "CREDIT") -> Balance:
    """A system account (`revenue`, `breakage`, `promotions`, `issuance`) or a named one."""
    return caller.community.account_balance(name, asset=asset)
