"""One process of those sharing a home runs the scheduled jobs: the lease is a real flock,
so a second holder is refused while the first lives (even in another process), and takes
over once the first lets go or dies."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from lockgate.gateway.leader import FileLease, lead, lock_path, resign


def test_only_one_lease_holds_the_lock_at_a_time(tmp_path: Path) -> None:
    path = lock_path(tmp_path)
    first, second = FileLease(path), FileLease(path)
    assert first.try_acquire() and first.held
    assert not second.try_acquire() and not second.held
    first.release()
    assert second.try_acquire()
    assert path.read_text().strip().isdigit()  # the holder's pid, for an operator
    second.release()


def test_a_lock_held_by_another_process_is_refused_until_it_exits(tmp_path: Path) -> None:
    path = lock_path(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from lockgate.gateway.leader import FileLease
                assert FileLease(Path({str(path)!r})).try_acquire()
                print("held", flush=True)
                sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        mine = FileLease(path)
        assert not mine.try_acquire()
    finally:
        holder.communicate("\n", timeout=30)
    # The kernel dropped the dead holder's lock.
    assert mine.try_acquire()
    mine.release()


def test_lead_waits_for_the_lease_then_runs_and_stops_the_jobs(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        events: list[str] = []
        path = lock_path(tmp_path)
        other = FileLease(path)
        assert other.try_acquire()

        def start() -> str:
            events.append("start")
            return "jobs"

        async def stop(jobs: str) -> None:
            events.append(f"stop {jobs}")

        task = asyncio.create_task(lead(FileLease(path), start, stop, retry_s=0.02))
        await asyncio.sleep(0.1)
        assert events == []  # someone else holds it
        other.release()
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.02)
        assert events == ["start"]
        await resign(task)
        # Stopped, and the lease is free for the next process.
        assert other.try_acquire()
        other.release()
        return events

    assert asyncio.run(scenario()) == ["start", "stop jobs"]
