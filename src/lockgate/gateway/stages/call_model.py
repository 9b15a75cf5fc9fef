"""Call the backend. For a stream the first token is awaited here, so an upstream that fails
before producing anything is still answered with a proper HTTP error, not a broken stream."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from lockgate.gateway.context import RequestContext
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.pipeline import register
from lockgate.models.base import ChatDelta, UpstreamError
from lockgate.services import Services


def _gateway_error(exc: UpstreamError) -> GatewayError:
    code = "upstream_timeout" if exc.status == 504 else "upstream_error"
    return GatewayError(exc.status, str(exc), code)


class CallModel:
    name = "call_model"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, ctx: RequestContext) -> None:
        if ctx.refused or ctx.request is None:
            return
        model = self.services.models.get(ctx.backend_model)
        if ctx.prompt is None:
            ctx.prompt = json.dumps([m.__dict__ for m in ctx.request.messages])
        t0 = time.perf_counter()
        if not ctx.stream:
            try:
                result = await model.complete(ctx.request)
            except UpstreamError as exc:
                raise _gateway_error(exc) from exc
            ctx.ttft_ms = (time.perf_counter() - t0) * 1000
            ctx.raw_output = result.text
            ctx.finish_reason = result.finish_reason
            ctx.usage = result.usage
            return
        stream = model.stream(ctx.request)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            first = ChatDelta(finish_reason="stop")
        except UpstreamError as exc:
            raise _gateway_error(exc) from exc
        ctx.ttft_ms = (time.perf_counter() - t0) * 1000
        ctx.deltas = _tracked(ctx, first, stream)


async def _tracked(
    ctx: RequestContext, first: ChatDelta, rest: AsyncIterator[ChatDelta]
) -> AsyncIterator[ChatDelta]:
    async def chain() -> AsyncIterator[ChatDelta]:
        yield first
        async for d in rest:
            yield d

    try:
        async for delta in chain():
            ctx.raw_output += delta.text
            if delta.finish_reason:
                ctx.finish_reason = delta.finish_reason
            if delta.usage:
                ctx.usage = delta.usage
            yield delta
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()


register("call_model")(CallModel)
