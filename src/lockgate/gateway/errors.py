"""The HTTP form of an engine error: its OpenAI body, status and headers."""

from __future__ import annotations

from lockgate.engine.errors import GatewayError
from lockgate.gateway.jsonresponse import JSONResponse

__all__ = ["GatewayError", "error_response"]


def error_response(err: GatewayError, trace_id: str | None = None) -> JSONResponse:
    headers = dict(err.headers)
    if trace_id:
        headers["x-lockgate-trace-id"] = trace_id
    return JSONResponse(err.body(), status_code=err.status, headers=headers or None)
