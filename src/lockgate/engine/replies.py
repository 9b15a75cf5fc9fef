"""The OpenAI response bodies of a turn: one completion, or the chunks of a stream."""

from __future__ import annotations

from typing import Any

from lockgate.engine.answer import Answer
from lockgate.engine.errors import GatewayError
from lockgate.engine.run import Reply
from lockgate.models.base import ToolCallDelta, Usage


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def message_body(answer: Answer) -> dict[str, Any]:
    if not answer.tool_calls:
        return {"role": "assistant", "content": answer.text}
    # As OpenAI answers a turn that called tools: content null unless the model also wrote.
    return {
        "role": "assistant",
        "content": answer.text or None,
        "tool_calls": [c.as_dict() for c in answer.tool_calls],
    }


def completion_body(reply: Reply) -> dict[str, Any]:
    assert reply.turn is not None
    answer = reply.answer
    return {
        "id": reply.turn.completion_id,
        "object": "chat.completion",
        "created": int(reply.call.created_at),
        "model": reply.turn.model_name,
        "choices": [
            {
                "index": 0,
                "message": message_body(answer),
                "finish_reason": answer.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage_body(answer.usage),
        "lockgate": reply.lockgate_object(),
    }


class ChunkBodies:
    """The bodies of one streamed completion's chunks, sharing id, created and model."""

    def __init__(self, reply: Reply) -> None:
        assert reply.turn is not None
        self.reply = reply
        self.base = {
            "id": reply.turn.completion_id,
            "object": "chat.completion.chunk",
            "created": int(reply.call.created_at),
            "model": reply.turn.model_name,
        }

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**self.base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def tool_calls(self, calls: list[ToolCallDelta]) -> dict[str, Any]:
        """Tool-call pieces in OpenAI's chunk shape: `index` always, `id`, `type` and the
        function's `name` on a call's first piece, `arguments` fragments on the rest."""
        return self.delta({"tool_calls": [c.as_dict() for c in calls]})

    def final_usage(self) -> dict[str, Any]:
        return {
            **self.base,
            "choices": [],
            "usage": usage_body(self.reply.answer.usage),
            "lockgate": self.reply.lockgate_object(),
        }

    def error(self, err: GatewayError) -> dict[str, Any]:
        return {**err.body(), "lockgate": self.reply.lockgate_object()}
