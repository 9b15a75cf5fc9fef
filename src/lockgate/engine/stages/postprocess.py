"""Finish the answer: citations and refusal for the grounded model, usage and cost for all."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from lockgate.config import Settings
from lockgate.engine.answer import Answer
from lockgate.engine.citations import citation_objects, clean, resolve
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.estimates import cost
from lockgate.upstreams.registry import ModelRegistry

if TYPE_CHECKING:
    from lockgate.services import Services


class PostProcess(Stage):
    name: ClassVar[str] = "postprocess"
    after: ClassVar[tuple[str, ...]] = ("output_guard",)
    before: ClassVar[tuple[str, ...]] = ("call_model",)

    def __init__(self, models: ModelRegistry, settings: Settings) -> None:
        self.models = models
        self.settings = settings

    @classmethod
    def from_services(cls, services: Services) -> PostProcess:
        return cls(services.models, services.settings)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        answer = await call_next(turn, state)

        async def finish(done: Answer) -> None:
            self.finish(turn, state, done)

        answer.on_done(finish)
        return answer

    def finish(self, turn: Turn, state: TurnState, answer: Answer) -> None:
        model_name = state.served_by[0] if state.served_by else turn.backend_model
        spec = self.settings.models[model_name]
        model = self.models.get(model_name)
        if not answer.refused:
            self._answer(turn, state, answer)
        if answer.degraded or answer.unasked:
            return  # quoted from the sources, no model ran: no tokens, nothing to bill
        if answer.usage.prompt_tokens == 0 and state.prompt_text and not answer.refused:
            answer.usage.prompt_tokens = model.count_tokens(state.prompt_text)
        if answer.usage.completion_tokens == 0 and (answer.raw or answer.tool_calls):
            out = answer.raw
            if answer.tool_calls:
                out += "".join(f"{c.name} {c.arguments}" for c in answer.tool_calls)
            answer.usage.completion_tokens = model.count_tokens(out)
        usage = answer.usage
        answer.cost = cost(
            usage.prompt_tokens,
            usage.completion_tokens,
            spec.price_input_per_1k,
            spec.price_output_per_1k,
        )

    def _answer(self, turn: Turn, state: TurnState, answer: Answer) -> None:
        if not turn.grounded:
            answer.text = answer.raw
            return
        refusal = self.settings.grounded.refusal_message
        # A streamed answer is already on the wire: it can only be extended, not rewritten.
        text = answer.raw if turn.stream else clean(answer.raw)
        if not text.strip():
            answer.refused = True
            answer.text = refusal
            return
        context = state.retrieval.context if state.retrieval else []
        cited = resolve(text, context)
        answer.refused = cited.refused
        answer.text = refusal if cited.refused and not turn.stream else cited.text
        answer.citations = citation_objects(cited.cited, context)
        answer.grounded = bool(cited.cited) and not cited.refused
        answer.suffix = cited.suffix
