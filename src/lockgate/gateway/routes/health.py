"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from lockgate.gateway.openapi import documented
from lockgate.gateway.warmup import Warmup
from lockgate.services import Services


@documented("Liveness")
async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


def _store_ok(services: Services) -> bool:
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


@documented("Readiness", responses={200: "Ready", 503: "Not ready"})
async def readyz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    warm: Warmup = request.app.state.warmup
    grounded = services.settings.grounded.model
    checks = {
        "store": await asyncio.to_thread(_store_ok, services),
        "embeddings": services.embedder.ready(),
        "grounded_model": services.models.get(grounded).ready(),
        # Every model of the configured pipeline loaded and run once (gateway/warmup.py):
        # before that the first requests would stall on lazy loads.
        "warm": warm.ready,
    }
    ready = all(checks.values())
    # Breaker states are shown, not counted against readiness: with fallbacks and degraded
    # answers the gateway still serves while an upstream is open, and pulling every gateway
    # replica out of the load balancer for one bad upstream would turn a fault into an outage.
    return JSONResponse(
        {
            "status": "ready" if ready else "not_ready",
            "checks": checks,
            "warmup": warm.report(),
            "upstreams": services.models.breaker_states(),
        },
        status_code=200 if ready else 503,
    )
