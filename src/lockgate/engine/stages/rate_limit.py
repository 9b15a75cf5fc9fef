"""Requests and tokens per minute per caller / tenant / model. The outermost layer by default,
so a caller over its limit costs almost nothing. The `x-ratelimit-*` headers go on every
answer; the token estimate taken here is corrected to the real usage when the turn closes,
whichever way it ends."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, ClassVar

import anyio

from lockgate.budget.limits import Admission, MemoryBucketStore, RateLimiter
from lockgate.engine.admission import limit_key, prompt_tokens_bound
from lockgate.engine.answer import Answer
from lockgate.engine.errors import GatewayError
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.estimates import chars_upper_bound
from lockgate.observability.events import RateLimited
from lockgate.observability.metrics import METRICS

if TYPE_CHECKING:
    from lockgate.services import Services


class RateLimit(Stage):
    name: ClassVar[str] = "rate_limit"
    before: ClassVar[tuple[str, ...]] = ("input_guard", "cache", "retrieve", "call_model")

    def __init__(self, limiter: RateLimiter, chars_per_token: float, context_chars: int) -> None:
        self.limiter = limiter
        self.cpt = chars_per_token
        self.context_chars = context_chars

    @classmethod
    def from_services(cls, services: Services) -> RateLimit:
        s = services.settings
        return cls(services.rate_limiter, s.budgets.chars_per_token, s.grounded.context_chars)

    def estimate(self, turn: Turn) -> int:
        tokens = prompt_tokens_bound(turn, self.cpt)
        if turn.grounded and not turn.prompt:
            # The sources are added to the prompt later, up to this many characters.
            tokens += chars_upper_bound(self.context_chars, self.cpt)
        return tokens + turn.request.max_tokens

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not self.limiter.active():
            return await call_next(turn, state)
        p = turn.principal
        who = limit_key(p, turn.client, turn.caller)
        args = (who, p.tenant, turn.model_name, self.estimate(turn))
        if isinstance(self.limiter.store, MemoryBucketStore):
            got = self.limiter.admit(*args)  # microseconds under a lock: no thread hop
        else:
            got = await asyncio.to_thread(self.limiter.admit, *args)
        state.headers.update(got.headers)
        if not got.ok:
            METRICS.inc("lockgate_rate_limited_total", model=turn.model_name)
            state.events.append(RateLimited(turn.trace_id, p.id, turn.model_name))
            headers = dict(got.headers)
            headers["retry-after"] = str(max(1, math.ceil(got.retry_after_s)))
            raise GatewayError(429, got.message, "rate_limit_exceeded", headers=headers)
        if not got.tokens_taken:
            return await call_next(turn, state)
        try:
            answer = await call_next(turn, state)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._settle(got, 0)
            raise

        async def settle(done: Answer) -> None:
            await self._settle(got, done.usage.total_tokens)

        answer.on_close(settle)
        return answer

    async def _settle(self, got: Admission, actual: int) -> None:
        if isinstance(self.limiter.store, MemoryBucketStore):
            self.limiter.settle(got, actual)
        else:
            await asyncio.to_thread(self.limiter.settle, got, actual)
