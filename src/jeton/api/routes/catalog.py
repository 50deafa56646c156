"""The community's catalog: services with their prices, splits and access, and rewards.

`PUT /v1/catalog` loads a catalog file (TOML or YAML) as the next version; `GET` reads the
active one; `POST /v1/catalog/preview` replays the last days of charges through a catalog file
and says what would change, writing nothing. Loading checks everything first: any error
answers 422 `catalog_invalid` with every error (line, where, reason) in the problem's
`errors`, and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import Field, StrictBool, StrictInt

from jeton.api.auth import Caller, requires
from jeton.api.params import MemberId
from jeton.api.routing import api_router, problem_responses
from jeton.api.schemas import Actor, AssetCode, Body
from jeton.app import Community
from jeton.core import limits
from jeton.services.access.api_keys import Scope
from jeton.services.charging.results import (
    CatalogInfo,
    CatalogLoad,
    CatalogPreview,
    MemberCatalog,
)

router = api_router(tags=["catalog"])


class LoadCatalog(Body):
    catalog: Annotated[str, Field(max_length=limits.api_body_bytes_max,
                                  description="The catalog file's text.")]
    format: Literal["toml", "yaml"] = "toml"
    dry_run: StrictBool = Field(default=False, description="Check and compare with the "
                                                           "active catalog; write nothing.")
    actor: Actor = None


@router.put("/catalog")
def load_catalog(body: LoadCatalog,
                 caller: Annotated[Caller, requires(Scope.admin)]) -> CatalogLoad:
    """Make the catalog file the active version: entries added or changed are written,
    entries missing from it are retired. Loading the active catalog again changes nothing
    (`changed: false`)."""
    return caller.community.load_catalog(body.catalog, body.format,
                                         actor=caller.actor(body.actor), dry_run=body.dry_run)


class PreviewCatalog(Body):
    catalog: Annotated[str, Field(max_length=limits.api_body_bytes_max,
                                  description="The new catalog file's text.")]
    format: Literal["toml", "yaml"] = "toml"
    # Checked by the service (1 to limits.catalog_preview_days_max), so the error is the one
    # the Python API raises.
    days: StrictInt = Field(default=limits.catalog_preview_days_default,
                            description=f"Replay the charges of this many days back, 1-"
                                        f"{limits.catalog_preview_days_max}.")
    asset: AssetCode = "CREDIT"


@router.post("/catalog/preview", responses=problem_responses(422))
def preview_catalog(body: PreviewCatalog,
                    caller: Annotated[Caller, requires(Scope.reports_read)]) -> CatalogPreview:
    """Replay the charges of the last `days` through the catalog file: per service and per
    member, credits then and under the new catalog, and which members would be declined.
    Writes nothing (a POST only because a catalog is a body); an invalid catalog answers 422
    `catalog_invalid` with every error and its line, as `PUT /v1/catalog` does."""
    return Community(caller.ctx.jeton, caller.key.community_id, asset=body.asset
                     ).preview_catalog(body.catalog, body.format, days=body.days)


@router.get("/catalog")
def get_catalog(caller: Annotated[Caller, requires(Scope.reports_read)],
                include_retired: Annotated[bool, Query(
                    description="Also list retired services and rewards.")] = False,
                ) -> CatalogInfo:
    """The active catalog (`version: 0` before any was loaded)."""
    return caller.community.catalog(include_retired=include_retired)


@router.get("/members/{member_id}/catalog", responses=problem_responses(404))
def member_catalog(member_id: MemberId,
                   caller: Annotated[Caller, requires(Scope.members_read)],
                   session_id: Annotated[str | None, Query(
                       max_length=limits.external_id_chars_max,
                       description="The member's session, for per-session allowances.")] = None,
                   ) -> MemberCatalog:
    """The services this member can see, each at their price (one use or one unit), with the
    free uses left and, where they may not use it, why and what would let them in. Hidden
    services they cannot see are left out. Writes nothing."""
    return caller.community.member_catalog(member_id, session_id=session_id)
