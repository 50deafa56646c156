"""Path and query parameters shared by the routes, with the bounds the services check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from jeton.api.schemas import ASSET_CODE_PATTERN, EXTERNAL_ID_PATTERN, UUID_PATTERN
from jeton.core import limits

MemberId = Annotated[str, Path(pattern=EXTERNAL_ID_PATTERN, max_length=64,
                               description="The member's id, chosen by the host app.")]
AccountName = Annotated[str, Path(pattern=EXTERNAL_ID_PATTERN, max_length=64,
                                  description="A system or named account: `revenue`, "
                                              "`breakage`, `appstore`...")]
TransferId = Annotated[str, Path(pattern=UUID_PATTERN)]
HoldId = Annotated[str, Path(pattern=UUID_PATTERN)]
KeyId = Annotated[str, Path(pattern=UUID_PATTERN)]

Asset = Annotated[str, Query(pattern=ASSET_CODE_PATTERN, max_length=16,
                             description="The asset; CREDIT when omitted.")]
Limit = Annotated[int, Query(ge=1, le=limits.page_size_max,
                             description="How many items a page holds at most.")]
AfterMember = Annotated[str | None, Query(
    pattern=EXTERNAL_ID_PATTERN, max_length=64,
    description="The `next_cursor` of the previous page.")]
AfterId = Annotated[str | None, Query(
    pattern=UUID_PATTERN, description="The `next_cursor` of the previous page.")]
Search = Annotated[str | None, Query(
    min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]*$",
    description="Members whose id, name or email contains this (any case).")]
