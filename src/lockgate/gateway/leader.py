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

On SQLite the lock is that file, so per home directory (SQLite is one host's store). On
PostgreSQL, where replicas on several hosts share one store, it is a session-level advisory
lock in that database (`StoreLease`): one holder over every host, released by the server
when the holder's connection ends. A holder checks every `RETRY_S` that its connection (so
its lock) is still there; when it is not, it stops the jobs and competes again, so that two
processes never run them at once for longer than that."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("lockgate.gateway")

RETRY_S = 5.0


def lock_path(home: Path) -> Path:
    return home / "run" / "jobs.lock"


# pg_try_advisory_lock's key: the first 8 bytes of sha256(b"lockgate.jobs"), as a signed
# 64-bit integer, so no other application's lock on the same database collides by accident.
JOBS_LOCK_KEY = -0x127F_B382_718E_51AE


class Lease(Protocol):
    @property
    def held(self) -> bool: ...

    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


def lease_for(home: Path, engine: Engine) -> Lease:
    """The jobs' lease of a deployment: store-wide on PostgreSQL, per home otherwise."""
    if engine.dialect.name == "postgresql":
        return StoreLease(engine)
    return FileLease(lock_path(home))


class StoreLease:
    """An exclusive PostgreSQL advisory lock, held by one connection kept open for it."""

    def __init__(self, engine: Engine, key: int = JOBS_LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        # Autocommit: the lock belongs to the session, and an open transaction would sit
        # "idle in transaction" for as long as the jobs run.
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        """Whether the connection holding the lock is alive (the server drops the lock with
        it); a lost one is given up here."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any driver error: the session, and the lock, are gone
            log.warning("the scheduled jobs' lock connection was lost")
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()  # not back into the pool: it may still hold the lock

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            conn.close()
        except Exception:  # noqa: BLE001 - the lock goes with the session either way
            with contextlib.suppress(Exception):
                conn.invalidate()


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

    def still_held(self) -> bool:
        return self._fd is not None  # a flock lasts as long as this process

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


async def lead(
    lease: Lease,
    start: Callable[[], Any],
    stop: Callable[[Any], Awaitable[None]],
    retry_s: float = RETRY_S,
) -> None:
    """Wait to hold `lease`, then run `start()` and keep the jobs until cancelled (when
    `stop(jobs)` ends them and the lease is given up) or until the lease is lost (when they
    are stopped and the wait begins again)."""
    try:
        while True:
            # Not in a thread: the attempt never blocks long (a flock, or one query), and one
            # finishing after a cancelled wait would hold the lock with nobody to give it back.
            while not _attempt(lease):
                await asyncio.sleep(retry_s)
            log.info("process %d runs the scheduled jobs (%s)", os.getpid(), _where(lease))
            jobs = start()
            try:
                while lease.still_held():
                    await asyncio.sleep(retry_s)
            finally:
                await stop(jobs)
    finally:
        lease.release()


def _attempt(lease: Lease) -> bool:
    try:
        return lease.try_acquire()
    except Exception:  # noqa: BLE001 - the store is away: try again later
        log.warning("could not try the scheduled jobs' lock", exc_info=True)
        return False


def _where(lease: Lease) -> str:
    if isinstance(lease, FileLease):
        return str(lease.path)
    return "an advisory lock in the store"


async def resign(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
