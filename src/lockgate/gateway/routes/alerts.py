"""GET /v1/alerts: the alert history for a dashboard, newest first, and what is firing now.
Alerts are gateway-wide (a breaker, the error rate), so they are readable with
`metrics:read`, as the metrics they come from are."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lockgate.gateway.errors import GatewayError
from lockgate.gateway.openapi import documented
from lockgate.services import Services

MAX_LIMIT = 500
STATES = ("firing", "resolved")


@documented("Recent alerts, newest first (?limit=1-500, ?state=firing|resolved), and those firing")
async def list_alerts(request: Request) -> Response:
    services: Services = request.app.state.services
    limit = _limit(request.query_params.get("limit"))
    state = request.query_params.get("state")
    if state is not None and state not in STATES:
        raise GatewayError(
            400, f"state must be one of {', '.join(STATES)}", "invalid_value", "state"
        )
    alerts = services.alerts
    found = await asyncio.to_thread(alerts.recent, limit, state)
    firing = await asyncio.to_thread(alerts.firing)
    return JSONResponse({
        "object": "list",
        "firing": [{"object": "alert", **a.as_dict()} for a in firing],
        "data": [{"object": "alert", **a.as_dict()} for a in found],
    })


def _limit(raw: str | None) -> int:
    if raw is None:
        return 50
    try:
        value = int(raw)
    except ValueError:
        raise GatewayError(400, "limit must be an integer", "invalid_value", "limit") from None
    if not 1 <= value <= MAX_LIMIT:
        raise GatewayError(
            400, f"limit must be between 1 and {MAX_LIMIT}", "invalid_value", "limit"
        )
    return value
