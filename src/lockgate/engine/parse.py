"""Parse a chat call once into a Turn: known model, sane parameters, fits the context window.
Every later stage reads the typed Turn; none re-reads the raw body."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.engine import tools
from lockgate.engine.apps import resolve_app
from lockgate.engine.errors import GatewayError
from lockgate.engine.followup import standalone_question
from lockgate.engine.turn import Call, Turn
from lockgate.engine.wire import ChatCompletionIn, parse_body
from lockgate.estimates import estimate_tokens, tokens_lower_bound
from lockgate.models.base import ChatRequest, Message
from lockgate.retrieval.hybrid import SearchFilters

if TYPE_CHECKING:
    from lockgate.config import Settings
    from lockgate.upstreams.registry import ModelRegistry

GROUNDED_MODEL = "lockgate"


def _question(messages: list[Message]) -> str:
    users = [m.content for m in messages if m.role == "user" and m.content.strip()]
    if not users:
        raise GatewayError(
            400,
            "the grounded model needs a user message with a question",
            "missing_question",
            "messages",
        )
    return standalone_question(users)


def parse_turn(call: Call, settings: Settings, models: ModelRegistry) -> Turn:
    if not isinstance(call.body, dict):
        raise GatewayError(400, "request body must be a JSON object", "invalid_body")
    body = parse_body(ChatCompletionIn, call.body)
    if len(body.messages) > settings.server.max_messages:
        raise GatewayError(
            400,
            f"too many messages (limit {settings.server.max_messages})",
            "too_many_messages",
            "messages",
        )
    grounded = body.model == GROUNDED_MODEL
    backend_model = settings.grounded.model if grounded else body.model
    spec = settings.models.get(backend_model)
    if spec is None:
        if grounded:
            raise GatewayError(
                503,
                f"grounded model '{backend_model}' is not in the registry",
                "model_not_configured",
            )
        raise GatewayError(
            404, f"The model '{body.model}' does not exist", "model_not_found", "model"
        )
    with_tools = tools.uses_tools(body)
    if with_tools:
        if grounded:
            tools.refuse_for_grounded(body, body.model)
        tools.check_request(body)
        param = tools.needs_tool_backend(body)
        if param and not models.get(backend_model).supports_tools():
            raise GatewayError(
                400,
                f"model '{body.model}' (or a model it falls back to) cannot call tools",
                "unsupported_parameter",
                param,
            )
        messages = [tools.message_of(m) for m in body.messages]
    else:
        messages = [Message(m.role, m.text()) for m in body.messages]
    question = _question(messages) if grounded else ""
    filters = SearchFilters()
    top_k = None
    if grounded and body.lockgate:
        top_k = body.lockgate.k
        filters = SearchFilters(body.lockgate.source_prefix, body.lockgate.document_ids)
    default_max = settings.grounded.max_tokens if grounded else spec.max_output_tokens
    max_tokens = body.max_completion_tokens or body.max_tokens or default_max
    if max_tokens > spec.max_output_tokens:
        raise GatewayError(
            400,
            f"max_tokens {max_tokens} is above this model's limit of {spec.max_output_tokens}",
            "invalid_value",
            "max_tokens",
        )
    text = question if grounded else "\n".join(m.content for m in messages)
    tool_fields = tools.request_tools(body) if with_tools else {}
    if with_tools:
        text += "\n" + tools.tool_text(tool_fields["tools"], messages)
    # Cheap bound first: a tokenizer pass over a megabyte prompt is itself slow.
    if tokens_lower_bound(text) + max_tokens > spec.context_window:
        prompt_tokens = tokens_lower_bound(text)
    elif grounded:
        prompt_tokens = estimate_tokens(text)
    else:
        prompt_tokens = models.get(backend_model).count_tokens(text)
    if prompt_tokens + max_tokens > spec.context_window:
        raise GatewayError(
            400,
            f"This model's maximum context length is {spec.context_window} tokens; the "
            f"request needs about {prompt_tokens + max_tokens} "
            f"({prompt_tokens} in the messages, {max_tokens} for the completion).",
            "context_length_exceeded",
            "messages",
        )
    request = ChatRequest(
        messages=list(messages),
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stop_list(),
        seed=body.seed,
        # Accepted by the schema, so they must reach the backend rather than vanish.
        extra={
            k: v
            for k, v in (
                ("presence_penalty", body.presence_penalty),
                ("frequency_penalty", body.frequency_penalty),
            )
            if v is not None
        },
        **tool_fields,
    )
    meta_app = body.metadata.get("app") if body.metadata else None
    meta_project = body.metadata.get("project") if body.metadata else None
    app = resolve_app(
        call.principal,
        call.app or meta_app,
        settings.auth.trust_client_app,
        "x-lockgate-app" if call.app else "metadata.app",
    )
    return Turn(
        trace_id=call.trace_id,
        endpoint=call.endpoint,
        created_at=call.created_at,
        principal=call.principal,
        body=call.body,
        model_name=body.model,
        grounded=grounded,
        stream=body.stream,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        messages=tuple(messages),
        request=request,
        backend_model=backend_model,
        backend=spec.backend,
        app=app,
        project=call.project or meta_project,
        question=question,
        filters=filters,
        top_k=top_k,
        options=body.lockgate,
        prompt_ref=body.lockgate.prompt if body.lockgate else None,
        client=call.client,
        caller=call.caller,
        uses_tools=with_tools,
    )
