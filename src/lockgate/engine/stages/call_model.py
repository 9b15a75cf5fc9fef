"""Call the backend: the innermost layer. For a stream the first token is awaited here for up
to `server.streaming.first_token_grace_s`, so an upstream that fails before producing anything
is still answered with a proper HTTP error, not a broken stream; past the grace period the
response starts and SSE keep-alive comments cover the rest of the wait.

When every backend of a grounded turn is down, the answer is an extractive one built from
the retrieved chunks (engine/degrade.py), marked `degraded`, instead of a 5xx."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from lockgate.config import Settings
from lockgate.engine.answer import Answer, aclose_stream
from lockgate.engine.degrade import extractive_answer
from lockgate.engine.errors import GatewayError
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import CallRecord, TurnState
from lockgate.engine.tools import ToolCallAssembler
from lockgate.engine.turn import Turn
from lockgate.models.base import ChatDelta, ChatRequest, UpstreamError
from lockgate.observability.metrics import METRICS
from lockgate.upstreams.deployments import Overloaded, Unavailable
from lockgate.upstreams.fallback import CallReport
from lockgate.upstreams.registry import ModelRegistry

if TYPE_CHECKING:
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
    return GatewayError(exc.status, str(exc), code, headers=headers, detail=exc.for_trace())


def _backend_down(exc: UpstreamError) -> bool:
    # Overload is ours, not the backends': the client should come back, not get a stand-in.
    # A 4xx other than 429 is the request's fault and would fail the same way again.
    if isinstance(exc, Overloaded):
        return False
    up = exc.upstream_status
    return up is None or up == 429 or up >= 500


class CallModel(Stage):
    name: ClassVar[str] = "call_model"
    terminal: ClassVar[bool] = True  # never calls a next layer: it must be listed last

    def __init__(self, models: ModelRegistry, settings: Settings) -> None:
        self.models = models
        self.settings = settings

    @classmethod
    def from_services(cls, services: Services) -> CallModel:
        return cls(services.models, services.settings)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        request: ChatRequest = turn.request
        if state.prompt_text is None:
            sent = [m.as_dict() for m in request.messages]
            # What the upstream reads: a tool turn's definitions are part of its prompt.
            state.prompt_text = json.dumps(
                {"messages": sent, "tools": request.tools} if request.tools else sent
            )
        upstream = self.models.get(turn.backend_model)
        report = CallReport()
        state.call = CallRecord(report)
        t0 = time.perf_counter()
        if not turn.stream:
            try:
                result = await upstream.complete(request, report)
            except UpstreamError as exc:
                return self._failed(turn, state, exc)
            self._served(state)
            return Answer(
                raw=result.text,
                # What the caller gets unless a later layer (postprocess) rewrites it: a
                # pipeline of `call_model` alone is a plain proxy.
                text=result.text,
                finish_reason=result.finish_reason,
                usage=result.usage,
                ttft_ms=(time.perf_counter() - t0) * 1000,
                # Calls nobody offered tools for would skip the tool gate: never returned.
                tool_calls=result.tool_calls if request.tools else [],
            )
        stream = upstream.stream(request, report)
        first_task = asyncio.ensure_future(_first(stream))
        grace = self.settings.server.streaming.first_token_grace_s
        try:
            await asyncio.wait({first_task}, timeout=grace)
        except asyncio.CancelledError:
            first_task.cancel()
            raise
        if not first_task.done():
            # Slow first token: start the response now; the edge sends keep-alives meanwhile.
            METRICS.inc("lockgate_stream_late_start_total", model=turn.backend_model)
            answer = Answer()
            answer.stream = self._late(turn, state, answer, first_task, stream, t0)
            return answer
        try:
            first = first_task.result()
        except UpstreamError as exc:
            return self._failed(turn, state, exc)
        self._served(state)
        answer = Answer(ttft_ms=(time.perf_counter() - t0) * 1000)
        answer.stream = _tracked(answer, first, stream, bool(request.tools))
        return answer

    async def _late(
        self,
        turn: Turn,
        state: TurnState,
        answer: Answer,
        first_task: asyncio.Future[ChatDelta],
        stream: AsyncIterator[ChatDelta],
        t0: float,
    ) -> AsyncIterator[ChatDelta]:
        try:
            first = await first_task
        except UpstreamError as exc:
            self._served(state)
            # Nothing was streamed yet, so a stand-in answer is still honest.
            text = self._degrade_text(turn, state, exc)
            if text is None:
                raise
            answer.degraded = True
            stand_in = ChatDelta(text=text, finish_reason="stop")
            async for delta in _tracked(answer, stand_in, _nothing()):
                yield delta
            return
        finally:
            if not first_task.done():
                first_task.cancel()  # the client went away while we waited
        self._served(state)
        answer.ttft_ms = (time.perf_counter() - t0) * 1000
        async for delta in _tracked(answer, first, stream, bool(turn.request.tools)):
            yield delta

    def _served(self, state: TurnState) -> None:
        report = state.call.report if state.call else None
        if report is None or state.turn is None:
            return
        served = report.served_by
        if served and served != state.turn.backend_model:
            # A fallback answered: cost and the trace's backend follow the model that did.
            state.served_by = (served, self.settings.models[served].backend)

    def _failed(self, turn: Turn, state: TurnState, exc: UpstreamError) -> Answer:
        """Every backend failed before answering: the extractive stand-in if this turn may
        have one, else the upstream's error as the gateway's."""
        self._served(state)
        text = self._degrade_text(turn, state, exc)
        if text is None:
            raise _gateway_error(exc) from exc
        answer = Answer(degraded=True)
        if turn.stream:
            stand_in = ChatDelta(text=text, finish_reason="stop")
            answer.stream = _tracked(answer, stand_in, _nothing())
        else:
            answer.raw = text
        return answer

    def _degrade_text(self, turn: Turn, state: TurnState, exc: UpstreamError) -> str | None:
        cfg = self.settings.grounded.degrade
        context = state.retrieval.context if state.retrieval else []
        if not (cfg.enabled and turn.grounded and context and _backend_down(exc)):
            return None
        built = extractive_answer(turn.question, context, cfg)
        if built is None:
            return None
        text, _cited = built
        state.error = f"degraded: {exc}"
        METRICS.inc("lockgate_degraded_answers_total", model=turn.backend_model)
        if state.call is not None:
            state.call.degraded_because = str(exc)[:500]
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
    answer: Answer, first: ChatDelta, rest: AsyncIterator[ChatDelta], tools: bool = False
) -> AsyncIterator[ChatDelta]:
    async def chain() -> AsyncIterator[ChatDelta]:
        yield first
        async for d in rest:
            yield d

    calls: ToolCallAssembler | None = None
    try:
        async for delta in chain():
            answer.raw += delta.text
            if delta.finish_reason:
                answer.finish_reason = delta.finish_reason
            if delta.usage:
                answer.usage = delta.usage
            if delta.tool_calls and not tools:
                # Offered no tools, the caller gets no calls (they would skip the gate).
                delta = replace(delta, tool_calls=None)
            elif delta.tool_calls:
                calls = calls or ToolCallAssembler()
                calls.add(delta.tool_calls)
            yield delta
        if calls:
            answer.tool_calls = calls.calls()
        answer.text = answer.text or answer.raw
    finally:
        await aclose_stream(rest)
