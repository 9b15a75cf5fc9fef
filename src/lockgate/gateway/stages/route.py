"""Pick the small or the large model for this request (routing.routes), before the prompt is
built and the model called. The decision and its reason go into the trace (`route`) and a
stage note, and the `lockgate_route_decisions_total` counter."""

from __future__ import annotations

from lockgate.gateway.context import RequestContext, StageTiming
from lockgate.gateway.pipeline import register
from lockgate.models.base import estimate_tokens
from lockgate.observability.metrics import METRICS
from lockgate.routing.router import Signals, question_type
from lockgate.services import Services


class Route:
    name = "route"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.router = services.router

    def signals(self, ctx: RequestContext) -> Signals:
        users = [m.content for m in ctx.messages if m.role == "user"]
        last = ctx.question if ctx.grounded else (users[-1] if users else "")
        # The grounded prompt's sources are a fixed budget; what varies is the question.
        text = ctx.question if ctx.grounded else "\n".join(m.content for m in ctx.messages)
        retrieval = None
        if ctx.grounded and ctx.retrieval is not None:
            retrieval = ctx.retrieval.max_similarity
        return Signals(
            prompt_tokens=estimate_tokens(text),
            question_type=question_type(last),
            turns=max(1, len(users)),
            retrieval=retrieval,
            guard_action=ctx.guard_action,
        )

    def _fits(self, model: str, ctx: RequestContext, prompt_tokens: int) -> bool:
        spec = self.services.settings.models[model]
        assert ctx.request is not None
        budget = prompt_tokens + ctx.request.max_tokens
        if ctx.grounded:
            budget += self.services.settings.grounded.context_chars // 4
        return ctx.request.max_tokens <= spec.max_output_tokens and budget <= spec.context_window

    async def run(self, ctx: RequestContext) -> None:
        if ctx.refused or ctx.request is None or self.router.targets(ctx.model_name) is None:
            return
        opts = ctx.body.get("lockgate") if isinstance(ctx.body, dict) else None
        override = opts.get("route") if isinstance(opts, dict) else None
        signals = self.signals(ctx)
        decision = self.router.decide(ctx.model_name, signals, override)
        if decision is None:
            return
        if decision.tier == "small" and not self._fits(decision.model, ctx, signals.prompt_tokens):
            decision.model, decision.tier = decision.large, "large"
            decision.reasons.append("request does not fit the small model")
            decision.reason = "request does not fit the small model"
        spec = self.services.settings.models[decision.model]
        ctx.backend_model = decision.model
        ctx.backend = spec.backend
        ctx.route = decision.as_dict()
        ctx.timings.append(
            StageTiming(
                "route.decision", 0.0, f"{decision.tier} -> {decision.model}: {decision.reason}"
            )
        )
        METRICS.inc("lockgate_route_decisions_total", model=decision.model, tier=decision.tier)


register("route")(Route)
