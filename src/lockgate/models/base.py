"""What every chat and embedding backend offers. A new backend is one module implementing
these Protocols plus one line in `registry.BACKENDS`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lockgate.config import ModelSpec
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
    ) -> None:
        super().__init__(message)
        self.status = status
        self.upstream_status = upstream_status
        # None: decided from the statuses (routing/retry.py); a backend sets it when it knows
        # better, e.g. a connection error is retryable, a malformed body is not.
        self.retryable = retryable
        # Seconds the upstream asked us to wait (`Retry-After`), or the gateway's own hint.
        self.retry_after = retry_after


class ChatModel(Protocol):
    name: str
    backend: str
    spec: ModelSpec

    async def complete(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]: ...

    def count_tokens(self, text: str) -> int: ...

    def ready(self) -> bool: ...


class EmbeddingModel(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        ...
