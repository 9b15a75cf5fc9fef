"""Interleave keep-alive ticks into a token stream that goes quiet.

Proxies and clients drop an idle SSE connection after tens of seconds; a slow first token (a
cold model, a long queue upstream) would otherwise look like a dead connection. The consumer
gets `None` for every `interval` seconds without a delta and sends an SSE comment for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

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
        if pending is not None and not pending.done():
            # The client went away: cancelling the read cancels the upstream generation.
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
