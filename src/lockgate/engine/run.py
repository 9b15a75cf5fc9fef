"""`run_turn`: the one place a chat turn is parsed, run through the pipeline, completed,
closed, recorded and announced. HTTP (streaming or not), the batch worker and evaluation
runs all call it; no other code path records a chat trace."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from lockgate.engine.answer import Answer
from lockgate.engine.errors import GatewayError
from lockgate.engine.parse import parse_turn
from lockgate.engine.pins import check_pin
from lockgate.engine.pipeline import Pipeline
from lockgate.engine.state import TurnState
from lockgate.engine.trace import trace_row
from lockgate.engine.turn import Call, Turn
from lockgate.models.base import ChatDelta, UpstreamError
from lockgate.observability.dispatch import dispatcher
from lockgate.observability.events import Event, TurnFinished
from lockgate.plugins.manager import plugin_manager

if TYPE_CHECKING:
    from lockgate.services import Services

log = logging.getLogger("lockgate.engine")


@dataclass
class Reply:
    """A turn's outcome. For a stream, `deltas()` must be consumed: the turn is completed,
    closed and recorded when it ends, whichever way it ends."""

    call: Call
    turn: Turn | None
    state: TurnState
    answer: Answer
    error: GatewayError | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def streaming(self) -> bool:
        return self.error is None and self.answer.stream is not None

    def lockgate_object(self) -> dict[str, Any]:
        answer, state = self.answer, self.state
        out: dict[str, Any] = {
            "trace_id": self.call.trace_id,
            "citations": answer.citations,
            "grounded": answer.grounded,
            "refused": answer.refused,
            "guardrails": {"action": state.guard.action},
            # What the turn was billed, so a client (a load test) can total it without the
            # gateway's price list.
            "cost": round(answer.cost, 8),
        }
        if answer.groundedness is not None:
            out["groundedness"] = round(answer.groundedness, 4)
        if state.cache is not None and state.cache.status == "hit":
            out["cache"] = {"hit": True, "kind": answer.cache_kind}
        if answer.degraded:
            out["degraded"] = True
        if answer.extractive:
            out["extractive"] = True
            out["answer_mode"] = "extractive"
        if answer.review is not None:
            out["review"] = answer.review.as_dict()
        return out

    async def deltas(self) -> AsyncIterator[ChatDelta]:
        assert self._engine is not None and self.answer.stream is not None
        state = self.state
        try:
            async for delta in self.answer.stream:
                yield delta
            await self.answer.complete()
        except UpstreamError as exc:
            state.fail(exc.status, exc.for_trace())
            raise
        except GatewayError as exc:
            state.fail(exc.status, exc.detail or exc.message)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            state.fail(state.http_status, "client disconnected", "cancelled")
            raise
        except Exception as exc:
            log.exception("unhandled error in stream (trace %s)", self.call.trace_id)
            state.fail(500, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            await self._engine.finish(self)


class Engine:
    def __init__(self, services: Services, pipeline: Pipeline | None = None) -> None:
        self.services = services
        self.pipeline = pipeline if pipeline is not None else Pipeline.from_config(services)

    async def run_turn(self, call: Call) -> Reply:
        state = TurnState()
        turn: Turn | None = None
        reply = Reply(call, None, state, Answer(), _engine=self)
        try:
            t0 = time.perf_counter()
            try:
                turn = parse_turn(call, self.services.settings, self.services.models)
                check_pin(turn, self.services.scopes.allows)
            finally:
                state.note("validate", (time.perf_counter() - t0) * 1000)
            reply.turn = turn
            reply.answer = await self.pipeline(turn, state)
            if reply.answer.stream is not None:
                return reply  # completed as the caller consumes it
            await reply.answer.complete()
        except GatewayError as err:
            state.fail(err.status, err.detail or err.message)
            reply.error = err
        except asyncio.CancelledError:
            state.fail(state.http_status, "client disconnected", "cancelled")
            await self.finish(reply)
            raise
        except Exception as exc:  # noqa: BLE001 - traced, and answered as an OpenAI-style 500
            log.exception("unhandled error in turn (trace %s)", call.trace_id)
            state.fail(500, f"{type(exc).__name__}: {exc}")
            reply.error = GatewayError(
                500, f"internal error; quote trace id {call.trace_id}", "internal_error"
            )
        await self.finish(reply)
        return reply

    async def record_failure(self, call: Call, err: GatewayError) -> None:
        """A call the edge could not even hand over (unreadable body): traced all the same."""
        state = TurnState()
        state.fail(err.status, err.message)
        await self.finish(Reply(call, None, state, Answer(), err))

    async def record(
        self, call: Call, state: TurnState, answer: Answer, model: str | None = None
    ) -> None:
        """Trace a call that is not a chat turn (search, embeddings) the same way."""
        reply = Reply(call, None, state, answer)
        await self.finish(reply, model)

    async def finish(self, reply: Reply, model: str | None = None) -> None:
        # Shielded: a client that hung up cancels the response task, and a budget hold that
        # is never settled would block the caller's budget until it expires.
        with anyio.CancelScope(shield=True):
            await reply.answer.close(reply.call.trace_id)
            row = trace_row(reply.call, reply.turn, reply.state, reply.answer)
            if model is not None:
                row["model"] = model
            done = TurnFinished(
                reply.call.trace_id,
                reply.call.endpoint,
                reply.state.status,
                reply.state.http_status,
                row,
                reply.call.traceparent,
            )
            await emit_async([*reply.state.events, done], self.services)


def announce(events: list[Event], services: Services) -> None:
    """Hand events to every `track_event` subscriber, at once; one failing must not stop the
    rest."""
    hook = plugin_manager().hook.track_event
    for event in events:
        try:
            hook(event=event, services=services)
        except Exception:  # noqa: BLE001 - a subscriber's failure must not fail the turn
            log.exception("event subscriber failed on %s (trace %s)", event.name, event.trace_id)


def emit(events: list[Event], services: Services) -> None:
    """Announce events, then queue them for the store subscribers (traces, audit log), which
    the event writer runs off the caller's path (observability/dispatch.py)."""
    announce(events, services)
    dispatcher().submit(events, services)


async def emit_async(events: list[Event], services: Services) -> None:
    """`emit` for a coroutine: a full queue (`events.on_full: block`) waits without holding
    the event loop."""
    announce(events, services)
    await dispatcher().submit_async(events, services)
