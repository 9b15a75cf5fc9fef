"""What every chat and embedding backend is. A new backend subclasses `ChatBackend` or
`EmbeddingBackend` and a plugin registers a factory for it (`register_chat_backends`,
`register_embedding_backends`); the config names it in `backend:`.

Only `complete` (chat) and `embed` (embeddings) must be written: the other methods have
defaults a backend overrides when it can do better, so callers never probe for them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from lockgate.estimates import estimate_tokens as estimate_tokens  # re-exported for backends


@dataclass(frozen=True)
class ToolCall:
    """One function call a model asked for. `arguments` is the JSON text exactly as the model
    wrote it: callers parse it, and it is relayed unchanged unless a guardrail redacts it."""

    id: str
    name: str
    arguments: str
    type: str = "function"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a streamed tool call, as OpenAI sends it: the first piece of call `index`
    carries its id and name, the later ones further fragments of `arguments`."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None
    type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index}
        if self.id is not None:
            out["id"] = self.id
            out["type"] = self.type or "function"
        function: dict[str, str] = {}
        if self.name is not None:
            function["name"] = self.name
        if self.arguments is not None:
            function["arguments"] = self.arguments
        if function:
            out["function"] = function
        return out


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    # An assistant turn that called tools, and a `tool` message answering one of those calls.
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The message as OpenAI's wire has it; the tool fields only when set, so a plain
        conversation looks (and counts, and is traced) as it always did."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [c.as_dict() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass
class ChatRequest:
    messages: list[Message]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    # A ready-made completion prompt (grounded answers) for backends that can take one raw.
    raw_prompt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # OpenAI function tools, validated at the edge and forwarded as they came; empty for a
    # turn without tools (only backends with `supports_tools` are handed any).
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatResult:
    text: str
    finish_reason: str
    usage: Usage
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass
class ChatDelta:
    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: list[ToolCallDelta] | None = None


class UpstreamError(Exception):
    """The backend failed. `status` is what the gateway answers (502 bad gateway, 504 timeout);
    `upstream_status` is what the upstream said, when it said anything."""

    def __init__(
        self,
        message: str,
        status: int = 502,
        upstream_status: int | None = None,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        # What the upstream said (its error body): for the trace and logs only, never for the
        # caller, since upstream errors can carry internal hosts and credentials.
        self.detail = detail
        self.status = status
        self.upstream_status = upstream_status
        # None: decided from the statuses (routing/retry.py); a backend sets it when it knows
        # better, e.g. a connection error is retryable, a malformed body is not.
        self.retryable = retryable
        # Seconds the upstream asked us to wait (`Retry-After`), or the gateway's own hint.
        self.retry_after = retry_after

    def for_trace(self) -> str:
        return f"{self} ({self.detail})" if self.detail else str(self)


class ChatBackend(ABC):
    """One chat model, under the name clients use for it. A backend's constructor takes what
    it needs (its deployment's spec, a home folder); none of that is part of this contract."""

    name: str
    # Whether `ChatRequest.tools` reach the model and its tool calls come back; a request
    # with tools for a backend without is refused at the edge rather than silently answered
    # as if no tools had been offered.
    supports_tools: ClassVar[bool] = False

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResult:
        """The whole answer. Failures raise `UpstreamError`."""

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]:
        """The answer in pieces, the last carrying the usage. An async generator (written
        with `yield`), so a caller whose client went away can close it and stop the work.
        By default: the completed answer as one piece, for backends that cannot stream."""
        result = await self.complete(request)
        calls = [
            ToolCallDelta(i, c.id, c.name, c.arguments, c.type)
            for i, c in enumerate(result.tool_calls)
        ]
        yield ChatDelta(result.text, result.finish_reason, result.usage, calls or None)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def load(self) -> None:  # noqa: B027 - doing nothing is the default
        """Load weights or open connections ahead of the first request (start-up)."""

    async def aclose(self) -> None:  # noqa: B027 - doing nothing is the default
        """Release connections and threads (shutdown)."""

    def ready(self) -> bool:
        """Whether a request would be served without loading anything first."""
        return True


@dataclass(frozen=True)
class EmbeddingFallback:
    """Who embedded a question instead of the configured embedder, and why (its error's
    caller-safe text): retrieval puts it in the trace and the search response."""

    model: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"model": self.model, "reason": self.reason}


class EmbeddingBackend(ABC):
    name: str
    dimensions: int
    # Whether embedding burns this host's CPU (a local model) or waits on a remote service:
    # only the first goes through the gateway's CPU gate.
    local_compute: bool = True

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""

    def embed_noting(self, texts: Sequence[str]) -> tuple[np.ndarray, EmbeddingFallback | None]:
        """`embed`, and which fallback made the vectors when one did (None: this backend)."""
        return self.embed(texts), None

    def for_queries(self) -> EmbeddingBackend:
        """The variant used for short questions (retrieval, the response cache); by default
        this same backend."""
        return self

    def ready(self) -> bool:
        return True


# The name most of the code base types its embedder with.
EmbeddingModel = EmbeddingBackend
