"""Requests and tokens per minute per caller / tenant / model (issue 4c). Runs right after
`validate`, before any costly stage, so a caller over its limit costs almost nothing. The
`x-ratelimit-*` headers go on every answer; the token estimate taken here is corrected to
the real usage when the request ends, whichever way it ends."""

from __future__ import annotations

import asyncio
import math

from lockgate.budget.identity import prompt_tokens_bound
from lockgate.budget.limits import Admission, MemoryBucketStore
from lockgate.gateway.context import RequestContext
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.pipeline import register
from lockgate.observability.metrics import METRICS
from lockgate.services import Services


class RateLimit:
    name = "rate_limit"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.limiter = services.rate_limiter
        self.cpt = services.settings.budgets.chars_per_token

    def estimate(self, ctx: RequestContext) -> int:
        tokens = prompt_tokens_bound(ctx, self.cpt)
        if ctx.grounded and not ctx.prompt:
            # The sources are added to the prompt later, up to this many characters.
            tokens += math.ceil(self.services.settings.grounded.context_chars / self.cpt)
        return tokens + (ctx.request.max_tokens if ctx.request is not None else 0)

    async def run(self, ctx: RequestContext) -> None:
        if not self.limiter.active():
            return
        p = ctx.principal
        tokens = self.estimate(ctx)
        args = (p.id, p.tenant, ctx.model_name, tokens)
        if isinstance(self.limiter.store, MemoryBucketStore):
            got = self.limiter.admit(*args)  # microseconds under a lock: no thread hop
        else:
            got = await asyncio.to_thread(self.limiter.admit, *args)
        ctx.response_headers.update(got.headers)
        if not got.ok:
            METRICS.inc("lockgate_rate_limited_total", model=ctx.model_name)
            headers = dict(got.headers)
            headers["retry-after"] = str(max(1, math.ceil(got.retry_after_s)))
            raise GatewayError(429, got.message, "rate_limit_exceeded", headers=headers)
        if got.tokens_taken:
            ctx.finalizers.append(lambda c: self._settle(c, got))

    async def _settle(self, ctx: RequestContext, got: Admission) -> None:
        actual = ctx.usage.total_tokens
        if isinstance(self.limiter.store, MemoryBucketStore):
            self.limiter.settle(got, actual)
        else:
            await asyncio.to_thread(self.limiter.settle, got, actual)


register("rate_limit")(RateLimit)
