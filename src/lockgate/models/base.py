"""What every chat and embedding backend is. A new backend subclasses `ChatBackend` or
`EmbeddingBackend` and a plugin registers a factory for it (`register_chat_backends`,
`register_embedding_backends`); the config names it in `backend:`.

Only `complete` (chat) and `embed` (embeddings) must be written: the other methods have
defaults a backend overrides when it can do better, so callers never probe for them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lockgate.estimates import estimate_tokens as estimate_tokens  # re-exported for backends


@dataclass(frozen=True)
class Message:
    role: str
    content: str


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


@dataclass
class ChatDelta:
    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


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

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResult:
        """The whole answer. Failures raise `UpstreamError`."""

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]:
        """The answer in pieces, the last carrying the usage. An async generator (written
        with `yield`), so a caller whose client went away can close it and stop the work.
        By default: the completed answer as one piece, for backends that cannot stream."""
        result = await self.complete(request)
        yield ChatDelta(result.text, result.finish_reason, result.usage)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def load(self) -> None:  # noqa: B027 - doing nothing is the default
        """Load weights or open connections ahead of the first request (start-up)."""

    async def aclose(self) -> None:  # noqa: B027 - doing nothing is the default
        """Release connections and threads (shutdown)."""

    def ready(self) -> bool:
        """Whether a request would be served without loading anything first."""
        return True


class EmbeddingBackend(ABC):
    name: str
    dimensions: int
    # Whether embedding burns this host's CPU (a local model) or waits on a remote service:
    # only the first goes through the gateway's CPU gate.
    local_compute: bool = True

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""

    def for_queries(self) -> EmbeddingBackend:
        """The variant used for short questions (retrieval, the response cache); by default
        this same backend."""
        return self

    def ready(self) -> bool:
        return True


# The name most of the code base types its embedder with.
EmbeddingModel = EmbeddingBackend
