"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from lockgate.gateway.openapi import documented
from lockgate.observability.metrics import CONTENT_TYPE, METRICS
from lockgate.observability.scrape import publish_gauges
from lockgate.services import Services

log = logging.getLogger("lockgate.gateway")


@documented("Prometheus metrics", content_type="text/plain")
async def metrics(request: Request) -> PlainTextResponse:
    services: Services = request.app.state.services
    try:
        # The review backlog lives in the store (shared by every gateway process), so it is
        # read at scrape time rather than counted in this process.
        await asyncio.to_thread(services.reviews.publish_metrics)
    except Exception:  # noqa: BLE001 - the other metrics are still worth serving
        log.exception("could not read the review backlog for /metrics")
    # Document freshness, quarantine, batch and upstream queues: read now, each on its own.
    await asyncio.to_thread(publish_gauges, services)
    return PlainTextResponse(METRICS.render(), media_type=CONTENT_TYPE)
