"""Indirect injection: scan retrieved chunks before they enter the prompt. A poisoned chunk is
dropped; the rest lose their redacted values, and their images, links and HTML outside the
policy's allowed hosts (a document must not be able to make the model's answer fetch
something)."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TYPE_CHECKING, ClassVar

from lockgate.config import GuardPolicy, GuardrailsConfig
from lockgate.engine.answer import Answer
from lockgate.engine.cpu import CpuGate, run_cpu
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.stages._guard import note, policy_for
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.guardrails.base import GuardResult, ScanContext
from lockgate.guardrails.engine import GuardEngine
from lockgate.retrieval.hybrid import RetrievedChunk

if TYPE_CHECKING:
    from lockgate.services import Services

_CACHE_SIZE = 4096


class ContextGuard(Stage):
    name: ClassVar[str] = "context_guard"
    after: ClassVar[tuple[str, ...]] = ("retrieve",)
    before: ClassVar[tuple[str, ...]] = ("build_prompt", "call_model")

    def __init__(
        self,
        guard: GuardEngine,
        config: GuardrailsConfig,
        refusal: str,
        cpu: CpuGate | None = None,
    ) -> None:
        self.guard = guard
        self.config = config
        self.refusal = refusal
        self.cpu = cpu
        # A chunk id always names the same text, so a verdict can be reused across requests.
        self._cache: OrderedDict[tuple[int, str], GuardResult] = OrderedDict()

    @classmethod
    def from_services(cls, services: Services) -> ContextGuard:
        s = services.settings
        return cls(services.guard, s.guardrails, s.grounded.refusal_message, services.cpu)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not self.config.enabled or not turn.grounded or state.retrieval is None:
            return await call_next(turn, state)
        policy = policy_for(self.guard, turn)
        if not policy.context and not policy.links.enabled:
            return await call_next(turn, state)
        retrieval = state.retrieval.result
        results = await run_cpu(self.cpu, self._scan, retrieval.chunks, policy)
        kept = []
        for chunk, result in zip(retrieval.chunks, results, strict=True):
            if result.action != "allow":
                note(turn, state, result, f"chunk {chunk.chunk_id}")
            if result.action == "block":
                continue  # poisoned: dropped, and the trace says which chunk and why
            if result.action == "redact":
                chunk.text = result.text
            kept.append(chunk)
        for rank, chunk in enumerate(kept, start=1):
            chunk.rank = rank
        retrieval.chunks = kept
        if not kept:
            return Answer.refusal(self.refusal)
        return await call_next(turn, state)

    def _scan(self, chunks: list[RetrievedChunk], policy: GuardPolicy) -> list[GuardResult]:
        key_policy = json.dumps(
            [[r.model_dump() for r in policy.context], policy.links.model_dump()], sort_keys=True
        )
        out = []
        for chunk in chunks:
            key = (chunk.chunk_id, key_policy)
            result = self._cache.get(key)
            if result is None:
                result = self.guard.scan(chunk.text, ScanContext("context"), policy)
                self._cache[key] = result
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
            out.append(result)
        return out
