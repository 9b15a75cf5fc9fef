"""Call the backend. For a stream the first token is awaited here for up to
`server.streaming.first_token_grace_s`, so an upstream that fails before producing anything is
still answered with a proper HTTP error, not a broken stream; past the grace period the response
starts and SSE keep-alive comments (routes/chat.py) cover the rest of the wait.

When every backend of a grounded request is down, the answer is an extractive one built from
the retrieved chunks (gateway/degrade.py), marked `degraded`, instead of a 5xx."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator

from lockgate.gateway.context import RequestContext
from lockgate.gateway.degrade import extractive_answer
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.pipeline import register
from lockgate.models.base import ChatDelta, UpstreamError
from lockgate.observability.metrics import METRICS
from lockgate.routing.deployments import Overloaded, Unavailable
from lockgate.routing.fallback import CallReport, ResilientModel
from lockgate.services import Services


def _gateway_error(exc: UpstreamError) -> GatewayError:
    code = "upstream_timeout" if exc.status == 504 else "upstream_error"
    if isinstance(exc, Overloaded):
        code = "overloaded"
    elif isinstance(exc, Unavailable):
        code = "upstream_unavailable"
    headers = {}
    if exc.status in (429, 503) and exc.retry_after is not None:
        # Whole seconds, at least 1: "Retry-After: 0" invites an immediate hammering.
        headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
    return GatewayError(exc.status, str(exc), code, headers=headers)


def _backend_down(exc: UpstreamError) -> bool:
    # Overload is ours, not the backends': the client should come back, not get a stand-in.
    # A 4xx other than 429 is the request's fault and would fail the same way again.
    if isinstance(exc, Overloaded):
        return False
    up = exc.upstream_status
    return up is None or up == 429 or up >= 500


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
        report = CallReport() if isinstance(model, ResilientModel) else None
        t0 = time.perf_counter()
        if not ctx.stream:
            try:
                if report is not None:
                    result = await model.complete(ctx.request, report)  # type: ignore[call-arg]
                else:
                    result = await model.complete(ctx.request)
            except UpstreamError as exc:
                self._note(ctx, report)
                if self._degraded(ctx, exc):
                    return
                raise _gateway_error(exc) from exc
            self._note(ctx, report)
            ctx.ttft_ms = (time.perf_counter() - t0) * 1000
            ctx.raw_output = result.text
            ctx.finish_reason = result.finish_reason
            ctx.usage = result.usage
            return
        if report is not None:
            stream = model.stream(ctx.request, report)  # type: ignore[call-arg]
        else:
            stream = model.stream(ctx.request)
        first_task = asyncio.ensure_future(_first(stream))
        grace = self.services.settings.server.streaming.first_token_grace_s
        try:
            await asyncio.wait({first_task}, timeout=grace)
        except asyncio.CancelledError:
            first_task.cancel()
            raise
        if not first_task.done():
            # Slow first token: start the response now; chat.py sends keep-alives meanwhile.
            METRICS.inc("lockgate_stream_late_start_total", model=ctx.backend_model)
            ctx.deltas = self._late(ctx, first_task, stream, report, t0)
            return
        try:
            first = first_task.result()
        except UpstreamError as exc:
            self._note(ctx, report)
            if self._degraded(ctx, exc):
                return
            raise _gateway_error(exc) from exc
        self._note(ctx, report)
        ctx.ttft_ms = (time.perf_counter() - t0) * 1000
        ctx.deltas = _tracked(ctx, first, stream)

    async def _late(
        self,
        ctx: RequestContext,
        first_task: asyncio.Future[ChatDelta],
        stream: AsyncIterator[ChatDelta],
        report: CallReport | None,
        t0: float,
    ) -> AsyncIterator[ChatDelta]:
        try:
            first = await first_task
        except UpstreamError as exc:
            self._note(ctx, report)
            # Nothing was streamed yet, so a stand-in answer is still honest.
            text = self._degrade(ctx, exc)
            if text is None:
                raise
            async for delta in _tracked(
                ctx, ChatDelta(text=text, finish_reason="stop"), _nothing()
            ):
                yield delta
            return
        finally:
            if not first_task.done():
                first_task.cancel()  # the client went away while we waited
        self._note(ctx, report)
        ctx.ttft_ms = (time.perf_counter() - t0) * 1000
        async for delta in _tracked(ctx, first, stream):
            yield delta

    def _note(self, ctx: RequestContext, report: CallReport | None) -> None:
        if report is None:
            return
        ctx.upstream = report.as_dict()
        served = report.served_by
        if served and served != ctx.backend_model:
            # A fallback answered: cost and the trace's backend follow the model that did.
            ctx.backend_model = served
            ctx.backend = self.services.settings.models[served].backend

    def _degraded(self, ctx: RequestContext, exc: UpstreamError) -> bool:
        """Answer with the extractive stand-in, if this request may have one."""
        text = self._degrade(ctx, exc)
        if text is None:
            return False
        if ctx.stream:
            ctx.deltas = _tracked(ctx, ChatDelta(text=text, finish_reason="stop"), _nothing())
        else:
            ctx.raw_output = text
            ctx.finish_reason = "stop"
        return True

    def _degrade(self, ctx: RequestContext, exc: UpstreamError) -> str | None:
        cfg = self.services.settings.grounded.degrade
        if not (cfg.enabled and ctx.grounded and ctx.context_chunks and _backend_down(exc)):
            return None
        built = extractive_answer(ctx.question, ctx.context_chunks, cfg)
        if built is None:
            return None
        text, _cited = built
        ctx.degraded = True
        ctx.error = f"degraded: {exc}"
        METRICS.inc("lockgate_degraded_answers_total", model=ctx.backend_model)
        if ctx.upstream is not None:
            ctx.upstream["degraded_because"] = str(exc)[:500]
        return text


async def _first(stream: AsyncIterator[ChatDelta]) -> ChatDelta:
    try:
        return await anext(stream)
    except StopAsyncIteration:
        return ChatDelta(finish_reason="stop")


async def _nothing() -> AsyncIterator[ChatDelta]:
    return
    yield  # pragma: no cover - makes this an async generator


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
