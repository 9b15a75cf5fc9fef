"""The one object every pipeline stage reads and writes for a request."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lockgate.guardrails.vault import Vault
from lockgate.models.base import ChatDelta, ChatRequest, Message, Usage
from lockgate.retrieval.hybrid import RetrievedChunk, SearchFilters, SearchResult


@dataclass(frozen=True)
class Principal:
    """Who is calling. Authentication (a later stage) replaces the anonymous default."""

    id: str = "anonymous"
    tenant: str = "default"
    roles: tuple[str, ...] = ()


@dataclass
class StageTiming:
    stage: str
    ms: float
    note: str = ""


@dataclass
class RequestContext:
    endpoint: str
    body: dict[str, Any]
    principal: Principal = field(default_factory=Principal)
    trace_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)

    # parsed request
    model_name: str = ""
    grounded: bool = False
    stream: bool = False
    include_usage: bool = False
    messages: list[Message] = field(default_factory=list)
    request: ChatRequest | None = None
    question: str = ""
    filters: SearchFilters = field(default_factory=SearchFilters)
    top_k: int | None = None

    # resolved backend
    backend_model: str = ""
    backend: str = ""

    # retrieval and prompt
    retrieval: SearchResult | None = None
    context_chunks: list[RetrievedChunk] = field(default_factory=list)
    prompt_template: str | None = None
    prompt_version: int | None = None
    prompt: str | None = None

    # generation
    deltas: AsyncIterator[ChatDelta] | None = None
    raw_output: str = ""
    output: str = ""
    stream_suffix: str = ""
    streamed_output: str | None = None
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    ttft_ms: float | None = None
    cost: float = 0.0
    # issue 4a: how the upstream call went (attempts, fallback) and whether the answer is the
    # extractive stand-in built while every generative backend was down.
    upstream: dict[str, Any] | None = None
    degraded: bool = False

    # guardrails
    app: str | None = None
    vault: Vault = field(default_factory=Vault)
    canary: str | None = None
    system_prompt: str = ""
    original_user_text: str = ""
    guard: list[dict[str, Any]] = field(default_factory=list)
    guard_action: str = "allow"
    groundedness: float | None = None

    # cache and routing (issue 4b): what happened, for the trace; `skip_stages` lets a cache
    # hit bypass the stages whose work it replaces.
    cache: dict[str, Any] = field(default_factory=dict)
    route: dict[str, Any] = field(default_factory=dict)
    skip_stages: set[str] = field(default_factory=set)

    # outcome
    refused: bool = False
    grounded_answer: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    http_status: int = 200
    error: str | None = None
    timings: list[StageTiming] = field(default_factory=list)

    # issue 4c: the caller's project (budgets), extra reply headers (`x-ratelimit-*`), and
    # work that must run however the request ends (settling rate-limit and budget holds).
    project: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    finalizers: list[Callable[[RequestContext], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        """Run the finalizers once each; one failing must not skip the others or the trace.
        Shielded: a client that hung up cancels the response task, and a budget hold that
        is never settled would block the caller's budget until it expires."""
        import anyio

        with anyio.CancelScope(shield=True):
            while self.finalizers:
                fn = self.finalizers.pop(0)
                try:
                    await fn(self)
                except Exception:  # noqa: BLE001
                    logging.getLogger("lockgate.gateway").exception(
                        "finalizer failed (trace %s)", self.trace_id
                    )

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.trace_id}"

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def lockgate_object(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trace_id": self.trace_id,
            "citations": self.citations,
            "grounded": self.grounded_answer,
            "refused": self.refused,
            "guardrails": {"action": self.guard_action},
        }
        if self.groundedness is not None:
            out["groundedness"] = round(self.groundedness, 4)
        if self.cache.get("status") == "hit":
            out["cache"] = {"hit": True, "kind": self.cache.get("kind")}
        if self.degraded:
            out["degraded"] = True
        return out
