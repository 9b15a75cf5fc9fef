"""One process of those sharing a store runs the scheduled jobs. On SQLite the lease is a
real flock in the home, so a second holder is refused while the first lives (even in another
process), and takes over once the first lets go or dies. On PostgreSQL it is an advisory
lock in the database, refused to any other session (another host's process) while held, and
a holder whose session the server ended stops its jobs and competes again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from sqlalchemy import text

from lockgate.gateway.leader import FileLease, StoreLease, lead, lease_for, lock_path, resign
from tests.support.postgres import throwaway_database


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


# -- PostgreSQL: one holder over every host sharing the store -----------------------------------


def test_one_advisory_lock_per_database_freed_with_its_holders_session() -> None:
    with throwaway_database("leader") as engine:
        assert isinstance(lease_for(Path("/unused"), engine), StoreLease)
        first, second = StoreLease(engine), StoreLease(engine)
        assert first.try_acquire() and first.still_held()
        assert not second.try_acquire() and not second.held
        first.release()
        assert second.try_acquire()
        # Another process (another host's gateway) is refused while it is held.
        url = engine.url.render_as_string(hide_password=False)
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\n"
                "from lockgate.gateway.leader import StoreLease\n"
                "from lockgate.store.db import make_engine\n"
                "sys.exit(0 if StoreLease(make_engine(sys.argv[1])).try_acquire() else 3)",
                url,
            ],
            timeout=60,
            check=False,
        )
        assert probe.returncode == 3
        second.release()


def test_a_lost_lock_connection_stops_the_jobs_until_the_lock_is_won_again() -> None:
    async def scenario(engine: Any) -> list[str]:
        events: list[str] = []

        def start() -> str:
            events.append("start")
            return "jobs"

        async def stop(jobs: str) -> None:
            events.append(f"stop {jobs}")

        lease = StoreLease(engine)
        task = asyncio.create_task(lead(lease, start, stop, retry_s=0.05))
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.02)
        assert events == ["start"]
        # The server ends the holder's session (a failover, a network cut): the lock goes.
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                )
            )
            conn.commit()
        for _ in range(200):
            if len(events) >= 3:
                break
            await asyncio.sleep(0.02)
        await resign(task)
        return events

    with throwaway_database("leader") as engine:
        assert asyncio.run(scenario(engine)) == ["start", "stop jobs", "start", "stop jobs"]
        assert StoreLease(engine).try_acquire()  # given back at the end
