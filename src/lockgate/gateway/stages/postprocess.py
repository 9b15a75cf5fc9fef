"""Finish the answer: citations and refusal for the grounded model, usage and cost for all."""

from __future__ import annotations

from lockgate.gateway.citations import citation_objects, clean, resolve
from lockgate.gateway.context import RequestContext
from lockgate.gateway.pipeline import register
from lockgate.services import Services


class PostProcess:
    name = "postprocess"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, ctx: RequestContext) -> None:
        spec = self.services.settings.models[ctx.backend_model]
        model = self.services.models.get(ctx.backend_model)
        if not ctx.refused:
            self._answer(ctx)
        if ctx.degraded:
            return  # quoted from the sources, no model ran: no tokens, nothing to bill
        if ctx.usage.prompt_tokens == 0 and ctx.prompt and not ctx.refused:
            ctx.usage.prompt_tokens = model.count_tokens(ctx.prompt)
        if ctx.usage.completion_tokens == 0 and ctx.raw_output:
            ctx.usage.completion_tokens = model.count_tokens(ctx.raw_output)
        ctx.cost = (
            ctx.usage.prompt_tokens * spec.price_input_per_1k
            + ctx.usage.completion_tokens * spec.price_output_per_1k
        ) / 1000

    def _answer(self, ctx: RequestContext) -> None:
        if not ctx.grounded:
            ctx.output = ctx.raw_output
            return
        # A streamed answer is already on the wire: it can only be extended, not rewritten.
        text = ctx.raw_output if ctx.stream else clean(ctx.raw_output)
        if not text.strip():
            ctx.refused = True
            ctx.output = self.services.settings.grounded.refusal_message
            return
        answer = resolve(text, ctx.context_chunks)
        ctx.refused = answer.refused
        ctx.output = (
            self.services.settings.grounded.refusal_message
            if answer.refused and not ctx.stream
            else answer.text
        )
        ctx.citations = citation_objects(answer.cited, ctx.context_chunks)
        ctx.grounded_answer = bool(answer.cited) and not answer.refused
        ctx.stream_suffix = answer.suffix


register("postprocess")(PostProcess)
