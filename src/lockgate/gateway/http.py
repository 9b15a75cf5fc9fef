"""Small HTTP helpers shared by the routes: bounded JSON bodies and trace ids on every reply."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockgate.gateway.errors import GatewayError

TRACE_HEADER = "x-lockgate-trace-id"


async def read_json(request: Request, max_bytes: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise GatewayError(413, f"request body larger than {max_bytes} bytes", "body_too_large")
    body = bytearray()
    async for part in request.stream():
        body.extend(part)
        if len(body) > max_bytes:
            raise GatewayError(413, f"request body larger than {max_bytes} bytes", "body_too_large")
    if not body:
        raise GatewayError(400, "request body is empty; expected JSON", "invalid_json")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise GatewayError(400, "request body is not valid UTF-8", "invalid_json") from None
    except RecursionError:
        raise GatewayError(400, "JSON nested too deeply", "invalid_json") from None
    except ValueError as exc:
        raise GatewayError(400, f"invalid JSON: {exc}", "invalid_json") from None


class TraceIdMiddleware:
    """Gives each request a trace id (reused by the route) and echoes it in a header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        trace_id = state.setdefault("trace_id", uuid.uuid4().hex)
        header = (TRACE_HEADER.encode(), trace_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != header[0]]
                message["headers"] = [*headers, header]
            await send(message)

        await self.app(scope, receive, send_with_id)
