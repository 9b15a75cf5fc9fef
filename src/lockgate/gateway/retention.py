"""The scheduled retention purge, a background task of the gateway process."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from lockgate.services import Services

log = logging.getLogger("lockgate.retention")


async def purge_forever(services: Services, interval_s: float) -> None:
    while True:
        try:
            counts = await asyncio.to_thread(services.privacy.purge, services.retention())
            if any(counts.values()):
                audit = services.audit
                await asyncio.to_thread(audit.append, "privacy.purge", counts, actor="gateway")
                log.info("retention purge: %s", counts)
        except Exception:  # noqa: BLE001 - a failed purge is retried at the next interval
            log.exception("retention purge failed")
        await asyncio.sleep(interval_s)


def start(services: Services) -> asyncio.Task[None] | None:
    interval = services.settings.retention.purge_interval_s
    return asyncio.create_task(purge_forever(services, interval)) if interval > 0 else None


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
