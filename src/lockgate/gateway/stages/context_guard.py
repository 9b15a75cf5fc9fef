"""Indirect injection: scan retrieved chunks before they enter the prompt."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict

from lockgate.config import GuardPolicy
from lockgate.gateway.context import RequestContext
from lockgate.gateway.pipeline import register
from lockgate.gateway.stages.guard_common import note, policy_for
from lockgate.guardrails.base import GuardResult, ScanContext
from lockgate.services import Services

_CACHE_SIZE = 4096


class ContextGuard:
    name = "context_guard"

    def __init__(self, services: Services) -> None:
        self.services = services
        # A chunk id always names the same text, so a verdict can be reused across requests.
        self._cache: OrderedDict[tuple[int, str], GuardResult] = OrderedDict()

    async def run(self, ctx: RequestContext) -> None:
        if (
            not self.services.settings.guardrails.enabled
            or not ctx.grounded
            or ctx.refused
            or ctx.retrieval is None
        ):
            return
        policy = policy_for(self.services, ctx)
        if not policy.context:
            return
        results = await asyncio.to_thread(self._scan, ctx, policy)
        kept = []
        for chunk, result in zip(ctx.retrieval.chunks, results, strict=True):
            if result.action != "allow":
                note(self.services, ctx, result, f"chunk {chunk.chunk_id}")
            if result.action == "block":
                continue  # poisoned: dropped, and the trace says which chunk and why
            if result.action == "redact":
                chunk.text = result.text
            kept.append(chunk)
        for rank, chunk in enumerate(kept, start=1):
            chunk.rank = rank
        ctx.retrieval.chunks = kept
        if not kept:
            ctx.refused = True
            ctx.output = self.services.settings.grounded.refusal_message

    def _scan(self, ctx: RequestContext, policy: GuardPolicy) -> list[GuardResult]:
        key_policy = json.dumps([r.model_dump() for r in policy.context], sort_keys=True)
        out = []
        for chunk in ctx.retrieval.chunks if ctx.retrieval else []:
            key = (chunk.chunk_id, key_policy)
            result = self._cache.get(key)
            if result is None:
                result = self.services.guard.scan(chunk.text, ScanContext("context"), policy)
                self._cache[key] = result
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
            out.append(result)
        return out


register("context_guard")(ContextGuard)
