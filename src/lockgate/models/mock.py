"""An in-process chat backend (`backend: mock`) for tests and benches where the HTTP wire is
not what is under test. Deterministic: it echoes the last user message or says a fixed reply,
streams it word by word (one word is one completion token), and can be told to be slow or to
fail. Configured by the model's `params`:

    models:
      fake:
        backend: mock
        params: {reply: "Refunds take 30 days.", latency_ms: 20, fail_status: 503, fail_first: 2}

With `tool_calls: [{name: get_weather, arguments: '{"city": "Oslo"}'}]` it calls those tools
whenever a request offers tools and its last message is not already a tool's result; a tool
result is answered by echoing it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lockgate.models.base import (
    ChatBackend,
    ChatDelta,
    ChatRequest,
    ChatResult,
    Message,
    ToolCall,
    ToolCallDelta,
    UpstreamError,
    Usage,
    estimate_tokens,
)

_WORD = re.compile(r"\S+\s*")


class MockToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    arguments: str = "{}"
    id: str | None = Field(None, description="default: call_<n>, n counting from 1")


class MockParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reply: str | None = Field(None, description="the answer; None: echo the last user message")
    latency_ms: float = Field(0.0, ge=0, description="wait before the first word")
    word_latency_ms: float = Field(0.0, ge=0, description="wait before each further word")
    fail_status: int | None = Field(
        None, ge=400, le=599, description="the upstream status of a scripted failure"
    )
    fail_first: int | None = Field(
        None, ge=0, description="only the first N calls fail; None: every call"
    )
    fail_after_words: int = Field(
        0, ge=0, description="a failing stream sends this many words first"
    )
    retry_after_s: float | None = Field(
        None, ge=0, description="the Retry-After the scripted failure carries"
    )
    tool_calls: tuple[MockToolCall, ...] = Field(
        (), description="the tools to call when a request offers tools"
    )


def words(text: str) -> list[str]:
    """`text` cut after each run of whitespace; the pieces join back to `text`."""
    lead = text[: len(text) - len(text.lstrip())]
    pieces = _WORD.findall(text[len(lead) :])
    if not pieces:
        return [text] if text else []
    pieces[0] = lead + pieces[0]
    return pieces


class MockBackend(ChatBackend):
    backend = "mock"
    supports_tools = True

    def __init__(
        self, name: str = "mock", params: MockParams | Mapping[str, Any] | None = None
    ) -> None:
        self.name = name
        self.params = (
            params if isinstance(params, MockParams) else MockParams.model_validate(params or {})
        )
        self.calls = 0
        self.last_request: ChatRequest | None = None

    # -- the answer ------------------------------------------------------------------------

    def _calls(self, request: ChatRequest) -> list[ToolCall]:
        last: Message | None = request.messages[-1] if request.messages else None
        if not (request.tools and self.params.tool_calls) or (last and last.role == "tool"):
            return []
        return [
            ToolCall(c.id or f"call_{i}", c.name, c.arguments)
            for i, c in enumerate(self.params.tool_calls, 1)
        ]

    def _reply(self, request: ChatRequest) -> str:
        if request.messages and request.messages[-1].role == "tool":
            return f"tool said: {request.messages[-1].content}"
        if self.params.reply is not None:
            return self.params.reply
        user = [m.content for m in request.messages if m.role == "user"]
        return user[-1] if user else (request.raw_prompt or "")

    def _prompt_tokens(self, request: ChatRequest) -> int:
        if request.raw_prompt is not None:
            return estimate_tokens(request.raw_prompt)
        return sum(estimate_tokens(m.content) for m in request.messages)

    def _plan(self, request: ChatRequest) -> tuple[list[str], str]:
        """The words to send and the finish reason: cut at a stop sequence or at max_tokens."""
        text = self._reply(request)
        finish = "stop"
        for stop in request.stop:
            at = text.find(stop) if stop else -1
            if at != -1:
                text = text[:at]
        pieces = words(text)
        if len(pieces) > request.max_tokens:
            pieces, finish = pieces[: request.max_tokens], "length"
        return pieces, finish

    def _fails(self) -> bool:
        """Counts the call; whether this one is scripted to fail."""
        self.calls += 1
        p = self.params
        return p.fail_status is not None and (p.fail_first is None or self.calls <= p.fail_first)

    def _error(self, sent: int) -> UpstreamError:
        status = self.params.fail_status
        what = f"failed mid-stream after {sent} word(s)" if sent else f"returned {status}"
        return UpstreamError(
            f"upstream '{self.name}' {what}: scripted failure",
            upstream_status=status,
            retryable=True if sent else None,
            retry_after=self.params.retry_after_s,
        )

    # -- ChatBackend -----------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ChatResult:
        self.last_request = request
        failing = self._fails()
        await _sleep(self.params.latency_ms)
        if failing:
            raise self._error(0)
        calls = self._calls(request)
        if calls:
            usage = Usage(self._prompt_tokens(request), sum(len(c.arguments) for c in calls))
            return ChatResult("", "tool_calls", usage, calls)
        pieces, finish = self._plan(request)
        await _sleep(self.params.word_latency_ms * max(0, len(pieces) - 1))
        usage = Usage(self._prompt_tokens(request), len(pieces))
        return ChatResult("".join(pieces), finish, usage)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]:
        self.last_request = request
        failing = self._fails()
        calls = self._calls(request)
        if calls and not failing:
            await _sleep(self.params.latency_ms)
            for delta in _call_deltas(calls):
                yield delta
            yield ChatDelta(finish_reason="tool_calls")
            tokens = sum(len(c.arguments) for c in calls)
            yield ChatDelta(usage=Usage(self._prompt_tokens(request), tokens))
            return
        pieces, finish = self._plan(request)
        await _sleep(self.params.latency_ms)
        for i, piece in enumerate(pieces):
            if failing and i >= self.params.fail_after_words:
                raise self._error(i)
            if i:
                await _sleep(self.params.word_latency_ms)
            yield ChatDelta(text=piece)
        if failing:
            raise self._error(len(pieces))
        yield ChatDelta(finish_reason=finish)
        yield ChatDelta(usage=Usage(self._prompt_tokens(request), len(pieces)))


def _call_deltas(calls: list[ToolCall]) -> list[ChatDelta]:
    """Each call as OpenAI streams one: id and name first, then the arguments in two parts."""
    out = []
    for i, call in enumerate(calls):
        half = len(call.arguments) // 2
        out.append(ChatDelta(tool_calls=[ToolCallDelta(i, call.id, call.name, "", "function")]))
        for part in (call.arguments[:half], call.arguments[half:]):
            out.append(ChatDelta(tool_calls=[ToolCallDelta(i, arguments=part)]))
    return out


async def _sleep(ms: float) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)
