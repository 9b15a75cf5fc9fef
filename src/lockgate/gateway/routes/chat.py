"""POST /v1/chat/completions — both the grounded `lockgate` model and pass-through models."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from lockgate.budget.identity import PROJECT_HEADER, principal_from_headers
from lockgate.gateway.context import RequestContext
from lockgate.gateway.errors import GatewayError, error_response
from lockgate.gateway.http import read_json
from lockgate.gateway.keepalive import with_keepalive
from lockgate.gateway.pipeline import Pipeline
from lockgate.models.base import UpstreamError
from lockgate.observability.trace_recorder import record
from lockgate.services import Services

log = logging.getLogger("lockgate.gateway")


def _usage(ctx: RequestContext) -> dict[str, int]:
    return {
        "prompt_tokens": ctx.usage.prompt_tokens,
        "completion_tokens": ctx.usage.completion_tokens,
        "total_tokens": ctx.usage.total_tokens,
    }


def completion_body(ctx: RequestContext) -> dict[str, Any]:
    return {
        "id": ctx.completion_id,
        "object": "chat.completion",
        "created": int(ctx.created_at),
        "model": ctx.model_name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ctx.output},
                "finish_reason": ctx.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": _usage(ctx),
        "lockgate": ctx.lockgate_object(),
    }


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _sse(ctx: RequestContext, pipeline: Pipeline, services: Services) -> AsyncIterator[str]:
    base = {
        "id": ctx.completion_id,
        "object": "chat.completion.chunk",
        "created": int(ctx.created_at),
        "model": ctx.model_name,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    try:
        yield chunk({"role": "assistant", "content": ""})
        if ctx.deltas is None:
            yield chunk({"content": ctx.output})
        else:
            interval = services.settings.server.streaming.keepalive_interval_s
            async for delta in with_keepalive(ctx.deltas, interval):
                if delta is None:
                    yield ": keep-alive\n\n"  # an SSE comment: clients ignore it
                elif delta.text:
                    yield chunk({"content": delta.text})
        await pipeline.finish(ctx)
        if ctx.stream_suffix:
            yield chunk({"content": ctx.stream_suffix})
        yield chunk({}, ctx.finish_reason)
        yield _event(
            {**base, "choices": [], "usage": _usage(ctx), "lockgate": ctx.lockgate_object()}
        )
        yield "data: [DONE]\n\n"
    except (UpstreamError, GatewayError) as exc:
        # Headers are gone already; the failure travels as a final error event.
        status = getattr(exc, "status", 502)
        ctx.status, ctx.http_status, ctx.error = "error", status, str(exc)
        err = GatewayError(status, str(exc), "upstream_error")
        yield _event({**err.body(), "lockgate": ctx.lockgate_object()})
        yield "data: [DONE]\n\n"
    except Exception as exc:
        # A bug in a stage after the model: end the stream cleanly and trace it as an error.
        log.exception("unhandled error in stream (trace %s)", ctx.trace_id)
        ctx.status, ctx.http_status, ctx.error = "error", 500, f"{type(exc).__name__}: {exc}"
        err = GatewayError(500, f"internal error; quote trace id {ctx.trace_id}", "internal_error")
        yield _event({**err.body(), "lockgate": ctx.lockgate_object()})
        yield "data: [DONE]\n\n"
    except asyncio.CancelledError:
        ctx.status, ctx.error = "cancelled", "client disconnected"
        raise
    finally:
        await ctx.close()
        await asyncio.to_thread(record, services.traces, ctx)


async def chat_completions(request: Request) -> Response:
    services: Services = request.app.state.services
    pipeline: Pipeline = request.app.state.pipeline
    ctx = RequestContext(endpoint="/v1/chat/completions", body={}, trace_id=request.state.trace_id)
    ctx.app = request.headers.get("x-lockgate-app")
    # issue 4c: caller id header (until API keys) for rate limits and budgets
    ctx.principal = principal_from_headers(request.headers)
    ctx.project = request.headers.get(PROJECT_HEADER)
    try:
        body = await read_json(request, services.settings.server.max_body_bytes)
        if not isinstance(body, dict):
            raise GatewayError(400, "request body must be a JSON object", "invalid_body")
        ctx.body = body
        await pipeline.prepare(ctx)
        if ctx.stream:
            return StreamingResponse(
                _sse(ctx, pipeline, services),
                media_type="text/event-stream",
                headers={
                    "cache-control": "no-cache",
                    "x-accel-buffering": "no",
                    **ctx.response_headers,
                },
            )
        await pipeline.finish(ctx)
    except GatewayError as err:
        ctx.status, ctx.http_status, ctx.error = "error", err.status, err.message
        await ctx.close()
        await asyncio.to_thread(record, services.traces, ctx)
        return error_response(err, ctx.trace_id)
    except Exception as exc:
        # Still traced; the app's handler answers with an OpenAI-style 500.
        ctx.status, ctx.http_status, ctx.error = "error", 500, f"{type(exc).__name__}: {exc}"
        await ctx.close()
        await asyncio.to_thread(record, services.traces, ctx)
        raise
    await ctx.close()
    await asyncio.to_thread(record, services.traces, ctx)
    return JSONResponse(completion_body(ctx), headers=ctx.response_headers or None)
