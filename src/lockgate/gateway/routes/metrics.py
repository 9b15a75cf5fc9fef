"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from lockgate.gateway.openapi import documented
from lockgate.observability.metrics import METRICS


@documented("Prometheus metrics", content_type="text/plain")
async def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(METRICS.render(), media_type="text/plain; version=0.0.4")
