"""Small HTTP helpers shared by the routes: bounded JSON bodies and trace ids on every reply."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockgate.engine.wire import has_lone_surrogate
from lockgate.gateway.body_timeout import body_timeout_error
from lockgate.gateway.errors import GatewayError
from lockgate.jsoncodec import fast_loads

TRACE_HEADER = "x-lockgate-trace-id"


def _too_large(max_bytes: int, code: str, param: str | None) -> GatewayError:
    return GatewayError(413, f"request body larger than {max_bytes} bytes", code, param)


async def bounded_stream(
    request: Request,
    max_bytes: int,
    timeout_s: float,
    code: str = "body_too_large",
    param: str | None = None,
) -> AsyncGenerator[bytes, None]:
    """The request body as it arrives, stopped with 413 as soon as it crosses `max_bytes`
    (chunked bodies declare no length) and with 408 when the whole body takes longer than
    `timeout_s` (a client dripping bytes would otherwise hold its connection forever)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes, code, param)
    deadline = time.monotonic() + timeout_s
    parts = request.stream().__aiter__()
    seen = 0
    while True:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            # A deadline on this task: wait_for would start a task per read, and the
            # request's own task would wait a turn of the loop for each (the body is
            # usually all in already, so the read itself does not wait at all).
            async with asyncio.timeout(left):
                part = await parts.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise body_timeout_error(timeout_s) from None
        seen += len(part)
        if seen > max_bytes:
            raise _too_large(max_bytes, code, param)
        yield part


async def read_json(
    request: Request, max_bytes: int, timeout_s: float | None = None, optional: bool = False
) -> Any:
    """The JSON body; with `optional`, an empty body reads as None (actions whose body only
    carries optional fields, such as a note)."""
    if timeout_s is None:
        timeout_s = request.app.state.services.settings.server.body_read_timeout_s
    body = bytearray()
    async for part in bounded_stream(request, max_bytes, timeout_s):
        body.extend(part)
    if not body:
        if optional:
            return None
        raise GatewayError(400, "request body is empty; expected JSON", "invalid_json")
    parsed, data = fast_loads(body)
    if parsed:
        return data  # orjson took it: valid UTF-8 without a lone surrogate, nothing to check
    # The standard library decides the rest, for its exact answer and error message.
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise GatewayError(400, "request body is not valid UTF-8", "invalid_json") from None
    except RecursionError:
        raise GatewayError(400, "JSON nested too deeply", "invalid_json") from None
    except ValueError as exc:
        raise GatewayError(400, f"invalid JSON: {exc}", "invalid_json") from None
    if has_lone_surrogate(data):
        raise GatewayError(
            400, "request body holds a lone UTF-16 surrogate (\\ud800-\\udfff)", "invalid_json"
        )
    return data


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
