"""GET /v1/releases: the staged releases for a dashboard, with the current and rollout ones
named. Releases are gateway-wide (not per tenant), so they are readable with `releases:read`
only: developers, analysts and admins, not apps."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lockgate.gateway.openapi import documented
from lockgate.services import Services


@documented("Staged releases, newest first, and which are current and in rollout")
async def list_releases(request: Request) -> Response:
    services: Services = request.app.state.services
    store = services.releases
    found = await asyncio.to_thread(store.all)
    current = next((r.name for r in found if r.stage == "full"), None)
    rollout = next((r.name for r in found if r.stage in ("pilot", "percentage")), None)
    return JSONResponse({
        "object": "list",
        "current": current,
        "rollout": rollout,
        "data": [{"object": "release", **r.as_dict()} for r in found],
    })
