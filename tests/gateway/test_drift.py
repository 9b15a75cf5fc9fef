"""The drift check as a background task of the gateway: it waits one interval before the first
check, builds the monitor once, keeps checking after a failed check, is not started when
`drift.enabled` is false, and stops with the gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lockgate.gateway import drift
from lockgate.models.minilm import MiniLMEmbedder
from tests.conftest import make_services, make_settings


class FlakyMonitor:
    def __init__(self) -> None:
        self.checks = 0

    def check(self, now: float | None = None) -> list[Any]:
        self.checks += 1
        if self.checks == 1:
            raise RuntimeError("store went away")
        return []


def test_checks_every_interval_and_survives_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    monitor = FlakyMonitor()
    built: list[int] = []

    def make() -> Any:
        built.append(1)
        return monitor

    async def scenario() -> None:
        task = asyncio.create_task(drift.check_forever(make, 0.02))
        await asyncio.sleep(0.005)
        assert monitor.checks == 0  # the first check waits one interval
        await asyncio.sleep(0.2)
        await drift.stop(task)
        assert task.cancelled()

    asyncio.run(scenario())
    assert monitor.checks >= 3 and built == [1]
    assert "drift check failed" in caplog.text


@pytest.mark.parametrize("enabled", [True, False])
def test_started_only_when_enabled(tmp_path: Path, embedder: MiniLMEmbedder, enabled: bool) -> None:
    settings = make_settings(tmp_path / "home", drift={"enabled": enabled})
    services = make_services(settings, embedder)

    async def scenario() -> asyncio.Task[None] | None:
        task = drift.start(services)
        await drift.stop(task)
        return task

    task = asyncio.run(scenario())
    assert (task is not None) is enabled
