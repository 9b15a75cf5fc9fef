"""Admission: at most `server.max_inflight` requests are worked on at once in this process.

A request beyond that waits, first come first served, at most `server.queue_wait_s` for a
place; then it is answered 503 `overloaded` with Retry-After at once. Under overload a queue
without a bound only makes every caller wait longer (at 256 connections requests waited more
than ten seconds), while a client told to retry can go to another replica or back off;
the requests let in keep a latency bounded by the limit. Liveness, readiness and metrics
are never held back: a balancer must still see a busy process as alive and ready.

The wait is on the event loop (one future per waiting request), so waiting costs no thread
and little memory; a request holds its place until its response has been sent, streams
included."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from lockgate.engine.errors import GatewayError
from lockgate.gateway.errors import error_response
from lockgate.observability.metrics import METRICS

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_S = 1


def overloaded() -> GatewayError:
    return GatewayError(
        503,
        "the gateway is at capacity; retry shortly",
        "overloaded",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


# One instance: a refusal under overload should cost as little as possible.
_OVERLOADED = overloaded()


class Slots:
    """A counting limit whose waiters are served in arrival order, each for a bounded time.
    Not thread-safe: one event loop uses it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    async def acquire(self, timeout_s: float) -> bool:
        """True with a place taken (give it back with `release`); False after `timeout_s`."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
            return True
        except TimeoutError:
            # A place handed over just as the timer fired is taken: it is counted already.
            return waiter.done() and not waiter.cancelled()
        except BaseException:
            # The caller went away while waiting: a place it was handed goes to the next.
            if waiter.done() and not waiter.cancelled():
                self.release()
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter.cancelled():
                # Out of the line now rather than at the next release: with every place held
                # for long, abandoned waiters would pile up. A release may have dropped it
                # already, between the cancellation and this.
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def release(self) -> None:
        # The place passes straight to the longest waiter still waiting, so a newcomer
        # cannot take it first (the count stays as it is).
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, max_inflight: int, queue_wait_s: float) -> None:
        self.app = app
        self.slots = Slots(max_inflight)
        self.queue_wait_s = queue_wait_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT:
            await self.app(scope, receive, send)
            return
        if not await self.slots.acquire(self.queue_wait_s):
            METRICS.inc("lockgate_admission_shed_total")
            trace_id = scope.get("state", {}).get("trace_id")
            await error_response(_OVERLOADED, trace_id)(scope, receive, send)
            return
        METRICS.set("lockgate_admission_in_flight", self.slots.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release()
            METRICS.set("lockgate_admission_in_flight", self.slots.in_flight)
