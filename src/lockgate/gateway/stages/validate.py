"""Parse and check a chat request: known model, sane parameters, fits the context window."""

from __future__ import annotations

from lockgate.gateway.context import RequestContext
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.pipeline import register
from lockgate.gateway.schemas import ChatCompletionIn, parse_body
from lockgate.models.base import ChatRequest, Message
from lockgate.retrieval.hybrid import SearchFilters
from lockgate.services import Services

GROUNDED_MODEL = "lockgate"


class Validate:
    name = "validate"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, ctx: RequestContext) -> None:
        settings = self.services.settings
        body = parse_body(ChatCompletionIn, ctx.body)
        if len(body.messages) > settings.server.max_messages:
            raise GatewayError(
                400,
                f"too many messages (limit {settings.server.max_messages})",
                "too_many_messages",
                "messages",
            )
        ctx.model_name = body.model
        if not ctx.app and body.metadata:
            ctx.app = body.metadata.get("app")
        ctx.grounded = body.model == GROUNDED_MODEL
        ctx.backend_model = settings.grounded.model if ctx.grounded else body.model
        spec = settings.models.get(ctx.backend_model)
        if spec is None:
            if ctx.grounded:
                raise GatewayError(
                    503,
                    f"grounded model '{ctx.backend_model}' is not in the registry",
                    "model_not_configured",
                )
            raise GatewayError(
                404, f"The model '{body.model}' does not exist", "model_not_found", "model"
            )
        ctx.backend = spec.backend
        ctx.stream = body.stream
        ctx.include_usage = bool(body.stream_options and body.stream_options.include_usage)
        ctx.messages = [Message(m.role, m.text()) for m in body.messages]
        if ctx.grounded:
            users = [m.content for m in ctx.messages if m.role == "user" and m.content.strip()]
            if not users:
                raise GatewayError(
                    400,
                    "the grounded model needs a user message with a question",
                    "missing_question",
                    "messages",
                )
            ctx.question = users[-1].strip()
            if body.lockgate:
                ctx.top_k = body.lockgate.k
                ctx.filters = SearchFilters(body.lockgate.source_prefix, body.lockgate.document_ids)
        default_max = settings.grounded.max_tokens if ctx.grounded else spec.max_output_tokens
        max_tokens = body.max_completion_tokens or body.max_tokens or default_max
        if max_tokens > spec.max_output_tokens:
            raise GatewayError(
                400,
                f"max_tokens {max_tokens} is above this model's limit of {spec.max_output_tokens}",
                "invalid_value",
                "max_tokens",
            )
        model = self.services.models.get(ctx.backend_model)
        text = ctx.question if ctx.grounded else "\n".join(m.content for m in ctx.messages)
        # Cheap bound first: a tokenizer pass over a megabyte prompt is itself slow.
        if len(text) // 8 + max_tokens > spec.context_window:
            prompt_tokens = len(text) // 8
        else:
            prompt_tokens = model.count_tokens(text) if not ctx.grounded else len(text) // 4
        if prompt_tokens + max_tokens > spec.context_window:
            raise GatewayError(
                400,
                f"This model's maximum context length is {spec.context_window} tokens; the "
                f"request needs about {prompt_tokens + max_tokens} "
                f"({prompt_tokens} in the messages, {max_tokens} for the completion).",
                "context_length_exceeded",
                "messages",
            )
        ctx.request = ChatRequest(
            messages=ctx.messages,
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
        )


register("validate")(Validate)
