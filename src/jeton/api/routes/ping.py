"""`POST /v1/ping`: a host app checks that its key works, and how long a call takes.

It does nothing else: no database, no idempotency key (it changes nothing). `jeton bench`
measures it beside the charge under the same server, as the floor of an authenticated call
with a JSON body (`http_bare_per_s`), so the charge's figure reads as a ratio to it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from jeton.api.auth import Caller, requires
from jeton.api.routing import api_router
from jeton.api.schemas import Body
from jeton.services.access.api_keys import Scope

router = api_router(tags=["ping"])


class PingBody(Body):
    message: Annotated[str, Field(max_length=200, description="Echoed back.",
                                  examples=["hello"])] = ""


class Pong(BaseModel):
    community_id: str
    key_id: str
    message: str


@router.post("/ping")
def ping(body: PingBody, caller: Annotated[Caller, requires(Scope.charges_write)]) -> Pong:
    """Answer with the community and key the caller's key belongs to (a key that may charge)."""
    return Pong(community_id=caller.key.community_id, key_id=caller.key.key_id,
                message=body.message)
