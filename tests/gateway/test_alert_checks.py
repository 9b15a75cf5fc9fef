"""The metric alert rules as a background task of the gateway: judged every interval (the
first one interval after start) against the store, a failing check does not end the task, and
no task is started without a metric rule."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from lockgate.config import Settings
from lockgate.gateway import alerts
from lockgate.services import Services
from lockgate.store import tables as tb
from lockgate.store.db import transaction

ERRORS = {"name": "errors", "kind": "error_rate", "threshold": 0.5, "min_samples": 4}


def services_with(tmp_path: Path, rules: list[dict[str, Any]]) -> Services:
    return Services(Settings(home=tmp_path, alerts={"rules": rules}))  # type: ignore[arg-type]


def test_the_task_judges_metric_rules_from_the_store(tmp_path: Path) -> None:
    services = services_with(tmp_path, [ERRORS])
    with transaction(services.engine) as conn:
        for _ in range(4):
            conn.execute(insert(tb.traces).values(
                id=uuid.uuid4().hex, created_at=time.time(), principal="p", tenant="t",
                endpoint="/v1/chat/completions", stream=0, status="error", http_status=502,
                degraded=0, latency_ms=10.0))

    async def scenario() -> None:
        task = asyncio.create_task(alerts.check_forever(services.alerts, 0.05))
        await asyncio.sleep(0.01)
        assert services.alerts.recent() == []  # the first check waits one interval
        for _ in range(100):
            await asyncio.sleep(0.05)
            if services.alerts.recent():
                break
        await alerts.stop(task)
        assert task.cancelled()

    asyncio.run(scenario())
    [fired] = services.alerts.recent()
    assert fired.rule == "errors" and fired.state == "firing" and fired.value == 1.0


def test_a_failing_check_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        calls = 0

        def check(self) -> None:
            Broken.calls += 1
            raise RuntimeError("store went away")

    async def scenario() -> None:
        task = asyncio.create_task(alerts.check_forever(Broken(), 0.02))  # type: ignore[arg-type]
        await asyncio.sleep(0.15)
        await alerts.stop(task)

    asyncio.run(scenario())
    assert Broken.calls >= 3 and "alert check failed" in caplog.text


@pytest.mark.parametrize(
    ("rules", "enabled", "started"),
    [([ERRORS], True, True), ([ERRORS], False, False),
     ([{"name": "b", "kind": "breaker_open"}], True, False), ([], True, False)],
)
def test_started_only_for_metric_rules(
    tmp_path: Path, rules: list[dict[str, Any]], enabled: bool, started: bool
) -> None:
    services = Services(Settings(home=tmp_path, alerts={"rules": rules, "enabled": enabled}))  # type: ignore[arg-type]

    async def scenario() -> bool:
        task = alerts.start(services)
        await alerts.stop(task)
        return task is not None

    assert asyncio.run(scenario()) is started
