"""The metric alert rules as a background task of the gateway process: every
`alerts.interval_seconds` (the first one interval after start) they are judged against the
store; off when alerting is disabled or no metric rule is configured. Event rules need no
task: their events reach `services.alerts` through the subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from lockgate.alerts.service import AlertService
from lockgate.services import Services

log = logging.getLogger("lockgate.alerts")


async def check_forever(alerts: AlertService, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            # Store reads and webhook hand-offs: off the event loop.
            await asyncio.to_thread(alerts.check)
        except Exception:  # noqa: BLE001 - a failed check is retried at the next interval
            log.exception("alert check failed")


def start(services: Services) -> asyncio.Task[None] | None:
    cfg = services.settings.alerts
    if not cfg.enabled or not any(not r.event_driven for r in cfg.rules):
        return None
    return asyncio.create_task(check_forever(services.alerts, cfg.interval_seconds))


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
