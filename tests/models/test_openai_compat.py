"""The OpenAI-compatible backend's handling of tools on its own: what it forwards, and how it
reads tool calls back, whole and streamed, refusing shapes that are not OpenAI's as malformed
(a 502 upstream error, never an exception that would become a 500)."""

from __future__ import annotations

import json

import pytest

from lockgate.config import ModelSpec
from lockgate.models.base import ChatRequest, Message, ToolCall, ToolCallDelta, UpstreamError
from lockgate.models.openai_compat import OpenAICompatModel, _parse_chunk, _tool_calls

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def _model() -> OpenAICompatModel:
    return OpenAICompatModel("m", ModelSpec(backend="openai", base_url="http://127.0.0.1:9/v1"))


def test_plain_requests_are_sent_as_before() -> None:
    body = _model()._body(ChatRequest([Message("user", "hi")], max_tokens=5), False)
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(body)


def test_tools_and_tool_turns_are_forwarded() -> None:
    call = ToolCall("c1", "f", '{"a": 1}')
    messages = [
        Message("user", "hi"),
        Message("assistant", "", (call,)),
        Message("tool", "42", tool_call_id="c1"),
    ]
    request = ChatRequest(
        messages, max_tokens=5, tools=[TOOL], tool_choice="required", parallel_tool_calls=False
    )
    body = _model()._body(request, True)
    assert body["tools"] == [TOOL]
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert body["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
        ],
    }
    assert body["messages"][2] == {"role": "tool", "content": "42", "tool_call_id": "c1"}


def test_whole_tool_calls_are_read() -> None:
    raw = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert _tool_calls(raw) == [ToolCall("c1", "f", "{}")]
    assert _tool_calls(None) == []


@pytest.mark.parametrize(
    "raw",
    [
        [{"type": "function", "function": {"name": "f", "arguments": "{}"}}],
        [{"id": "c1", "function": {"name": 3, "arguments": "{}"}}],
        [{"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}],
        ["not a call"],
        "not a list of calls",
    ],
)
def test_malformed_tool_calls_are_refused(raw: object) -> None:
    with pytest.raises((KeyError, TypeError)):
        _tool_calls(raw)


def _chunk(tool_calls: object) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": tool_calls}}]})


def test_streamed_pieces_are_read_as_sent() -> None:
    first = _chunk(
        [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}]
    )
    later = _chunk([{"index": 0, "function": {"arguments": '{"a"'}}])
    a, b = _parse_chunk(first, "m"), _parse_chunk(later, "m")
    assert a is not None and a.tool_calls == [ToolCallDelta(0, "c1", "f", "", "function")]
    assert b is not None and b.tool_calls == [ToolCallDelta(0, arguments='{"a"')]
    assert b.tool_calls[0].as_dict() == {"index": 0, "function": {"arguments": '{"a"'}}


@pytest.mark.parametrize(
    "pieces",
    [
        [{"function": {"arguments": "x"}}],  # no index
        [{"index": -1, "function": {"arguments": "x"}}],
        [{"index": True, "function": {"arguments": "x"}}],
        [{"index": 0, "function": {"arguments": 5}}],
        [{"index": 0, "function": "f"}],
        ["piece"],
    ],
)
def test_malformed_stream_pieces_are_an_upstream_error(pieces: object) -> None:
    with pytest.raises(UpstreamError, match="malformed tool call"):
        _parse_chunk(_chunk(pieces), "m")
