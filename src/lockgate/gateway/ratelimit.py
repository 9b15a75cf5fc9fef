"""Rate limits for the routes that do not go through the chat pipeline (embeddings, search,
guardrail checks): the same rules and buckets as chat, so a caller's allowance covers all
of its CPU-heavy work and cannot be spent twice by switching endpoints."""

from __future__ import annotations

import asyncio
import math

from starlette.requests import Request

from lockgate.budget.limits import MemoryBucketStore
from lockgate.engine.admission import limit_key
from lockgate.engine.errors import GatewayError
from lockgate.engine.run import emit_async
from lockgate.gateway.identity import caller_of, client_of, principal_of
from lockgate.observability.events import RateLimited
from lockgate.observability.metrics import METRICS
from lockgate.services import Services


async def admit(request: Request, model: str, tokens: int) -> dict[str, str]:
    """Take one request (and `tokens`) from the caller's buckets; the `x-ratelimit-*`
    headers for the reply, or GatewayError 429 with Retry-After."""
    services: Services = request.app.state.services
    limiter = services.rate_limiter
    if not limiter.active():
        return {}
    p = principal_of(request)
    args = (limit_key(p, client_of(request), caller_of(request)), p.tenant, model, tokens)
    if isinstance(limiter.store, MemoryBucketStore):
        got = limiter.admit(*args)  # microseconds under a lock: no thread hop
    else:
        got = await asyncio.to_thread(limiter.admit, *args)
    if got.ok:
        return got.headers
    METRICS.inc("lockgate_rate_limited_total", model=model)
    trace_id = getattr(request.state, "trace_id", "") or ""
    await emit_async([RateLimited(trace_id, p.id, model)], services)
    headers = dict(got.headers)
    headers["retry-after"] = str(max(1, math.ceil(got.retry_after_s)))
    raise GatewayError(429, got.message, "rate_limit_exceeded", headers=headers)
