"""The request pipeline: stages composed as layers, each wrapping the ones after it.

A stage does its request work, then calls `call_next` with the turn the inner layers should
see (or returns an Answer without calling it: a refusal, a cache hit), and does its answer
work on what comes back. Request work therefore runs in list order and answer work in the
reverse order. Each stage declares which stages it must come after or before; a `pipeline:`
that breaks one of those rules stops start-up with the rule named."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from lockgate.config import ConfigError
from lockgate.engine.answer import Answer
from lockgate.engine.state import StageTiming, TurnState
from lockgate.engine.turn import Turn

if TYPE_CHECKING:
    from lockgate.services import Services

log = logging.getLogger("lockgate.engine")

Next = Callable[[Turn, TurnState], Awaitable[Answer]]


class Stage:
    """A pipeline layer. Subclasses set `name`, the order rules they need, and `__call__`."""

    name: ClassVar[str]
    # Names of stages this one must be inside of (listed earlier) or outside of (listed later)
    # when both are in the pipeline.
    after: ClassVar[tuple[str, ...]] = ()
    before: ClassVar[tuple[str, ...]] = ()
    # Answers without calling a next layer (the model call), so it must be listed last.
    terminal: ClassVar[bool] = False

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        raise NotImplementedError


# A factory may return None: the stage has nothing to do under this configuration (the tool
# gate with no tool needing approval), so the pipeline leaves it out and costs nothing.
StageFactory = Callable[["Services"], Stage | None]

# Old names: parsing is no longer a stage, and the cache's lookup and store are one layer.
_RENAMED = {"validate": None, "cache_lookup": "cache", "cache_store": None}


class PipelineError(ConfigError, ValueError):
    """The configured `pipeline:` cannot be built: an invalid setting like any other."""


def stage_factories() -> dict[str, StageFactory]:
    from lockgate.plugins.manager import collect

    return collect("register_stages", "pipeline stage")


def normalise(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if name in _RENAMED:
            new = _RENAMED[name]
            log.warning(
                "pipeline stage '%s' is obsolete; %s",
                name,
                f"use '{new}'" if new else "remove it (its work is done elsewhere now)",
            )
            if new is None or new in out:
                continue
            name = new
        out.append(name)
    return out


def check_order(stages: Sequence[Stage]) -> None:
    names = [s.name for s in stages]
    seen: set[str] = set()
    for stage in stages:
        if stage.name in seen:
            raise PipelineError(f"pipeline stage '{stage.name}' is listed twice")
        seen.add(stage.name)
    for stage in stages[:-1]:
        if stage.terminal:
            later = ", ".join(names[names.index(stage.name) + 1 :])
            raise PipelineError(
                f"pipeline stage '{stage.name}' answers without calling a next stage, so it "
                f"must be listed last; move {later} before it (each stage wraps the ones "
                f"listed after it)"
            )
    position = {n: i for i, n in enumerate(names)}
    for stage in stages:
        here = position[stage.name]
        for other in stage.after:
            if other in position and position[other] > here:
                raise PipelineError(
                    f"pipeline stage '{stage.name}' must come after '{other}' "
                    f"(pipeline: {', '.join(names)})"
                )
        for other in stage.before:
            if other in position and position[other] < here:
                raise PipelineError(
                    f"pipeline stage '{stage.name}' must come before '{other}' "
                    f"(pipeline: {', '.join(names)})"
                )


class Pipeline:
    def __init__(self, stages: Sequence[Stage], innermost: Next | None = None) -> None:
        check_order(stages)
        self.stages = list(stages)
        self._innermost = innermost or _no_model
        # Built once, innermost first, the way a middleware stack is.
        call: Next = self._innermost
        for stage in reversed(self.stages):
            call = _timed(stage, call)
        self._entry = call

    @classmethod
    def from_config(cls, services: Services) -> Pipeline:
        factories = stage_factories()
        names = normalise(services.settings.pipeline)
        unknown = [n for n in names if n not in factories]
        if unknown:
            raise PipelineError(
                f"unknown pipeline stage(s): {', '.join(unknown)} "
                f"(known: {', '.join(sorted(factories))})"
            )
        if services.settings.review.enabled and "review" not in names:
            # Not an error: pipelines written before the stage existed must still start.
            log.warning(
                "review is enabled but pipeline: has no 'review' stage, so no answer is held "
                "or queued for human review (tool calls still are); add it after 'cache'"
            )
        built = (factories[n](services) for n in names)
        return cls([stage for stage in built if stage is not None])

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    async def __call__(self, turn: Turn, state: TurnState) -> Answer:
        return await self._entry(turn, state)


def _timed(stage: Stage, call_next: Next) -> Next:
    name = stage.name

    async def layer(turn: Turn, state: TurnState) -> Answer:
        state.turn = turn
        t0 = time.perf_counter()
        inner = 0.0
        mark = 0

        async def timed_next(t: Turn, s: TurnState) -> Answer:
            nonlocal inner, mark
            t1 = time.perf_counter()
            try:
                answer = await call_next(t, s)
            finally:
                inner += time.perf_counter() - t1
            mark = len(answer.pending_done())
            return answer

        timing = StageTiming(name, 0.0, start_ms=round((t0 - state.started) * 1000, 3))
        try:
            answer = await stage(turn, state, timed_next)
        finally:
            # The layer's own time, without the layers inside it; entries are in the order
            # the layers finished, so the innermost (the model call) comes first.
            timing.ms = (time.perf_counter() - t0 - inner) * 1000
            state.timings.append(timing)
        # Answer work this layer registered counts towards its time too.
        answer.time_done_from(mark, timing.add)
        return answer

    return layer


async def _no_model(turn: Turn, state: TurnState) -> Answer:
    # Reached only by a pipeline without `call_model`: nothing answers.
    return Answer()
