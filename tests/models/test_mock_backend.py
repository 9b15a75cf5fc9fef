"""The in-process mock backend: deterministic answers, word-by-word streams with usage,
scripted latency and failures, and serving a configured model through the registry."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from lockgate.config import ConfigError, ModelSpec, Settings
from lockgate.models.base import ChatDelta, ChatRequest, Message, UpstreamError, estimate_tokens
from lockgate.models.mock import MockBackend, words
from lockgate.upstreams.fallback import CallReport
from lockgate.upstreams.registry import ModelRegistry


def request(text: str = "How long do refunds take?", **kw: object) -> ChatRequest:
    messages = [Message("system", "Be brief."), Message("user", text)]
    return ChatRequest(messages=messages, max_tokens=kw.pop("max_tokens", 64), **kw)  # type: ignore[arg-type]


async def deltas(backend: MockBackend, req: ChatRequest) -> list[ChatDelta]:
    return [d async for d in backend.stream(req)]


def test_complete_echoes_the_last_user_message_with_usage() -> None:
    result = asyncio.run(MockBackend().complete(request("Refund me, please.")))
    assert result.text == "Refund me, please."
    assert result.finish_reason == "stop"
    assert result.usage.completion_tokens == 3  # one token per word
    assert result.usage.prompt_tokens == (
        estimate_tokens("Be brief.") + estimate_tokens("Refund me, please.")
    )


def test_fixed_reply_and_the_same_answer_every_time() -> None:
    backend = MockBackend("m", {"reply": "Refunds take 30 days."})
    first = asyncio.run(backend.complete(request()))
    again = asyncio.run(backend.complete(request()))
    other = asyncio.run(backend.complete(request("something else")))
    assert first == again
    assert first.text == other.text == "Refunds take 30 days."
    assert backend.calls == 3
    assert backend.last_request is not None
    assert backend.last_request.messages[-1].content == "something else"


def test_stream_is_word_by_word_then_finish_then_usage() -> None:
    backend = MockBackend("m", {"reply": "  Refunds take\n30 days. "})
    out = asyncio.run(deltas(backend, request()))
    texts = [d.text for d in out if d.text]
    assert texts == ["  Refunds ", "take\n", "30 ", "days. "]
    assert "".join(texts) == "  Refunds take\n30 days. "
    assert out[-2].finish_reason == "stop"
    assert out[-1].usage is not None
    assert out[-1].usage.completion_tokens == 4
    assert out[-1].usage.total_tokens == out[-1].usage.prompt_tokens + 4
    # complete() and stream() agree.
    assert asyncio.run(backend.complete(request())).text == "".join(texts)


def test_max_tokens_and_stop_sequences_cut_the_answer() -> None:
    backend = MockBackend("m", {"reply": "one two three four five"})
    cut = asyncio.run(backend.complete(request(max_tokens=2)))
    assert (cut.text, cut.finish_reason, cut.usage.completion_tokens) == ("one two ", "length", 2)
    stopped = asyncio.run(backend.complete(request(stop=[" four"])))
    assert (stopped.text, stopped.finish_reason) == ("one two three", "stop")


def test_words_join_back() -> None:
    for text in ["", " ", "a", " a  b\n", "a\tb c"]:
        assert "".join(words(text)) == text


def test_latency() -> None:
    backend = MockBackend("m", {"reply": "a b c", "latency_ms": 30, "word_latency_ms": 10})
    t0 = time.perf_counter()
    asyncio.run(deltas(backend, request()))
    assert time.perf_counter() - t0 >= 0.045


def test_scripted_failure_every_call() -> None:
    backend = MockBackend("m", {"fail_status": 503, "retry_after_s": 2})
    with pytest.raises(UpstreamError) as info:
        asyncio.run(backend.complete(request()))
    assert info.value.upstream_status == 503
    assert info.value.retry_after == 2
    with pytest.raises(UpstreamError, match="returned 503"):
        asyncio.run(deltas(backend, request()))
    assert backend.calls == 2


def test_scripted_failure_first_calls_only() -> None:
    backend = MockBackend("m", {"reply": "ok", "fail_status": 500, "fail_first": 2})
    for _ in range(2):
        with pytest.raises(UpstreamError):
            asyncio.run(backend.complete(request()))
    assert asyncio.run(backend.complete(request())).text == "ok"


def test_scripted_failure_mid_stream() -> None:
    backend = MockBackend("m", {"reply": "a b c d", "fail_status": 502, "fail_after_words": 2})
    got: list[str] = []

    async def run() -> None:
        async for d in backend.stream(request()):
            got.append(d.text)

    with pytest.raises(UpstreamError, match="mid-stream after 2 word") as info:
        asyncio.run(run())
    assert got == ["a ", "b "]
    assert info.value.retryable is True


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="replies"):
        MockBackend("m", {"replies": "typo"})


def test_served_through_the_registry_with_retries(tmp_path: Path) -> None:
    spec = ModelSpec(
        backend="mock",
        params={"reply": "Refunds take 30 days.", "fail_status": 503, "fail_first": 1},
        resilience={"retries": 2, "backoff_base_ms": 1, "backoff_max_ms": 2},  # type: ignore[arg-type]
    )
    registry = ModelRegistry(Settings(home=tmp_path, models={"fake": spec}))  # type: ignore[arg-type]
    model = registry.get("fake")
    report = CallReport()
    result = asyncio.run(model.complete(request(), report))  # type: ignore[call-arg]
    assert result.text == "Refunds take 30 days."
    assert [a["outcome"] for a in report.attempts] == ["error", "ok"]
    assert model.ready()


def test_unknown_backend_names_the_key(tmp_path: Path) -> None:
    spec = ModelSpec(backend="mokc")
    with pytest.raises(ConfigError, match=r"'models\.fake\.backend': unknown chat backend 'mokc'"):
        ModelRegistry(Settings(home=tmp_path, models={"fake": spec}))  # type: ignore[arg-type]


TOOLS = [{"type": "function", "function": {"name": "lookup"}}]
SCRIPTED = {"tool_calls": [{"name": "lookup", "arguments": '{"id": 7}'}]}


def test_scripted_tool_calls_when_tools_are_offered() -> None:
    backend = MockBackend("m", SCRIPTED)
    result = asyncio.run(backend.complete(request(tools=TOOLS)))
    assert result.finish_reason == "tool_calls" and result.text == ""
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_1", "lookup", '{"id": 7}')
    ]
    # No tools offered: no calls, the usual echo.
    assert asyncio.run(backend.complete(request())).tool_calls == []


def test_streamed_tool_calls_and_a_tool_result() -> None:
    backend = MockBackend("m", SCRIPTED)
    pieces = asyncio.run(deltas(backend, request(tools=TOOLS)))
    parts = [t for d in pieces for t in d.tool_calls or []]
    assert parts[0].id == "call_1" and parts[0].name == "lookup"
    assert "".join(p.arguments or "" for p in parts) == '{"id": 7}'
    assert [d.finish_reason for d in pieces if d.finish_reason] == ["tool_calls"]
    answered = ChatRequest(
        [Message("user", "x"), Message("tool", "found it", tool_call_id="call_1")],
        max_tokens=16,
        tools=TOOLS,
    )
    result = asyncio.run(backend.complete(answered))
    assert result.text == "tool said: found it" and result.tool_calls == []
