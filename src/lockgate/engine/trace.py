"""One trace row from a finished turn: the request, what was retrieved and sent, the outcome."""

from __future__ import annotations

from typing import Any

from lockgate.engine.answer import Answer
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Call, Turn

# A trace keeps the prompt and outputs for debugging, bounded so one huge request cannot
# bloat the store.
_MAX_TEXT = 200_000


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"… [{len(text) - _MAX_TEXT} more characters]"


def _retrieved(state: TurnState) -> list[dict[str, Any]]:
    if state.retrieval is None:
        return []
    in_prompt = {c.chunk_id for c in state.retrieval.context}
    return [
        {
            "chunk_id": c.chunk_id,
            "document_id": c.document_id,
            "source": c.source,
            "page": c.page,
            "version": c.version,
            "score": round(c.score, 6),
            "vector_score": c.vector_score,
            "bm25_score": c.bm25_score,
            "in_prompt": c.chunk_id in in_prompt,
            # The chunk's access list: TraceStore.record restricts the trace to readers who
            # could see every chunk it retrieved.
            "groups": list(c.groups),
        }
        for c in state.retrieval.result.chunks
    ]


def trace_row(call: Call, turn: Turn | None, state: TurnState, answer: Answer) -> dict[str, Any]:
    sent = state.turn or turn
    body = call.body if isinstance(call.body, dict) else {}
    request = {k: v for k, v in body.items() if k != "messages"}
    request["messages"] = [m.as_dict() for m in sent.messages] if sent is not None else []
    if isinstance(request.get("tools"), list):
        # The names say what the model could call; the schemas are the caller's code.
        request["tools"] = _tool_names(request["tools"])
    model, backend = (sent.backend_model, sent.backend) if sent is not None else ("", "")
    if state.served_by is not None:
        model, backend = state.served_by
    return {
        "id": call.trace_id,
        "created_at": call.created_at,
        "principal": call.principal.id,
        "tenant": call.principal.tenant,
        "endpoint": call.endpoint,
        "model": turn.model_name if turn is not None else None,
        "backend": f"{backend}:{model}" if backend else None,
        "prompt_template": state.prompt.name if state.prompt else None,
        "prompt_version": state.prompt.version if state.prompt else None,
        "prompt_hash": state.prompt.hash if state.prompt else None,
        "prompt_label": state.prompt.label if state.prompt else None,
        "stream": int(turn.stream) if turn is not None else 0,
        "status": state.status,
        "http_status": state.http_status,
        "error": state.error,
        "request": request,
        "retrieved": _retrieved(state),
        "prompt": _clip(state.prompt_text),
        "raw_output": _clip(answer.raw),
        "output": _clip(answer.text),
        "tokens_in": answer.usage.prompt_tokens,
        "tokens_out": answer.usage.completion_tokens,
        "cost": answer.cost,
        "latency_ms": round(state.elapsed_ms(), 3),
        "ttft_ms": None if answer.ttft_ms is None else round(answer.ttft_ms, 3),
        "refused": int(answer.refused),
        "grounded": int(answer.grounded),
        "stages": [t.__dict__ for t in state.timings],
        "app": call.app if turn is None else turn.app,
        "guardrails": [e.as_dict() for e in state.guard.entries],
        "guard_action": state.guard.action,
        "groundedness": answer.groundedness,
        "degraded": int(answer.degraded),
        "upstream": state.call.as_dict() if state.call else None,
        "cache": state.cache.as_dict() if state.cache else None,
        "route": state.route.as_dict() if state.route else None,
        "tool_calls": [c.as_dict() for c in answer.tool_calls] if answer.tool_calls else None,
        "release": state.release[0] if state.release else None,
    }


def _tool_names(tools: list[Any]) -> list[Any]:
    names = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        names.append(function.get("name") if isinstance(function, dict) else None)
    return names
