"""Budget admission: hold the turn's maximum possible cost under every budget it falls under,
or refuse it before the upstream is called. Inside `route` and `build_prompt`, so the model
and the prompt are known, and inside the cache, so a hit bills nothing. The hold is settled
to the actual cost when the turn closes, however it ends (answer, error, client gone)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

import anyio

from lockgate.budget.ledger import (
    BudgetExceeded,
    Budgets,
    Reservation,
    Settled,
    fits_once_settled,
)
from lockgate.config import Settings
from lockgate.engine.admission import max_cost, project_of
from lockgate.engine.answer import Answer
from lockgate.engine.errors import GatewayError
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.estimates import cost, estimate_tokens
from lockgate.observability.events import BudgetAlert, BudgetRefused

if TYPE_CHECKING:
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


def actual_cost(answer: Answer, model: str, prompt: str | None, settings: Settings) -> float:
    """What the upstream billed: `postprocess` computed it when the answer completed;
    otherwise (an error or a disconnect mid-stream) from whatever usage is known."""
    if answer.cost or answer.degraded or answer.unasked:
        return answer.cost  # an answer quoted without a model call costs nothing
    spec = settings.models.get(model)
    if spec is None:
        return 0.0
    tokens_in, tokens_out = answer.usage.prompt_tokens, answer.usage.completion_tokens
    if not tokens_out and answer.raw:
        tokens_out = estimate_tokens(answer.raw)
        if not tokens_in and prompt:
            tokens_in = estimate_tokens(prompt)
    return cost(tokens_in, tokens_out, spec.price_input_per_1k, spec.price_output_per_1k)


class Budget(Stage):
    name: ClassVar[str] = "budget"
    after: ClassVar[tuple[str, ...]] = ("route", "build_prompt", "cache")
    before: ClassVar[tuple[str, ...]] = ("call_model",)

    def __init__(self, budgets: Budgets, settings: Settings) -> None:
        self.budgets = budgets
        self.settings = settings
        self._settled: asyncio.Condition | None = None  # made on first use, in the loop

    @classmethod
    def from_services(cls, services: Services) -> Budget:
        return cls(services.budgets, services.settings)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not self.budgets.active():
            return await call_next(turn, state)
        amount = max_cost(turn, self.settings, self.budgets.config.chars_per_token)
        p = turn.principal
        project = project_of(turn)
        try:
            held = await self._reserve(turn, p.id, p.tenant, project, amount)
        except BudgetExceeded as exc:
            self.budgets.refused(exc.refusal, turn.trace_id)
            state.events.append(BudgetRefused(turn.trace_id, p.id, project, str(exc)))
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
            return await call_next(turn, state)
        state.note("budget.hold", 0.0, f"{amount:.6f} ({project})")

        async def settle(answer: Answer) -> None:
            model = state.served_by[0] if state.served_by else turn.backend_model
            cost = actual_cost(answer, model, state.prompt_text, self.settings)
            settled = await self._settle(held, cost, turn.trace_id)
            state.events.extend(
                BudgetAlert(turn.trace_id, a.kind, a.scope, a.period, a.spent, a.threshold)
                for a in settled.alerts
            )

        try:
            answer = await call_next(turn, state)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await settle(Answer())
            raise
        answer.on_close(settle)
        return answer

    async def _reserve(
        self, turn: Turn, key: str, tenant: str, project: str, amount: float
    ) -> Reservation | None:
        deadline = time.monotonic() + self.budgets.config.wait_for_holds_s
        while True:
            try:
                return await asyncio.to_thread(
                    self.budgets.reserve, key, tenant, project, amount, turn.trace_id
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

    async def _settle(self, held: Reservation, cost: float, trace_id: str) -> Settled:
        settled = await asyncio.to_thread(self.budgets.settle, held, cost, trace_id)
        cond = self._cond()
        async with cond:
            cond.notify(4)
        return settled
