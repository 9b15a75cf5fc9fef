"""Pick the small or the large model for this turn (routing.routes), before the prompt is
built and the model called. The decision and its reason go into the trace (`route`) and a
stage note, and the `lockgate_route_decisions_total` counter."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from lockgate.config import Settings
from lockgate.engine.answer import Answer
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.estimates import estimate_tokens, tokens_for_chars
from lockgate.observability.metrics import METRICS
from lockgate.routing.router import Router, Signals, question_type

if TYPE_CHECKING:
    from lockgate.services import Services


class Route(Stage):
    name: ClassVar[str] = "route"
    after: ClassVar[tuple[str, ...]] = ("retrieve", "input_guard")
    before: ClassVar[tuple[str, ...]] = ("budget", "call_model")

    def __init__(self, router: Router, settings: Settings) -> None:
        self.router = router
        self.settings = settings

    @classmethod
    def from_services(cls, services: Services) -> Route:
        return cls(services.router, services.settings)

    @staticmethod
    def signals(turn: Turn, state: TurnState) -> Signals:
        users = [m.content for m in turn.messages if m.role == "user"]
        last = turn.question if turn.grounded else (users[-1] if users else "")
        # The grounded prompt's sources are a fixed budget; what varies is the question.
        text = turn.question if turn.grounded else "\n".join(m.content for m in turn.messages)
        retrieval = None
        if turn.grounded and state.retrieval is not None:
            retrieval = state.retrieval.result.max_similarity
        return Signals(
            prompt_tokens=estimate_tokens(text),
            question_type=question_type(last),
            turns=max(1, len(users)),
            retrieval=retrieval,
            guard_action=state.guard.action,
        )

    def _fits(self, model: str, turn: Turn, prompt_tokens: int) -> bool:
        spec = self.settings.models[model]
        budget = prompt_tokens + turn.request.max_tokens
        if turn.grounded:
            budget += tokens_for_chars(self.settings.grounded.context_chars)
        return turn.request.max_tokens <= spec.max_output_tokens and budget <= spec.context_window

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if self.router.targets(turn.model_name) is None:
            return await call_next(turn, state)
        override = turn.options.route if turn.options else None
        signals = self.signals(turn, state)
        decision = self.router.decide(turn.model_name, signals, override)
        if decision is None:
            return await call_next(turn, state)
        if decision.tier == "small" and not self._fits(decision.model, turn, signals.prompt_tokens):
            decision.model, decision.tier = decision.large, "large"
            decision.reasons.append("request does not fit the small model")
            decision.reason = "request does not fit the small model"
        state.route = decision
        state.note("route.decision", 0.0, f"{decision.tier} -> {decision.model}: {decision.reason}")
        METRICS.inc("lockgate_route_decisions_total", model=decision.model, tier=decision.tier)
        spec = self.settings.models[decision.model]
        return await call_next(turn.with_backend(decision.model, spec.backend), state)
