"""`cache_lookup` (before retrieval) and `cache_store` (after the output guard).

The lookup sits before retrieval so that an exact hit costs one indexed read: the versions of
the documents an answer was grounded on are checked against the store instead of retrieving
again. A hit fills in the answer and skips the stages whose work it replaces
(`cache.skip_on_hit`); for a stream it becomes `ctx.deltas`, so it goes out through the same
SSE path as a model's tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from lockgate.cache.keys import digest, normalise_message, normalise_text, scope_key
from lockgate.cache.service import Lookup
from lockgate.gateway.context import RequestContext, StageTiming
from lockgate.gateway.pipeline import register
from lockgate.models.base import ChatDelta, Usage
from lockgate.observability.metrics import METRICS
from lockgate.services import Services


def _options(ctx: RequestContext) -> dict[str, Any]:
    opts = ctx.body.get("lockgate") if isinstance(ctx.body, dict) else None
    return opts if isinstance(opts, dict) else {}


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


class CacheLookup:
    name = "cache_lookup"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.cache = services.response_cache
        cfg = services.settings.grounded
        template = services.prompts.get(cfg.prompt, cfg.prompt_version)
        self.prompt = (template.name, template.version)

    def _bypass(self, ctx: RequestContext) -> str | None:
        cfg = self.services.settings.cache
        if _options(ctx).get("cache") is False:
            return "request asked for no cache"
        if not ctx.grounded and not cfg.passthrough:
            return "pass-through caching is off"
        if ctx.guard_action != "allow":
            # Redacted input holds placeholders whose values differ per caller; flagged input
            # deserves a fresh, reviewed answer.
            return f"input guardrail action '{ctx.guard_action}'"
        if not ctx.grounded and (not ctx.messages or not ctx.messages[-1].content.strip()):
            return "empty request"
        return None

    def _policy(self, ctx: RequestContext) -> str:
        if not self.services.settings.guardrails.enabled:
            return "off"
        policy = self.services.guard.policy(ctx.app, ctx.model_name)
        return digest(policy.model_dump(mode="json"))

    def scope_and_text(self, ctx: RequestContext) -> tuple[str, str]:
        req = ctx.request
        assert req is not None
        params: dict[str, Any] = {
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "stop": req.stop,
            "seed": req.seed,
            "extra": req.extra,
        }
        if ctx.grounded:
            # Retrieval controls change which sources the answer may use.
            params["retrieval"] = [ctx.top_k, ctx.filters.source_prefix, ctx.filters.document_ids]
            text = normalise_text(ctx.question)
        else:
            *prefix, last = ctx.messages
            params["conversation"] = [(m.role, normalise_message(m.content)) for m in prefix]
            params["last_role"] = last.role
            text = normalise_message(last.content)
        scope = scope_key(
            tenant=ctx.principal.tenant,
            roles=ctx.principal.roles,
            model=ctx.model_name,
            route_override=_options(ctx).get("route"),
            prompt=self.prompt[0] if ctx.grounded else None,
            prompt_version=self.prompt[1] if ctx.grounded else None,
            policy=self._policy(ctx),
            params=params,
        )
        return scope, text

    async def run(self, ctx: RequestContext) -> None:
        cfg = self.services.settings.cache
        if not cfg.enabled or ctx.request is None or ctx.refused:
            return
        reason = self._bypass(ctx)
        if reason:
            ctx.cache = {"status": "bypass", "reason": reason}
            METRICS.inc("lockgate_cache_lookups_total", result="bypass", kind="none")
            return
        scope, text = self.scope_and_text(ctx)
        semantic = cfg.semantic and (
            ctx.grounded or (cfg.semantic_passthrough and ctx.messages[-1].role == "user")
        )
        t0 = time.perf_counter()
        # The exact lookup is a single indexed read, done in place (a thread hop cost more
        # than the read); a semantic one embeds the question, which is CPU work that must not
        # hold the event loop.
        found = self.cache.lookup_exact(scope, text)
        if semantic and found.status != "hit":
            found = await asyncio.to_thread(self.cache.lookup_semantic, found)
        ms = (time.perf_counter() - t0) * 1000
        METRICS.observe("lockgate_cache_lookup_ms", ms)
        METRICS.inc("lockgate_cache_lookups_total", result=found.status, kind=found.kind or "none")
        ctx.cache = found.trace()
        if found.status != "hit" or found.entry is None:
            ctx.cache["_lookup"] = found
            return
        self._apply(ctx, found)
        ctx.timings.append(StageTiming("cache.hit", ms, f"{found.kind} entry {found.entry.id}"))

    def _apply(self, ctx: RequestContext, found: Lookup) -> None:
        assert found.entry is not None
        answer = found.entry.answer
        ctx.output = answer["output"]
        ctx.citations = answer.get("citations", [])
        ctx.grounded_answer = bool(answer.get("grounded"))
        ctx.finish_reason = answer.get("finish_reason", "stop")
        ctx.groundedness = answer.get("groundedness")
        ctx.usage = Usage(answer.get("prompt_tokens", 0), answer.get("completion_tokens", 0))
        ctx.cost = 0.0  # nothing was paid for this answer
        ctx.cache["answered_by"] = answer.get("backend_model")
        if ctx.grounded:
            ctx.prompt_template, ctx.prompt_version = self.prompt
        ctx.skip_stages |= set(self.services.settings.cache.skip_on_hit)
        if ctx.stream:
            ctx.ttft_ms = ctx.elapsed_ms()
            ctx.deltas = replay(
                ctx.output, self.services.settings.cache.stream_chunk_chars, ctx.finish_reason
            )


class CacheStore:
    name = "cache_store"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.cache = services.response_cache

    def wrap_stream(
        self, ctx: RequestContext, deltas: AsyncIterator[ChatDelta]
    ) -> AsyncIterator[ChatDelta]:
        if "_lookup" not in ctx.cache:
            return deltas
        return self._tee(ctx, deltas)

    @staticmethod
    async def _tee(
        ctx: RequestContext, deltas: AsyncIterator[ChatDelta]
    ) -> AsyncIterator[ChatDelta]:
        # Outermost wrapper: what passes here is exactly what the caller receives, after the
        # output guard has released (or rewritten) it.
        seen: list[str] = []
        ctx.cache["_streamed"] = seen
        try:
            async for delta in deltas:
                seen.append(delta.text)
                yield delta
        finally:
            aclose = getattr(deltas, "aclose", None)
            if aclose is not None:
                await aclose()

    def _refuse_reason(self, ctx: RequestContext) -> str | None:
        if ctx.status != "ok" or ctx.error:
            return "request failed"
        if ctx.refused:
            return "refused"
        if ctx.degraded:
            return "degraded answer"
        if (ctx.upstream or {}).get("fallback"):
            return "answered by a fallback model"
        if ctx.guard_action != "allow":
            return f"guardrail action '{ctx.guard_action}'"
        if ctx.finish_reason != "stop":
            return f"finish reason '{ctx.finish_reason}'"
        if ctx.grounded and not ctx.context_chunks:
            return "no sources"
        return None

    async def run(self, ctx: RequestContext) -> None:
        found = ctx.cache.pop("_lookup", None)
        streamed = ctx.cache.pop("_streamed", None)
        if not isinstance(found, Lookup):
            return
        reason = self._refuse_reason(ctx)
        if reason:
            ctx.cache["stored"] = False
            ctx.cache["not_stored"] = reason
            return
        text = "".join(streamed) + ctx.stream_suffix if streamed is not None else ctx.output
        if not text.strip():
            return
        cfg = self.services.settings.cache
        answer = {
            "output": text,
            "citations": ctx.citations,
            "grounded": ctx.grounded_answer,
            "finish_reason": ctx.finish_reason,
            "groundedness": ctx.groundedness,
            "prompt_tokens": ctx.usage.prompt_tokens,
            "completion_tokens": ctx.usage.completion_tokens,
            "backend_model": ctx.backend_model,
            "cost": ctx.cost,
        }
        documents = [(c.document_id, c.version) for c in ctx.context_chunks]
        semantic = cfg.semantic and (ctx.grounded or cfg.semantic_passthrough)
        entry_id = await asyncio.to_thread(
            self.cache.save,
            found,
            tenant=ctx.principal.tenant,
            model=ctx.model_name,
            answer=answer,
            documents=documents,
            ttl_s=cfg.ttl_s if ctx.grounded else cfg.passthrough_ttl_s,
            trace_id=ctx.trace_id,
            embed=semantic,
        )
        ctx.cache["stored"] = True
        ctx.cache["entry"] = entry_id
        METRICS.inc("lockgate_cache_stores_total")


register("cache_lookup")(CacheLookup)
register("cache_store")(CacheStore)
