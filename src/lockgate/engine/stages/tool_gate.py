"""Hold a model's calls to tools with side effects until they are approved.

A tool declared `side_effects: true` under `tools.declared` (or any undeclared tool, with
`tools.undeclared: approve`) acts on the world once the caller runs it, so its call is not
returned to the caller until an approval provider says yes. The gate asks one narrow
interface, `ToolApprovals` (lockgate.engine.approvals):

    async def request(self, turn: Turn, calls: Sequence[ToolCall]) -> ApprovalDecision

with only the calls that need approval, once per turn. `ApprovalDecision.outcome` is one of

    approved     the calls are returned as the model made them
    pending      409 `tool_approval_required`, `error.review_id` (and the
                 `x-lockgate-review-id` header) naming the review the provider opened
    denied       403 `tool_call_denied`, with the provider's `reason`
    unavailable  403 `tool_approval_required` (the default provider, `NoApprovals`)

and a provider that raises withholds the calls too (503 `tool_approval_unavailable`). To plug a
review queue in, implement the `tool_approvals(services)` hook and return an object with that
`request` method; nothing else in the engine changes. In every refusal the call itself stays
out of the reply, and its arguments are kept in the (encrypted) trace for the reviewer.

Streams: the calls need approval before any piece of them is sent. When the request offers a
tool that needs approval, the gate reads the stream ahead until text appears or it ends; a
reply of only tool calls (the usual case) is therefore decided before the response starts
and refused with a real HTTP status. Once text is flowing, text passes and tool-call pieces
are held to the end; a refusal then arrives as the stream's error event.

The gate sits outside the output guard, so it decides on the arguments the caller would
receive. When no configured tool needs approval it is left out of the pipeline altogether, and
on a turn that offers no tools it only passes the turn on."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

import anyio

from lockgate.config import ToolsConfig
from lockgate.engine.answer import Answer, aclose_stream
from lockgate.engine.approvals import ApprovalDecision, ToolApprovals
from lockgate.engine.errors import GatewayError
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import TurnState
from lockgate.engine.tools import ToolCallAssembler, tool_names
from lockgate.engine.turn import Turn
from lockgate.models.base import ChatDelta, ToolCall
from lockgate.observability.events import ToolCallGated

if TYPE_CHECKING:
    from lockgate.services import Services

log = logging.getLogger("lockgate.engine")

REVIEW_HEADER = "x-lockgate-review-id"


class ToolGate(Stage):
    name: ClassVar[str] = "tool_gate"
    after: ClassVar[tuple[str, ...]] = ("input_guard",)
    before: ClassVar[tuple[str, ...]] = ("output_guard", "postprocess", "call_model")

    def __init__(self, config: ToolsConfig, approvals: ToolApprovals) -> None:
        self.config = config
        self.approvals = approvals

    @classmethod
    def from_services(cls, services: Services) -> ToolGate | None:
        config = services.settings.tools
        if not config.gated:
            return None  # no tool needs approval: not a layer at all
        return cls(config, services.tool_approvals)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not turn.request.tools:
            # No tool offered, no call possible (call_model drops unsolicited ones).
            return await call_next(turn, state)
        answer = await call_next(turn, state)
        if answer.stream is None:

            async def check(done: Answer) -> None:
                refusal = await self._refusal(turn, state, done.tool_calls)
                if refusal is not None:
                    raise refusal

            answer.on_done(check)
            return answer
        if any(self.config.needs_approval(n) for n in tool_names(turn.request)):
            return await self._read_ahead(turn, state, answer, answer.stream)
        answer.stream = self._held(turn, state, answer.stream)
        return answer

    async def _read_ahead(
        self, turn: Turn, state: TurnState, answer: Answer, stream: AsyncIterator[ChatDelta]
    ) -> Answer:
        held: list[ChatDelta] = []
        try:
            while True:
                try:
                    delta = await anext(stream)
                except StopAsyncIteration:
                    break
                held.append(delta)
                if delta.text:
                    answer.stream = self._held(turn, state, _chain(held, stream))
                    return answer
        except Exception as exc:  # noqa: BLE001 - re-raised where a stream's failures go
            answer.stream = _chain(held, _raising(exc))
            return answer
        except BaseException:
            # Cancelled while reading ahead: release the upstream and what the turn holds,
            # since this answer never reaches the engine that would.
            with anyio.CancelScope(shield=True):
                await aclose_stream(stream)
                await answer.close(turn.trace_id)
            raise
        calls = ToolCallAssembler()
        for delta in held:
            if delta.tool_calls:
                calls.add(delta.tool_calls)
        refusal = await self._refusal(turn, state, calls.calls()) if calls else None
        if refusal is None:
            answer.stream = _chain(held, _nothing())
            return answer
        # Nothing was sent yet: the turn ends as a plain error reply, after the completion
        # steps of the layers inside (cost, the output scan) have run.
        answer.stream = None

        async def refuse(done: Answer) -> None:
            raise refusal

        answer.on_done(refuse)
        return answer

    async def _held(
        self, turn: Turn, state: TurnState, deltas: AsyncIterator[ChatDelta]
    ) -> AsyncIterator[ChatDelta]:
        held: list[ChatDelta] = []
        calls = ToolCallAssembler()
        try:
            async for delta in deltas:
                if delta.tool_calls:
                    held.append(ChatDelta(tool_calls=delta.tool_calls))
                    calls.add(delta.tool_calls)
                    if not (delta.text or delta.finish_reason or delta.usage):
                        continue
                    delta = replace(delta, tool_calls=None)
                yield delta
            if calls:
                refusal = await self._refusal(turn, state, calls.calls())
                if refusal is not None:
                    raise refusal
                for piece in held:
                    yield piece
        finally:
            await aclose_stream(deltas)

    async def _refusal(
        self, turn: Turn, state: TurnState, calls: Sequence[ToolCall]
    ) -> GatewayError | None:
        """None when every call may be returned; else the error the caller gets instead."""
        gated = [c for c in calls if self.config.needs_approval(c.name)]
        if not gated:
            return None
        names = tuple(dict.fromkeys(c.name for c in gated))
        try:
            decision = await self.approvals.request(turn, gated)
        except Exception:  # noqa: BLE001 - no decision is a refusal, never a pass
            log.exception("tool approval provider failed (trace %s)", turn.trace_id)
            decision = None
        outcome = decision.outcome if decision is not None else "error"
        review = decision.review_id if decision is not None else None
        note = outcome + (f" (review {review})" if review else "")
        state.note(f"{self.name}.approval", 0.0, note)
        p = turn.principal
        state.events.append(ToolCallGated(turn.trace_id, p.id, p.tenant, names, outcome, review))
        if decision is not None and decision.outcome == "approved":
            return None
        return _error(decision, names)


def _error(decision: ApprovalDecision | None, names: tuple[str, ...]) -> GatewayError:
    tools = ", ".join(f"'{n}'" for n in names)
    what = f"the model called {tools}, which has side effects and needs approval"
    if decision is None:
        return GatewayError(
            503,
            f"{what}; the approval service failed, so the call was withheld",
            "tool_approval_unavailable",
        )
    if decision.outcome == "pending":
        review = decision.review_id
        return GatewayError(
            409,
            f"{what}; it awaits review {review} and was not returned",
            "tool_approval_required",
            headers={REVIEW_HEADER: review} if review else None,
            extra={"review_id": review},
        )
    if decision.outcome == "denied":
        reason = f": {decision.reason}" if decision.reason else ""
        return GatewayError(403, f"the call to {tools} was denied{reason}", "tool_call_denied")
    reason = decision.reason or "nobody can approve it"
    return GatewayError(
        403, f"{what}; {reason}, so the call was withheld", "tool_approval_required"
    )


async def _chain(
    first: list[ChatDelta], rest: AsyncIterator[ChatDelta]
) -> AsyncIterator[ChatDelta]:
    try:
        for delta in first:
            yield delta
        async for delta in rest:
            yield delta
    finally:
        await aclose_stream(rest)


async def _nothing() -> AsyncIterator[ChatDelta]:
    return
    yield  # pragma: no cover - makes this an async generator


async def _raising(exc: Exception) -> AsyncIterator[ChatDelta]:
    raise exc
    yield  # pragma: no cover - makes this an async generator
