"""Budget admission (issue 4c): hold the request's maximum possible cost under every budget
it falls under, or refuse it before the upstream is called. Runs right before `call_model`,
when the model (after routing) and the prompt are known. The hold is settled to the actual
cost by a finalizer that runs however the request ends (answer, error, client gone)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import UTC, datetime, timedelta

from lockgate.budget.identity import max_cost, project_of
from lockgate.budget.ledger import BudgetExceeded, Reservation, fits_once_settled
from lockgate.gateway.context import RequestContext, StageTiming
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.pipeline import MODEL_STAGE, register
from lockgate.models.base import estimate_tokens
from lockgate.services import Services


def _until_rollover(period: str, now: float) -> int:
    kind = period.split(":", 1)[0]
    t = datetime.fromtimestamp(now, UTC)
    if kind == "day":
        nxt = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        first = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = (first + timedelta(days=32)).replace(day=1)
    return max(1, int((nxt - t).total_seconds()))


def actual_cost(ctx: RequestContext, services: Services) -> float:
    """What the upstream billed: `postprocess` computed it when the answer completed;
    otherwise (an error or a disconnect mid-stream) from whatever usage is known."""
    if ctx.cost or ctx.degraded:
        return ctx.cost
    spec = services.settings.models.get(ctx.backend_model)
    if spec is None:
        return 0.0
    tokens_in, tokens_out = ctx.usage.prompt_tokens, ctx.usage.completion_tokens
    if not tokens_out and ctx.raw_output:
        tokens_out = estimate_tokens(ctx.raw_output)
        if not tokens_in and ctx.prompt:
            tokens_in = estimate_tokens(ctx.prompt)
    return (tokens_in * spec.price_input_per_1k + tokens_out * spec.price_output_per_1k) / 1000


class Budget:
    name = "budget"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.budgets = services.budgets
        self._settled: asyncio.Condition | None = None  # made on first use, in the loop

    async def run(self, ctx: RequestContext) -> None:
        if (
            not self.budgets.active()
            or ctx.refused
            or ctx.request is None
            or MODEL_STAGE in ctx.skip_stages  # a cache hit: nothing will be billed
        ):
            return
        amount = max_cost(ctx, self.services.settings, self.budgets.config.chars_per_token)
        p = ctx.principal
        project = project_of(ctx)
        try:
            held = await self._reserve(ctx, p.id, p.tenant, project, amount)
        except BudgetExceeded as exc:
            self.budgets.refused(exc.refusal, ctx.trace_id)
            period = exc.refusal.cap.period
            raise GatewayError(
                429,
                str(exc),
                "budget_exceeded",
                type_="insufficient_quota",
                # The caller cannot fix this by retrying soon: tell the OpenAI SDK not to.
                headers={
                    "retry-after": str(_until_rollover(period, time.time())),
                    "x-should-retry": "false",
                },
            ) from exc
        if held is None:
            return
        ctx.timings.append(StageTiming("budget.hold", 0.0, f"{amount:.6f} ({project})"))
        ctx.finalizers.append(lambda c: self._settle(c, held))

    async def _reserve(
        self, ctx: RequestContext, key: str, tenant: str, project: str, amount: float
    ) -> Reservation | None:
        deadline = time.monotonic() + self.budgets.config.wait_for_holds_s
        while True:
            try:
                return await asyncio.to_thread(
                    self.budgets.reserve, key, tenant, project, amount, ctx.trace_id
                )
            except BudgetExceeded as exc:
                if not fits_once_settled(exc.refusal) or time.monotonic() >= deadline:
                    raise
            # Waiting here, not in the thread: hundreds of waiters must not starve the
            # thread pool that the settling requests need to release their holds. A settle
            # in this process wakes a few waiters at once; the timeout covers holds released
            # by other processes (or expiring).
            cond = self._cond()
            async with cond:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cond.wait(), random.uniform(0.1, 0.3))

    def _cond(self) -> asyncio.Condition:
        if self._settled is None:
            self._settled = asyncio.Condition()
        return self._settled

    async def _settle(self, ctx: RequestContext, held: Reservation) -> None:
        cost = actual_cost(ctx, self.services)
        await asyncio.to_thread(self.budgets.settle, held, cost, ctx.trace_id)
        cond = self._cond()
        async with cond:
            cond.notify(4)


register("budget")(Budget)
