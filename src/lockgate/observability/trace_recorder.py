"""Turn a finished RequestContext into one trace row."""

from __future__ import annotations

import logging
from typing import Any

from lockgate.gateway.context import RequestContext
from lockgate.store.traces import TraceStore

log = logging.getLogger("lockgate.trace")

# A trace keeps the prompt and outputs for debugging, bounded so one huge request cannot
# bloat the store.
_MAX_TEXT = 200_000


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"… [{len(text) - _MAX_TEXT} more characters]"


def trace_row(ctx: RequestContext) -> dict[str, Any]:
    retrieved = []
    if ctx.retrieval is not None:
        in_prompt = {c.chunk_id for c in ctx.context_chunks}
        retrieved = [
            {
                "chunk_id": c.chunk_id,
                "source": c.source,
                "page": c.page,
                "version": c.version,
                "score": round(c.score, 6),
                "vector_score": c.vector_score,
                "bm25_score": c.bm25_score,
                "in_prompt": c.chunk_id in in_prompt,
            }
            for c in ctx.retrieval.chunks
        ]
    request = {k: v for k, v in ctx.body.items() if k != "messages"}
    request["messages"] = [m.__dict__ for m in ctx.messages]
    return {
        "id": ctx.trace_id,
        "created_at": ctx.created_at,
        "principal": ctx.principal.id,
        "tenant": ctx.principal.tenant,
        "endpoint": ctx.endpoint,
        "model": ctx.model_name or None,
        "backend": f"{ctx.backend}:{ctx.backend_model}" if ctx.backend else None,
        "prompt_template": ctx.prompt_template,
        "prompt_version": ctx.prompt_version,
        "stream": int(ctx.stream),
        "status": ctx.status,
        "http_status": ctx.http_status,
        "error": ctx.error,
        "request": request,
        "retrieved": retrieved,
        "prompt": _clip(ctx.prompt),
        "raw_output": _clip(ctx.raw_output),
        "output": _clip(ctx.output),
        "tokens_in": ctx.usage.prompt_tokens,
        "tokens_out": ctx.usage.completion_tokens,
        "cost": ctx.cost,
        "latency_ms": round(ctx.elapsed_ms(), 3),
        "ttft_ms": None if ctx.ttft_ms is None else round(ctx.ttft_ms, 3),
        "refused": int(ctx.refused),
        "grounded": int(ctx.grounded_answer),
        "stages": [t.__dict__ for t in ctx.timings],
        "app": ctx.app,
        "guardrails": ctx.guard,
        "guard_action": ctx.guard_action,
        "groundedness": ctx.groundedness,
        "degraded": int(ctx.degraded),
        "upstream": ctx.upstream,
        # Underscore keys are the cache stages' private hand-over, not trace material.
        "cache": {k: v for k, v in ctx.cache.items() if not k.startswith("_")} or None,
        "route": ctx.route or None,
    }


def record(store: TraceStore, ctx: RequestContext) -> None:
    try:
        store.record(trace_row(ctx))
    except Exception:  # noqa: BLE001 - a trace failure must not turn an answer into an error
        log.exception("could not record trace %s", ctx.trace_id)
