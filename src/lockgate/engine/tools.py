"""OpenAI tool calling as the engine sees it: checking a request's tools and conversation,
turning them into the backend's types, and putting streamed tool-call pieces back together.

The gateway passes tools through to upstreams that take them; it never runs a tool itself.
What it adds is the checks an upstream would make anyway, made at the edge so a bad request
is a 400 naming the field instead of an upstream error, and the tool gate (stages/tool_gate.py)
for tools with side effects."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from lockgate.engine.errors import GatewayError
from lockgate.engine.wire import ChatCompletionIn, ChatMessageIn
from lockgate.models.base import ChatRequest, Message, ToolCall, ToolCallDelta


def _invalid(message: str, param: str, code: str = "invalid_value") -> GatewayError:
    return GatewayError(400, message, code, param)


def uses_tools(body: ChatCompletionIn) -> bool:
    """Whether the request involves tools at all: offered, chosen, or in the conversation."""
    if body.tools or body.tool_choice is not None or body.parallel_tool_calls:
        return True
    return any(m.role == "tool" or m.tool_calls or m.tool_call_id for m in body.messages)


def refuse_for_grounded(body: ChatCompletionIn, model: str) -> None:
    """The grounded model answers from the documents with citations; it has no tools to
    offer and would drop any silently, so a request with tools is refused."""
    if body.tools or body.tool_choice is not None or body.parallel_tool_calls:
        raise _invalid(
            f"the grounded model '{model}' answers from your documents and does not call "
            f"tools; use a pass-through model for tool calling",
            "tools",
            "unsupported_parameter",
        )
    for i, m in enumerate(body.messages):
        if m.role == "tool" or m.tool_calls:
            raise _invalid(
                f"the grounded model '{model}' does not call tools, so the conversation "
                f"cannot hold tool calls or tool results",
                f"messages.{i}",
                "unsupported_parameter",
            )


def needs_tool_backend(body: ChatCompletionIn) -> str | None:
    """The field that only a backend with tools can serve (None: nothing does)."""
    if body.tools:
        return "tools"
    for i, m in enumerate(body.messages):
        if m.role == "tool" or m.tool_calls:
            return f"messages.{i}"
    return None


def check_request(body: ChatCompletionIn) -> None:
    """What the schema alone cannot say about tools: how the fields fit together."""
    names: set[str] = set()
    for i, tool in enumerate(body.tools or []):
        if tool.function.name in names:
            raise _invalid(
                f"tool '{tool.function.name}' is declared twice", f"tools.{i}.function.name"
            )
        names.add(tool.function.name)
    if not body.tools:
        for field in ("tool_choice", "parallel_tool_calls"):
            if getattr(body, field) not in (None, False, "none"):
                raise _invalid(f"'{field}' is only allowed when 'tools' are given", field)
    choice = body.tool_choice
    if choice is not None and not isinstance(choice, str) and choice.function.name not in names:
        raise _invalid(
            f"tool_choice names '{choice.function.name}', which is not among the tools",
            "tool_choice.function.name",
        )
    _check_conversation(body.messages)


def _check_conversation(messages: Sequence[ChatMessageIn]) -> None:
    called: set[str] = set()
    for i, m in enumerate(messages):
        if m.tool_calls is not None:
            if m.role != "assistant":
                raise _invalid(
                    "only assistant messages carry tool_calls", f"messages.{i}.tool_calls"
                )
            for j, call in enumerate(m.tool_calls):
                if call.id in called:
                    raise _invalid(
                        f"tool call id '{call.id}' is used twice in the conversation",
                        f"messages.{i}.tool_calls.{j}.id",
                    )
                called.add(call.id)
        if m.role == "tool":
            if m.tool_call_id is None:
                raise _invalid(
                    "a tool message needs the tool_call_id of the call it answers",
                    f"messages.{i}.tool_call_id",
                    "missing_required_parameter",
                )
            if m.tool_call_id not in called:
                raise _invalid(
                    f"tool message answers '{m.tool_call_id}', which no earlier assistant "
                    f"message called",
                    f"messages.{i}.tool_call_id",
                )
        elif m.tool_call_id is not None:
            raise _invalid("only tool messages carry tool_call_id", f"messages.{i}.tool_call_id")


def message_of(m: ChatMessageIn) -> Message:
    calls = tuple(
        ToolCall(c.id, c.function.name, c.function.arguments, c.type) for c in m.tool_calls or ()
    )
    return Message(m.role, m.text(), calls, m.tool_call_id)


def request_tools(body: ChatCompletionIn) -> dict[str, Any]:
    """The ChatRequest fields of a request's tools, in the wire form upstreams take."""
    return {
        "tools": [t.model_dump(exclude_none=True) for t in body.tools or ()],
        "tool_choice": (
            body.tool_choice
            if body.tool_choice is None or isinstance(body.tool_choice, str)
            else body.tool_choice.model_dump()
        ),
        "parallel_tool_calls": body.parallel_tool_calls,
    }


def tool_names(request: ChatRequest) -> list[str]:
    return [t["function"]["name"] for t in request.tools]


def tool_text(definitions: Sequence[dict[str, Any]], messages: Iterable[Message]) -> str:
    """The tool definitions and calls as text, for estimating the tokens they take: an
    upstream counts them in the prompt like any message."""
    parts = [json.dumps(list(definitions), separators=(",", ":"))] if definitions else []
    for m in messages:
        parts.extend(f"{c.name} {c.arguments}" for c in m.tool_calls)
    return "\n".join(parts)


class ToolCallAssembler:
    """Puts streamed tool-call pieces back together into whole calls, by index."""

    def __init__(self) -> None:
        self._parts: dict[int, list[str | None]] = {}  # index -> [id, name, arguments, type]

    def __bool__(self) -> bool:
        return bool(self._parts)

    def add(self, deltas: Iterable[ToolCallDelta]) -> None:
        for d in deltas:
            part = self._parts.setdefault(d.index, [None, None, "", None])
            if d.id is not None:
                part[0] = d.id
            if d.name and d.name != part[1]:
                # OpenAI sends a name whole, once; a few servers repeat it on every piece and
                # a few send it in pieces like the arguments.
                part[1] = (part[1] or "") + d.name
            if d.arguments:
                part[2] = (part[2] or "") + d.arguments
            if d.type is not None:
                part[3] = d.type

    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(p[0] or f"call_{i}", p[1] or "", p[2] or "", p[3] or "function")
            for i, p in sorted(self._parts.items())
        ]


def as_deltas(calls: Sequence[ToolCall]) -> list[ToolCallDelta]:
    """Whole calls as one streamed piece each (what is relayed after the output guard had to
    rewrite a call's arguments)."""
    return [ToolCallDelta(i, c.id, c.name, c.arguments, c.type) for i, c in enumerate(calls)]
