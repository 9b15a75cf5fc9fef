"""The scheduled drift check, a background task of the gateway process: every
`drift.interval_seconds` (the first one interval after start, so starting a gateway does not
embed a week of questions), off when `drift.enabled` is false."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from lockgate.drift.monitor import DriftMonitor
from lockgate.services import Services

log = logging.getLogger("lockgate.drift")


async def check_forever(make_monitor: Callable[[], DriftMonitor], interval_s: float) -> None:
    monitor: DriftMonitor | None = None
    while True:
        await asyncio.sleep(interval_s)
        try:
            # Built at the first check: the query embedder is not needed before it.
            monitor = monitor or make_monitor()
            # Embedding the windows' questions is CPU work: off the event loop.
            await asyncio.to_thread(monitor.check)
        except Exception:  # noqa: BLE001 - a failed check is retried at the next interval
            log.exception("drift check failed")


def start(services: Services) -> asyncio.Task[None] | None:
    cfg = services.settings.drift
    if not cfg.enabled:
        return None

    def make() -> DriftMonitor:
        return DriftMonitor.from_services(services)

    return asyncio.create_task(check_forever(make, cfg.interval_seconds))


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
