"""engine/tools.py: streamed tool-call pieces put back together, and the messages and request
fields a parsed tool conversation becomes."""

from __future__ import annotations

from lockgate.engine.tools import ToolCallAssembler, as_deltas, message_of, request_tools
from lockgate.engine.wire import ChatCompletionIn
from lockgate.models.base import ToolCall, ToolCallDelta


def test_pieces_assemble_by_index() -> None:
    calls = ToolCallAssembler()
    assert not calls
    calls.add([ToolCallDelta(0, "a", "first", "", "function"), ToolCallDelta(1, "b", "second")])
    calls.add([ToolCallDelta(0, arguments='{"x"'), ToolCallDelta(1, arguments="{}")])
    calls.add([ToolCallDelta(0, arguments=": 1}")])
    assert calls.calls() == [ToolCall("a", "first", '{"x": 1}'), ToolCall("b", "second", "{}")]


def test_names_repeated_or_in_pieces() -> None:
    repeated = ToolCallAssembler()
    repeated.add([ToolCallDelta(0, "a", "get_weather", "{")])
    repeated.add([ToolCallDelta(0, "a", "get_weather", "}")])
    assert repeated.calls() == [ToolCall("a", "get_weather", "{}")]
    split = ToolCallAssembler()
    split.add([ToolCallDelta(0, "a", "get_")])
    split.add([ToolCallDelta(0, name="weather")])
    assert split.calls()[0].name == "get_weather"


def test_whole_calls_as_one_piece_each() -> None:
    calls = [ToolCall("a", "f", "{}"), ToolCall("b", "g", "[]")]
    back = ToolCallAssembler()
    back.add(as_deltas(calls))
    assert back.calls() == calls


def test_a_parsed_conversation() -> None:
    body = ChatCompletionIn.model_validate(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "42"}]},
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
        }
    )
    assistant, tool = (message_of(m) for m in body.messages[1:])
    assert assistant.content == "" and assistant.tool_calls == (ToolCall("c1", "f", "{}"),)
    assert tool.content == "42" and tool.tool_call_id == "c1"
    fields = request_tools(body)
    assert fields["tools"] == [{"type": "function", "function": {"name": "f"}}]
    assert fields["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert fields["parallel_tool_calls"] is None


def test_tool_text_counts_definitions_and_calls() -> None:
    from lockgate.engine.tools import tool_text
    from lockgate.models.base import Message

    definitions = [{"type": "function", "function": {"name": "lookup_order"}}]
    messages = [Message("assistant", "", (ToolCall("c1", "lookup_order", '{"id": 12345}'),))]
    text = tool_text(definitions, messages)
    assert "lookup_order" in text and '{"id": 12345}' in text
    assert tool_text([], [Message("user", "hi")]) == ""
