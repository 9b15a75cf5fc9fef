"""One bounded place for CPU-bound work (embedding, guardrail scans, retrieval).

A few threads, about one per core, run it; beyond those a bounded number of jobs may wait,
each for a bounded time. When both are used up the request is answered 503 with
Retry-After at once: a queue that only grows would make every caller wait longer and keep
working on requests whose clients gave up long ago. Its own threads also keep this work
from taking the default executor's, which the auth lookups and the store need.

Work the turn has already paid for (the output scan after the model answered) passes
`shed=False`: it waits its turn rather than throw the answer away."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from lockgate.engine.errors import GatewayError
from lockgate.observability.metrics import METRICS

T = TypeVar("T")


class _Expired(Exception):
    """A job that waited past its time and was not run."""


def busy(retry_after_s: int = 1) -> GatewayError:
    return GatewayError(
        503,
        "the gateway is at capacity for this kind of work; retry shortly",
        "server_busy",
        headers={"Retry-After": str(retry_after_s)},
    )


class CpuGate:
    def __init__(self, slots: int, max_waiting: int, max_wait_s: float) -> None:
        self.slots = slots
        self.limit = slots + max_waiting
        self.max_wait_s = max_wait_s
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="lockgate-cpu")
        self._lock = threading.Lock()
        self._pending = 0  # running and queued

    @property
    def pending(self) -> int:
        return self._pending

    def _done(self, _: Future[Any]) -> None:
        # Counted down when the job ends or is cancelled, not when its caller stops waiting:
        # a client that hangs up does not free a slot its work still occupies.
        with self._lock:
            self._pending -= 1

    async def run(self, fn: Callable[..., T], *args: Any, shed: bool = True) -> T:
        """`fn(*args)` on the gate's threads; GatewayError 503 when it is full (shed)."""
        with self._lock:
            if shed and self._pending >= self.limit:
                METRICS.inc("lockgate_cpu_shed_total", reason="queue_full")
                raise busy()
            self._pending += 1
        queued = time.monotonic()

        def job() -> T:
            if shed and time.monotonic() - queued > self.max_wait_s:
                raise _Expired
            return fn(*args)

        # The caller's context travels with the job, as with asyncio.to_thread.
        ctx = contextvars.copy_context()
        try:
            future = self._pool.submit(ctx.run, job)
        except BaseException:
            with self._lock:
                self._pending -= 1
            raise
        future.add_done_callback(self._done)
        try:
            return await asyncio.wrap_future(future)
        except _Expired:
            METRICS.inc("lockgate_cpu_shed_total", reason="waited_too_long")
            raise busy() from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def run_cpu(gate: CpuGate | None, fn: Callable[..., T], *args: Any, shed: bool = True) -> T:
    """Through the gate when there is one (the gateway's); a plain thread otherwise (stages
    built by hand, in tests and tools)."""
    if gate is None:
        return await asyncio.to_thread(fn, *args)
    return await gate.run(fn, *args, shed=shed)
