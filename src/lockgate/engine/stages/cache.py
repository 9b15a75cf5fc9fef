"""The response cache as one layer: look up before the work it saves, store what came out.

It sits inside the input guard (a blocked or redacted request is never answered from the
cache) and outside the output guard, so what it stores is exactly what the caller received.
An exact hit costs one indexed read: the versions of the documents an answer was grounded on
are checked against the store instead of retrieving again. A hit for a stream is replayed in
word-aligned pieces through the same streaming path as a model's tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from lockgate.cache.keys import digest, normalise_message, normalise_text, scope_key
from lockgate.cache.service import Lookup, ResponseCache
from lockgate.cache.store import SqliteCacheStore
from lockgate.config import CacheConfig, GuardPolicy, GuardrailsConfig
from lockgate.engine.answer import Answer, aclose_stream
from lockgate.engine.cpu import CpuGate, run_cpu
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import CacheOutcome, PromptRecord, TurnState
from lockgate.engine.turn import Turn
from lockgate.guardrails.engine import GuardEngine
from lockgate.models.base import ChatDelta, Usage
from lockgate.observability.metrics import METRICS

if TYPE_CHECKING:
    from lockgate.services import Services


def replay(text: str, size: int, finish_reason: str) -> AsyncIterator[ChatDelta]:
    """A cached answer as a stream of word-aligned pieces of about `size` characters."""

    async def gen() -> AsyncIterator[ChatDelta]:
        start = 0
        while start < len(text):
            end = min(len(text), start + size)
            if end < len(text):
                space = text.find(" ", end)
                end = len(text) if space == -1 else space
            yield ChatDelta(text=text[start:end])
            start = end
        yield ChatDelta(finish_reason=finish_reason)

    return gen()


class Cache(Stage):
    name: ClassVar[str] = "cache"
    after: ClassVar[tuple[str, ...]] = ("input_guard",)
    before: ClassVar[tuple[str, ...]] = ("output_guard", "retrieve", "budget", "call_model")

    def __init__(
        self,
        cache: ResponseCache,
        config: CacheConfig,
        guard: GuardEngine,
        guard_config: GuardrailsConfig,
        cpu: CpuGate | None = None,
    ) -> None:
        self.cache = cache
        self.config = config
        self.guard = guard
        self.guard_config = guard_config
        self.cpu = cpu
        # Policy -> its digest. Policies are settings, built once, so a request does not pay
        # for dumping and hashing one; keyed by identity, holding the policy so the id
        # cannot be reused while its entry is here.
        self._policy_digests: dict[int, tuple[GuardPolicy, str]] = {}

    @classmethod
    def from_services(cls, services: Services) -> Cache:
        s = services.settings
        return cls(services.response_cache, s.cache, services.guard, s.guardrails, services.cpu)

    def _bypass(self, turn: Turn, state: TurnState) -> str | None:
        if turn.options is not None and turn.options.cache is False:
            return "request asked for no cache"
        if not turn.grounded and not self.config.passthrough:
            return "pass-through caching is off"
        if turn.uses_tools:
            # A tool call acts on the world now; tool results are fresh each time. Neither is
            # an answer to replay (and the key does not cover tools).
            return "tool calling"
        action = state.guard.action
        if action != "allow":
            # Redacted input holds placeholders whose values differ per caller; flagged input
            # deserves a fresh, reviewed answer.
            return f"input guardrail action '{action}'"
        if not turn.grounded and (not turn.messages or not turn.messages[-1].content.strip()):
            return "empty request"
        return None

    def _semantic(self, turn: Turn) -> bool:
        """Whether this turn's question is embedded, to look up and to store. A pass-through
        turn only when its model opted in: embedding is most of a miss's CPU otherwise."""
        cfg = self.config
        if not cfg.semantic:
            return False
        if turn.grounded:
            return True
        if turn.messages[-1].role != "user":
            # Nothing to match: what is compared is the last user message.
            return False
        return cfg.semantic_passthrough or turn.model_name in cfg.semantic_models

    def _policy(self, turn: Turn) -> str:
        if not self.guard_config.enabled:
            return "off"
        policy = self.guard.policy(turn.app, turn.model_name)
        known = self._policy_digests.get(id(policy))
        if known is not None and known[0] is policy:
            return known[1]
        value = digest(policy.model_dump(mode="json"))
        if len(self._policy_digests) < 256:
            self._policy_digests[id(policy)] = (policy, value)
        return value

    def scope_and_text(
        self, turn: Turn, prompt: PromptRecord | None = None, release: str | None = None
    ) -> tuple[str, str]:
        """`prompt` is the grounded turn's resolved prompt (prompt_select runs first): its
        version and content hash are in the scope, so moving a label never serves answers
        of the prompt it moved away from. `release` is the release the turn runs under."""
        req = turn.request
        params: dict[str, Any] = {
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "stop": req.stop,
            "seed": req.seed,
            "extra": req.extra,
        }
        if release is not None:
            # A release changes the model and prompt behind the same request.
            params["release"] = release
        if turn.grounded:
            # Retrieval controls change which sources the answer may use.
            f = turn.filters
            params["retrieval"] = [turn.top_k, f.source_prefix, f.document_ids]
            text = normalise_text(turn.question)
        else:
            *prefix, last = turn.messages
            params["conversation"] = [(m.role, normalise_message(m.content)) for m in prefix]
            params["last_role"] = last.role
            text = normalise_message(last.content)
        scope = scope_key(
            tenant=turn.principal.tenant,
            roles=turn.principal.roles,
            groups=turn.principal.groups,
            model=turn.model_name,
            route_override=turn.options.route if turn.options else None,
            prompt=prompt.name if turn.grounded and prompt else None,
            prompt_version=prompt.version if turn.grounded and prompt else None,
            prompt_hash=prompt.hash if turn.grounded and prompt else None,
            policy=self._policy(turn),
            params=params,
        )
        return scope, text

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        cfg = self.config
        if not cfg.enabled:
            return await call_next(turn, state)
        reason = self._bypass(turn, state)
        if reason:
            state.cache = CacheOutcome("bypass", reason=reason)
            METRICS.inc("lockgate_cache_lookups_total", result="bypass", kind="none")
            return await call_next(turn, state)
        release = state.release[0] if state.release else None
        scope, text = self.scope_and_text(turn, state.prompt, release)
        semantic = self._semantic(turn)
        t0 = time.perf_counter()
        # The exact lookup is a single indexed read, done in place (a thread hop cost more
        # than the read); a semantic one embeds the question, which is CPU work that must not
        # hold the event loop. A read over the network (Redis) may wait up to its timeout:
        # in a thread.
        if isinstance(self.cache.store, SqliteCacheStore):
            found = self.cache.lookup_exact(scope, text)
        else:
            found = await asyncio.to_thread(self.cache.lookup_exact, scope, text)
        if semantic and found.status != "hit":
            # Embeds the question: CPU work, through the gate.
            found = await run_cpu(self.cpu, self.cache.lookup_semantic, found)
        ms = (time.perf_counter() - t0) * 1000
        METRICS.observe("lockgate_cache_lookup_ms", ms)
        METRICS.inc("lockgate_cache_lookups_total", result=found.status, kind=found.kind or "none")
        outcome = CacheOutcome(found.status, lookup=found)
        state.cache = outcome
        if found.status == "hit" and found.entry is not None:
            state.note("cache.hit", ms, f"{found.kind} entry {found.entry.id}")
            return self._hit(turn, state, found)
        answer = await call_next(turn, state)
        seen: list[str] | None = None
        if answer.stream is not None:
            seen = []
            answer.stream = _tee(answer.stream, seen)

        async def store(done: Answer) -> None:
            sent = "".join(seen) + done.suffix if seen is not None else done.text
            await self._store(turn, state, outcome, found, done, sent)

        answer.on_done(store)
        return answer

    def _hit(self, turn: Turn, state: TurnState, found: Lookup) -> Answer:
        assert found.entry is not None
        stored = found.entry.answer
        answer = Answer(
            text=stored["output"],
            citations=stored.get("citations", []),
            grounded=bool(stored.get("grounded")),
            finish_reason=stored.get("finish_reason", "stop"),
            groundedness=stored.get("groundedness"),
            usage=Usage(stored.get("prompt_tokens", 0), stored.get("completion_tokens", 0)),
            cost=0.0,  # nothing was paid for this answer
            cache_kind=found.kind,
        )
        assert state.cache is not None
        state.cache.answered_by = stored.get("backend_model")
        if turn.stream:
            answer.ttft_ms = state.elapsed_ms()
            size = self.config.stream_chunk_chars
            answer.stream = replay(answer.text, size, answer.finish_reason)
        return answer

    @staticmethod
    def _refuse_reason(turn: Turn, state: TurnState, answer: Answer) -> str | None:
        if state.status != "ok" or state.error:
            return "request failed"
        if answer.refused:
            return "refused"
        if answer.degraded:
            return "degraded answer"
        if answer.review is not None:
            # Held: what the caller got is a placeholder. Delivered: a reviewer may still
            # correct it, and a hit would skip the review.
            return "under human review"
        report = state.call.report if state.call is not None else None
        if report is not None and report.fallback:
            return "answered by a fallback model"
        if state.guard.action != "allow":
            return f"guardrail action '{state.guard.action}'"
        if answer.finish_reason != "stop":
            return f"finish reason '{answer.finish_reason}'"
        if turn.grounded and (state.retrieval is None or not state.retrieval.context):
            return "no sources"
        return None

    async def _store(
        self,
        turn: Turn,
        state: TurnState,
        outcome: CacheOutcome,
        found: Lookup,
        answer: Answer,
        text: str,
    ) -> None:
        reason = self._refuse_reason(turn, state, answer)
        if reason:
            outcome.stored = False
            outcome.not_stored = reason
            return
        if not text.strip():
            return
        cfg = self.config
        sent = state.turn or turn
        model = state.served_by[0] if state.served_by else sent.backend_model
        stored = {
            "output": text,
            "citations": answer.citations,
            "grounded": answer.grounded,
            "finish_reason": answer.finish_reason,
            "groundedness": answer.groundedness,
            "prompt_tokens": answer.usage.prompt_tokens,
            "completion_tokens": answer.usage.completion_tokens,
            "backend_model": model,
            "cost": answer.cost,
        }
        context = state.retrieval.context if state.retrieval else []
        documents = [(c.document_id, c.version) for c in context]
        entry_id = await asyncio.to_thread(
            self.cache.save,
            found,
            tenant=turn.principal.tenant,
            model=turn.model_name,
            answer=stored,
            documents=documents,
            ttl_s=cfg.ttl_s if turn.grounded else cfg.passthrough_ttl_s,
            trace_id=turn.trace_id,
            embed=self._semantic(turn),
        )
        outcome.stored = True
        outcome.entry = entry_id
        METRICS.inc("lockgate_cache_stores_total")


async def _tee(deltas: AsyncIterator[ChatDelta], seen: list[str]) -> AsyncIterator[ChatDelta]:
    # What passes here is exactly what the caller receives, after the output guard has
    # released (or rewritten) it.
    try:
        async for delta in deltas:
            seen.append(delta.text)
            yield delta
    finally:
        await aclose_stream(deltas)
