"""POST /v1/chat/completions — both the grounded `lockgate` model and pass-through models.
The route only translates: HTTP in, a Call to the engine, the Reply out as JSON or SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from lockgate.engine.errors import GatewayError
from lockgate.engine.replies import ChunkBodies, completion_body
from lockgate.engine.run import Engine, Reply
from lockgate.engine.wire import ChatCompletionIn
from lockgate.gateway.errors import error_response
from lockgate.gateway.http import read_json
from lockgate.gateway.identity import APP_HEADER, PROJECT_HEADER, caller_of, client_of, edge_call
from lockgate.gateway.jsonresponse import JSONResponse
from lockgate.gateway.keepalive import with_keepalive
from lockgate.gateway.openapi import documented
from lockgate.jsoncodec import dumps
from lockgate.models.base import UpstreamError


def _event(data: dict[str, Any]) -> bytes:
    body = dumps(data)
    if body is None:  # what orjson cannot write: the standard library, ASCII-escaped
        body = json.dumps(data, separators=(",", ":")).encode()
    return b"data: " + body + b"\n\n"


async def _sse(reply: Reply, keepalive_s: float) -> AsyncIterator[bytes]:
    bodies = ChunkBodies(reply)
    yield _event(bodies.delta({"role": "assistant", "content": ""}))
    try:
        if not reply.streaming:
            yield _event(bodies.delta({"content": reply.answer.text}))
        else:
            async for delta in with_keepalive(reply.deltas(), keepalive_s):
                if delta is None:
                    yield b": keep-alive\n\n"  # an SSE comment: clients ignore it
                    continue
                if delta.text:
                    yield _event(bodies.delta({"content": delta.text}))
                if delta.tool_calls:
                    yield _event(bodies.tool_calls(delta.tool_calls))
    except (UpstreamError, GatewayError) as exc:
        # Headers are gone already; the failure travels as a final error event. A layer's
        # own refusal keeps its code (a tool call awaiting approval, say).
        err = (
            exc
            if isinstance(exc, GatewayError) and exc.status < 500
            else GatewayError(exc.status, str(exc), "upstream_error")
        )
        yield _event(bodies.error(err))
        yield b"data: [DONE]\n\n"
        return
    except Exception:
        # A bug in a layer after the model: end the stream cleanly (the engine traced it).
        trace_id = reply.call.trace_id
        err = GatewayError(500, f"internal error; quote trace id {trace_id}", "internal_error")
        yield _event(bodies.error(err))
        yield b"data: [DONE]\n\n"
        return
    answer = reply.answer
    if answer.suffix:
        yield _event(bodies.delta({"content": answer.suffix}))
    yield _event(bodies.delta({}, answer.finish_reason))
    yield _event(bodies.final_usage())
    yield b"data: [DONE]\n\n"


@documented(
    "Chat completion (grounded `lockgate` model or pass-through); SSE when stream is true",
    body=ChatCompletionIn,
)
async def chat_completions(request: Request) -> Response:
    services = request.app.state.services
    engine: Engine = request.app.state.engine
    trace_id = request.state.trace_id
    body: object = None
    failed: GatewayError | None = None
    try:
        body = await read_json(request, services.settings.server.max_body_bytes)
    except GatewayError as err:
        failed = err
    call = edge_call(
        request,
        "/v1/chat/completions",
        body if failed is None else {},
        app=request.headers.get(APP_HEADER),
        project=request.headers.get(PROJECT_HEADER),
        client=client_of(request),
        caller=caller_of(request),
    )
    if failed is not None:
        await engine.record_failure(call, failed)
        return error_response(failed, trace_id)
    reply = await engine.run_turn(call)
    if reply.error is not None:
        return error_response(reply.error, trace_id)
    assert reply.turn is not None
    if reply.turn.stream:
        return StreamingResponse(
            _sse(reply, services.settings.server.streaming.keepalive_interval_s),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", **reply.state.headers},
        )
    return JSONResponse(completion_body(reply), headers=reply.state.headers or None)
