"""`POST /v1/providers/{name}/webhook`: where a payment provider (Stripe) posts its events.

No API key: the provider signs every event, and its adapter checks the signature against the
raw body, which is passed through untouched with the headers. So this is a plain route, not an
`ApiRoute`: no key, no scope, no rate limit of a key, and no `Idempotency-Key` (the provider's
own event id makes a delivery count once: a replay answers `duplicate`).

Answers: 200 when the event was handled (`processed`), had been (`duplicate`) or is not one
Jeton acts on (`ignored`); 400 when the body or signature is not valid (the provider should not
retry); 404 for a provider that is not configured; 503 for anything else, so that the provider
delivers the event again later.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jeton.api.context import api_context
from jeton.api.examples import PROVIDER_EVENT_EXAMPLE
from jeton.api.problems import problem_response
from jeton.api.schemas import EXTERNAL_ID_PATTERN
from jeton.core.errors import InvariantViolation, JetonError, NotFound
from jeton.core.statuses import Status
from jeton.payments.errors import WebhookInvalid
from jeton.services.funding.provider_webhooks import handle_provider_webhook
from jeton.services.funding.results import WebhookOutcome

log = logging.getLogger("jeton.api")

router = APIRouter(prefix="/v1", tags=["provider webhooks"])

ProviderName = Annotated[str, Path(pattern=EXTERNAL_ID_PATTERN, max_length=64,
                                   description="The provider: `stripe` (or `demo`, `offline`, "
                                               "whose events are made in-process).")]

_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"description": "The body or its signature is not valid; nothing changed."},
    404: {"description": "No such payment provider is configured."},
    413: {"description": "The body is too large."},
    422: {"description": "The provider's name is not valid."},
    500: {"description": "A bug; the provider delivers the event again."},
    503: {"description": "The event could not be handled now; the provider delivers it "
                         "again."},
}
_BODY = {"required": True, "description": "The provider's event, exactly as it signed it.",
         "content": {"application/json": {"schema": {"type": "object"},
                                          "example": PROVIDER_EVENT_EXAMPLE}}}


@router.post("/providers/{name}/webhook", response_model=WebhookOutcome, responses=_RESPONSES,
             openapi_extra={"requestBody": _BODY})
async def provider_webhook(name: ProviderName, request: Request,
                           ) -> WebhookOutcome | JSONResponse:
    """A payment provider's signed event (no API key: the signature authenticates it)."""
    j = api_context(request).jeton
    payload = await request.body()
    headers = dict(request.headers)
    try:
        return await run_in_threadpool(handle_provider_webhook, j, name, payload, headers)
    except WebhookInvalid as exc:
        return problem_response(exc.status, exc.detail, instance=request.url.path,
                                http_status=400)
    except InvariantViolation:
        raise
    except JetonError as exc:
        if isinstance(exc, NotFound) and name not in j.payments.names():
            raise  # 404: no such provider here
        log.warning("a %s webhook could not be handled (%s): %s", name, exc.status.value,
                    exc.detail)
        return problem_response(Status.unavailable, "the event could not be handled now; "
                                "deliver it again later", instance=request.url.path,
                                headers={"Retry-After": "60"})
