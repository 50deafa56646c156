"""What the operator's tools read: `/healthz` for the load balancer, `/metrics` for Prometheus.

Neither needs a key: they say nothing about any community. Publish them only where those tools
reach them (docs/api/README.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from jeton.api.context import api_context
from jeton.api.metrics import CONTENT_TYPE
from jeton.api.problems import HttpProblem
from jeton.core.statuses import Status
from jeton.services.ops.health import database_reachable

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str
    database: str


@router.get("/healthz", responses={503: {"description": "The database cannot be reached."}})
async def healthz(request: Request) -> Health:
    if not await run_in_threadpool(database_reachable, api_context(request).jeton.store):
        raise HttpProblem(Status.unavailable, "the database cannot be reached",
                          headers={"Retry-After": "5"})
    return Health(status="ok", database="ok")


@router.get("/metrics", response_class=Response, responses={
    200: {"description": "Prometheus text format.",
          "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(request: Request) -> Response:
    return Response(api_context(request).metrics.render(), media_type=CONTENT_TYPE)
