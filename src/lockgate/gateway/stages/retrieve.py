"""Retrieve chunks for the grounded model; refuse up front when nothing is relevant enough."""

from __future__ import annotations

import asyncio

from lockgate.gateway.context import RequestContext, StageTiming
from lockgate.gateway.pipeline import register
from lockgate.services import Services


class Retrieve:
    name = "retrieve"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, ctx: RequestContext) -> None:
        if not ctx.grounded:
            return
        cfg = self.services.settings.grounded
        k = ctx.top_k or max(cfg.context_chunks, self.services.settings.retrieval.top_k)
        # Embedding the query is CPU work; keep the event loop free for other requests.
        result = await asyncio.to_thread(
            self.services.retriever.search, ctx.question, k, ctx.filters
        )
        ctx.retrieval = result
        for part, ms in result.timings_ms.items():
            ctx.timings.append(StageTiming(f"retrieve.{part}", ms))
        if not result.chunks or result.max_similarity < cfg.min_relevance:
            ctx.refused = True
            ctx.output = cfg.refusal_message
            ctx.timings.append(
                StageTiming("retrieve.refuse", 0.0, f"best similarity {result.max_similarity:.3f}")
            )


register("retrieve")(Retrieve)
