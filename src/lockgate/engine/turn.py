"""What a caller asks for: the principal, the call as it arrived, and the parsed turn."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lockgate.engine.followup import standalone_question
from lockgate.engine.wire import LockgateOptions
from lockgate.models.base import ChatRequest, Message
from lockgate.retrieval.hybrid import SearchFilters


@dataclass(frozen=True)
class Principal:
    """Who is calling, as resolved at the edge (HTTP headers, a key, a batch's owner)."""

    id: str = "anonymous"
    tenant: str = "default"
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    # True when a credential (an API key, a token) proved who this is; the anonymous and the
    # header-named callers of a demo gateway are not authenticated.
    authenticated: bool = False
    auth_method: str | None = None  # "api_key" or "oidc" when authenticated
    # The API key or token subject that proved it, for audit; never the secret.
    key_id: str | None = None
    # The apps this credential may run as, the first being its default. The app picks the
    # guardrail policy, so a caller must not be able to name one its credential lacks.
    apps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Call:
    """One request as an edge hands it to the engine, before it is parsed."""

    endpoint: str
    body: Any
    principal: Principal = field(default_factory=Principal)
    app: str | None = None
    project: str | None = None
    trace_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    # Where the request came from, for limits the caller cannot pick: the socket's peer
    # address, and the caller id header (which may only subdivide the principal's limits).
    client: str | None = None
    caller: str | None = None
    # The caller's W3C trace context (`traceparent` header), so exported spans join its trace.
    traceparent: str | None = None


@dataclass(frozen=True)
class Turn:
    """The parsed, immutable request. A stage that changes what later stages see passes a new
    Turn down (`with_messages`, `with_backend`, `with_prompt`); nothing is edited in place."""

    trace_id: str
    endpoint: str
    created_at: float
    principal: Principal
    body: Mapping[str, Any]
    model_name: str
    grounded: bool
    stream: bool
    include_usage: bool
    messages: tuple[Message, ...]
    request: ChatRequest
    backend_model: str
    backend: str
    app: str | None = None
    project: str | None = None
    question: str = ""
    filters: SearchFilters = field(default_factory=SearchFilters)
    top_k: int | None = None
    options: LockgateOptions | None = None
    prompt: str | None = None
    # The registry prompt the caller (or its release) asked for: "name@label" or "name@N".
    prompt_ref: str | None = None
    client: str | None = None
    caller: str | None = None
    # Tools are offered, chosen or in the conversation: the layers that treat such turns
    # differently (the cache, the tool gate) test this instead of walking the messages.
    uses_tools: bool = False

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.trace_id}"

    def with_messages(self, messages: list[Message], sent: list[Message]) -> Turn:
        """`messages` is the conversation as the gateway now holds it (redacted); `sent` is
        what the backend receives (it may carry a canary in the system prompt)."""
        question = self.question
        if self.grounded:
            users = [m.content for m in messages if m.role == "user" and m.content.strip()]
            question = standalone_question(users) or question
        return replace(
            self,
            messages=tuple(messages),
            question=question,
            request=replace(self.request, messages=list(sent)),
        )

    def with_backend(self, model: str, backend: str) -> Turn:
        return replace(self, backend_model=model, backend=backend)

    def with_prompt(self, prompt: str) -> Turn:
        request = replace(self.request, raw_prompt=prompt, messages=[Message("user", prompt)])
        return replace(self, prompt=prompt, request=request)

    def with_request(self, **changes: Any) -> Turn:
        return replace(self, request=replace(self.request, **changes))
