"""One process of those sharing a home runs the scheduled jobs.

`lockgate serve --workers N` starts N gateway processes, and each builds the same lifespan.
The scheduled jobs must not all run N times: two retention purges split their counts over
two audit entries, the drift and alert checks keep their cool-downs and firing state in
memory (each process would announce the same drift and fire the same alert), and two release
monitors judge and roll back the same release. So the jobs run in the process holding an
exclusive lock on `<home>/run/jobs.lock` (flock, released by the kernel when the process
dies); the others try again every `RETRY_S` and one takes over when the holder is gone.

The batch worker is not one of these: it already shares the work safely through its lease
in the store (batch/worker.py), so every process runs one.

The lock is per home directory, so per host: gateways on several hosts over one PostgreSQL
store each elect their own (docs: README, Several processes)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("lockgate.gateway")

RETRY_S = 5.0


def lock_path(home: Path) -> Path:
    return home / "run" / "jobs.lock"


class FileLease:
    """An exclusive, non-blocking flock on one file; held until `release` or process exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        # Who holds it, for an operator looking at the file; the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


async def lead(
    lease: FileLease,
    start: Callable[[], Any],
    stop: Callable[[Any], Awaitable[None]],
    retry_s: float = RETRY_S,
) -> None:
    """Wait to hold `lease`, then run `start()` and keep the jobs until cancelled, when
    `stop(jobs)` ends them and the lease is given up."""
    try:
        # Not in a thread: the attempt never blocks, and one finishing after a cancelled
        # wait would hold the lock with nobody to give it back.
        while not lease.try_acquire():
            await asyncio.sleep(retry_s)
        log.info("process %d runs the scheduled jobs (%s)", os.getpid(), lease.path)
        jobs = start()
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            await stop(jobs)
    finally:
        lease.release()


async def resign(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
