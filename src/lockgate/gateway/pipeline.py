"""The request pipeline: a list of small stages, built from config, over one RequestContext.

Stages up to and including `call_model` run before the response starts; the rest run once the
model's output is complete (for a stream: after the last token). Recording the trace is not a
stage: it always happens, whatever a stage did."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from lockgate.gateway.context import RequestContext, StageTiming
from lockgate.services import Services


class Stage(Protocol):
    name: str

    async def run(self, ctx: RequestContext) -> None: ...


StageFactory = Callable[[Services], Stage]
STAGES: dict[str, StageFactory] = {}


def register(name: str) -> Callable[[StageFactory], StageFactory]:
    def deco(factory: StageFactory) -> StageFactory:
        STAGES[name] = factory
        return factory

    return deco


MODEL_STAGE = "call_model"


class Pipeline:
    def __init__(self, stages: list[Stage]) -> None:
        names = [s.name for s in stages]
        split = names.index(MODEL_STAGE) + 1 if MODEL_STAGE in names else len(stages)
        self.before = stages[:split]
        self.after = stages[split:]

    @classmethod
    def from_config(cls, services: Services) -> Pipeline:
        import lockgate.gateway.stages  # noqa: F401  (registers the built-in stages)

        unknown = [n for n in services.settings.pipeline if n not in STAGES]
        if unknown:
            raise ValueError(f"unknown pipeline stage(s): {', '.join(unknown)}")
        return cls([STAGES[n](services) for n in services.settings.pipeline])

    async def prepare(self, ctx: RequestContext) -> None:
        await _run_all(self.before, ctx)
        if ctx.deltas is not None:
            # Later stages that must see a stream as it flows (output guardrails) wrap it
            # here, before the first byte goes out; they still get `run` at the end.
            for stage in self.after:
                if stage.name in ctx.skip_stages:
                    continue
                wrap = getattr(stage, "wrap_stream", None)
                if wrap is not None:
                    ctx.deltas = wrap(ctx, ctx.deltas)

    async def finish(self, ctx: RequestContext) -> None:
        await _run_all(self.after, ctx)


async def _run_all(stages: list[Stage], ctx: RequestContext) -> None:
    for stage in stages:
        if stage.name in ctx.skip_stages:
            continue  # e.g. a cache hit already produced what this stage would
        t0 = time.perf_counter()
        try:
            await stage.run(ctx)
        finally:
            ctx.timings.append(StageTiming(stage.name, (time.perf_counter() - t0) * 1000))
