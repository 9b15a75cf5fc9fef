"""Several real `lockgate serve` processes over one store: the set-up of a deployment with N
replicas behind a load balancer, for the tests that check shared state across processes.

`shared_store("sqlite" | "postgresql", root)` is the store every replica opens: one SQLite
file (WAL) or a migrated PostgreSQL database leased from the session's pool (skipped, saying
why, without a server). `Replicas` starts the children one after another (the first creates
the master key file the others read), each on its own loopback port, and stops them with
SIGTERM, killing what does not exit in time. `eventually` polls a condition with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import lockgate
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from tests.support.postgres import throwaway_database
from tests.support.server import free_port, kill_tree, serve_process

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(lockgate.__file__).resolve().parents[1]  # the code under test, wherever it is
STORES = ("sqlite", "postgresql")

T = TypeVar("T")


@contextmanager
def shared_store(kind: str, root: Path) -> Iterator[str]:
    """The URL of one migrated store for every replica (and the test's own Services)."""
    if kind == "sqlite":
        url = f"sqlite:///{root / 'shared.db'}"
        engine = make_engine(url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        yield url
        return
    with throwaway_database("replicas") as engine:
        migrate(engine)
        yield engine.url.render_as_string(hide_password=False)


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)])}
    # The store is the config file's or `extra`'s; one inherited from the test run would win.
    env.pop("LOCKGATE_STORE__URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return {**env, **extra}


class Replicas:
    """`count` gateway processes started from one config file."""

    def __init__(self, config: Path, count: int = 2, timeout_s: float = 120) -> None:
        self.config = config
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []
        self.logs: list[Path] = []
        try:
            for n in range(count):
                port = free_port()
                log = config.parent / f"replica-{n}.log"
                self.logs.append(log)
                self.procs.append(serve_process(config, port, child_env(), timeout_s, log=log))
                self.urls.append(f"http://127.0.0.1:{port}")
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 30) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=timeout_s))
            except subprocess.TimeoutExpired:
                kill_tree(proc)
                codes.append(None)
        return codes

    def __enter__(self) -> Replicas:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`lockgate --config CONFIG ARGS...` as its own process, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "lockgate.cli", "--config", str(config), *args],
        cwd=config.parent,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def eventually(check: Callable[[], T | None], timeout_s: float, every_s: float = 0.05) -> T:
    """The first truthy value of `check()` within `timeout_s`; AssertionError after."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s (last: {value!r})")
        time.sleep(every_s)
