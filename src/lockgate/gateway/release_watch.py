"""The release monitor as a background task of the gateway process: every
`releases.check_interval_s` it judges the rollout release and rolls it back on a breach."""

from __future__ import annotations

import asyncio

from lockgate.releases import monitor
from lockgate.services import Services


def start(services: Services) -> asyncio.Task[None] | None:
    cfg = services.settings.releases
    if not cfg.enabled or cfg.check_interval_s <= 0:
        return None
    return monitor.start(services.release_monitor, cfg.check_interval_s)


async def stop(task: asyncio.Task[None] | None) -> None:
    await monitor.stop(task)
