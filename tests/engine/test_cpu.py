"""The CPU gate: at most `slots` jobs run, at most `max_waiting` more queue, none waits longer
than `max_wait_s`; beyond that a 503 with Retry-After at once. Work already paid for
(`shed=False`) always waits its turn, and a caller that stops waiting does not free a slot
its job still holds."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lockgate.engine.cpu import CpuGate, run_cpu
from lockgate.engine.errors import GatewayError


def _blocker() -> tuple[threading.Event, threading.Event]:
    started, release = threading.Event(), threading.Event()
    return started, release


def test_a_full_gate_answers_503_with_retry_after() -> None:
    gate = CpuGate(slots=1, max_waiting=1, max_wait_s=30)
    started, release = _blocker()

    def hold() -> str:
        started.set()
        release.wait(10)
        return "held"

    async def main() -> None:
        running = asyncio.ensure_future(gate.run(hold))
        queued = asyncio.ensure_future(gate.run(lambda: "queued"))
        await asyncio.to_thread(started.wait, 10)
        assert gate.pending == 2
        with pytest.raises(GatewayError) as exc:
            await gate.run(lambda: "third")
        err = exc.value
        assert (err.status, err.code, err.headers) == (503, "server_busy", {"Retry-After": "1"})
        # Paid-for work is never shed: it queues past the limit.
        paid = asyncio.ensure_future(gate.run(lambda: "paid", shed=False))
        release.set()
        assert await asyncio.gather(running, queued, paid) == ["held", "queued", "paid"]
        assert gate.pending == 0

    asyncio.run(main())


def test_a_job_that_waited_too_long_is_not_run() -> None:
    gate = CpuGate(slots=1, max_waiting=5, max_wait_s=0.2)
    ran: list[str] = []

    async def main() -> None:
        slow = asyncio.ensure_future(gate.run(time.sleep, 0.5))
        await asyncio.sleep(0.05)
        with pytest.raises(GatewayError) as exc:
            await gate.run(ran.append, "late")
        assert exc.value.status == 503
        await slow
        assert gate.pending == 0

    asyncio.run(main())
    assert ran == []


def test_a_caller_that_gives_up_still_holds_its_slot_until_the_job_ends() -> None:
    gate = CpuGate(slots=1, max_waiting=0, max_wait_s=30)
    started, release = _blocker()

    def hold() -> None:
        started.set()
        release.wait(10)

    async def main() -> None:
        task = asyncio.ensure_future(gate.run(hold))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        assert gate.pending == 1  # the thread is still busy: no new job may start
        with pytest.raises(GatewayError):
            await gate.run(lambda: None)
        release.set()
        deadline = time.monotonic() + 5
        while gate.pending:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert await gate.run(lambda: "free again") == "free again"

    asyncio.run(main())


def test_errors_pass_through_and_no_gate_means_a_thread() -> None:
    gate = CpuGate(slots=2, max_waiting=0, max_wait_s=1)

    def boom() -> None:
        raise ValueError("scanner broke")

    async def main() -> None:
        with pytest.raises(ValueError):
            await gate.run(boom)
        assert gate.pending == 0
        assert await run_cpu(None, lambda x: x * 2, 21) == 42
        assert await run_cpu(gate, lambda x: x * 2, 21) == 42

    asyncio.run(main())
