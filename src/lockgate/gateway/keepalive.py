"""Interleave keep-alive ticks into a token stream that goes quiet.

Proxies and clients drop an idle SSE connection after tens of seconds; a slow first token (a
cold model, a long queue upstream) would otherwise look like a dead connection. The consumer
gets `None` for every `interval` seconds without a delta and sends an SSE comment for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, TypeVar

T = TypeVar("T")


async def with_keepalive(source: AsyncIterator[T], interval: float) -> AsyncIterator[T | None]:
    it = source.__aiter__()
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(it))
            # Waiting on the task (not wait_for) leaves it running across ticks: a keep-alive
            # must not cancel the upstream read it is covering for.
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                item = task.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        # Cleanup runs in its own task: when the client hangs up, this generator is inside
        # the server's cancelled scope, where every await is cancelled again at once, so the
        # upstream response could never finish closing here and its connection would stay
        # open, still generating. A separate task is outside that scope.
        cleanup: asyncio.Task[None] = asyncio.ensure_future(_cleanup(pending, it))
        _CLEANUPS.add(cleanup)
        cleanup.add_done_callback(_CLEANUPS.discard)


# Strong references: the event loop keeps only weak ones to tasks.
_CLEANUPS: set[asyncio.Task[None]] = set()


async def _cleanup(pending: asyncio.Future[Any] | None, it: AsyncIterator[Any]) -> None:
    if pending is not None and not pending.done():
        # Cancelling the read cancels the upstream generation.
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pending
    if isinstance(it, AsyncGenerator):
        with contextlib.suppress(Exception):
            await it.aclose()
