"""Several gateway processes on one port (`lockgate serve --workers N`).

uvicorn's supervisor binds the socket once and spawns N fresh interpreters; each builds its
own `Services` and app from the same settings (`worker_app`, an app factory), so no model,
connection or thread crosses a process boundary. What they share is prepared here, once,
before they start:

- the store: migrations run and the master key file (when encryption makes one) is created
  in the parent, not raced by N processes at their first request;
- metrics: prometheus-client's multi-process mode, in `telemetry.prometheus_multiproc_dir`
  or else a private temporary directory made for this run and removed at its end (the
  files of a previous run are removed first, or they would be counted again);
- the dashboard's session secret: when none is set, one random secret for every process of
  this run, so a session made by one worker is honoured by the others.

The scheduled jobs run in one process (gateway/leader.py); the batch worker in each.

On SIGTERM the supervisor closes its copy of the listening socket first (while it is open
the kernel goes on queueing new connections that no worker will take), then sends SIGTERM
to each worker, which drains as one process does (gateway/shutdown.py), and waits for them:
at most `server.shutdown_grace_s` plus `JOIN_SLACK_S` for the lifespan's shutdown, after
which a worker still there is killed."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from lockgate.config import Settings
from lockgate.config.settings import config_path
from lockgate.gateway.handoff import Dispatcher, HandoffProcess
from lockgate.observability.metrics import MULTIPROC_ENV

log = logging.getLogger("lockgate.gateway")

CONFIG_ENV = "LOCKGATE_CONFIG"
# A worker that does not answer the supervisor's ping for this long is replaced. Start-up
# loads models on busy cores, so uvicorn's 5 s would replace workers that are only slow.
HEALTHCHECK_S = 30
# What a worker may take beyond the grace period to run its lifespan's shutdown (the event
# writer's flush, upstream connections) before the supervisor kills it.
JOIN_SLACK_S = 15.0


def worker_app() -> Starlette:
    """The app factory each worker process calls (uvicorn `factory=True`)."""
    from lockgate.auth.scopes import matrix_of
    from lockgate.config import load_settings
    from lockgate.gateway import gcpolicy
    from lockgate.gateway.app import create_app
    from lockgate.logs.setup import install
    from lockgate.services import Services

    gcpolicy.serving()

    settings = load_settings(os.environ.get(CONFIG_ENV) or None)
    matrix_of(settings.auth)
    install(settings.privacy.redact_logs)
    return create_app(Services(settings))


@contextlib.contextmanager
def shared_metrics(settings: Settings) -> Iterator[Path]:
    """The multi-process metrics directory for this run, named in the environment the
    workers inherit (prometheus-client reads it when a worker imports it)."""
    configured = settings.telemetry.prometheus_multiproc_dir
    made = configured is None
    path = Path(tempfile.mkdtemp(prefix="lockgate-metrics-")) if configured is None else configured
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    before = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = before
        if made:
            shutil.rmtree(path, ignore_errors=True)


def share_ui_secret(settings: Settings) -> None:
    env = settings.ui.session_secret_env
    if not settings.ui.enabled:
        return
    if env is None:
        log.warning(
            "ui.session_secret_env is unset: each worker seals dashboard sessions with its "
            "own key, so a session lasts only while requests reach the worker that made it"
        )
        return
    if not os.environ.get(env):
        os.environ[env] = secrets.token_urlsafe(48)


def config_env(explicit: str | None) -> None:
    """Workers load the same config file as the parent, wherever they resolve paths from."""
    found = config_path(explicit)
    if found is not None:
        os.environ[CONFIG_ENV] = str(found.resolve())


def prepare(services: Any) -> None:
    """What N processes must not each do at once on a new home: migrate, create the master
    key file, seed the packaged prompts."""
    services.engine  # noqa: B018 - built (and migrated) for its side effect
    if services.settings.encryption.enabled:
        services.cipher  # noqa: B018 - creates the master key file when configured to
    services.prompt_store  # noqa: B018 - seeds the packaged prompts
    services.engine.dispose()


class SpawnConfig(uvicorn.Config):
    """A uvicorn Config that survives the trip to a spawned worker. Lockgate's protocol
    classes are made at run time (`type(name, (Base,), {...})`, carrying the header
    timeout), which pickle cannot name; they travel as their base class and attributes and
    are made again on arrival."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        http = state.get("http")
        if isinstance(http, type) and _is_made(http):
            attrs = {
                k: v
                for k, v in vars(http).items()
                if not k.startswith("__") and isinstance(v, int | float | str | bool)
            }
            state["http"] = ("lockgate-made-class", http.__name__, http.__bases__, attrs)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        http = state.get("http")
        if isinstance(http, tuple) and http and http[0] == "lockgate-made-class":
            _, name, bases, attrs = http
            state["http"] = type(name, bases, attrs)
        self.__dict__.update(state)


def _is_made(cls: type) -> bool:
    """Whether pickle could not find `cls` by its module and name."""
    import sys

    found = getattr(sys.modules.get(cls.__module__), cls.__qualname__, None)
    return found is not cls


def reuseport_sockets(config: uvicorn.Config, count: int) -> list[socket.socket]:
    """One listening socket per worker on the same address (SO_REUSEPORT): the kernel
    spreads new connections over them by a hash of their addresses, so each worker gets its
    share. With one shared socket whichever worker is awake when a client connects takes
    it: wrk's 64 connections, opened at once, split 5/59 on a quiet box, and the worker
    with 59 saturated while the other idled (BENCHMARKS.md, "Two processes")."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    port = config.port
    made: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((config.host, port))
            port = sock.getsockname()[1]  # port 0: the others join the one the first got
            sock.set_inheritable(True)
    except OSError:
        for sock in made:
            sock.close()
        raise
    return made


class Supervisor(Multiprocess):
    """uvicorn's supervisor, stopping as a load-balanced replica should. With one socket
    per worker (`server.worker_sockets: reuseport`) a worker and its replacement keep the
    same socket, so connections the kernel queued on it while the worker was gone are
    served by the next one. With `balanced` the supervisor accepts and hands connections
    out (gateway/handoff.py); each worker, replacements included, gets a channel of its own."""

    def __init__(
        self,
        config: uvicorn.Config,
        sockets: list[socket.socket],
        per_worker: bool = False,
        balanced: bool = False,
    ) -> None:
        super().__init__(config, sockets)
        self.per_worker = per_worker
        self.dispatcher = Dispatcher(sockets[0], config.backlog) if balanced else None
        grace = config.timeout_graceful_shutdown
        self.join_s = (HEALTHCHECK_S if grace is None else float(grace)) + JOIN_SLACK_S

    def _worker(self, idx: int) -> Process:
        if self.dispatcher is not None:
            return HandoffProcess(self.config, self.dispatcher)
        sockets = [self.sockets[idx]] if self.per_worker else self.sockets
        return Process(self.config, sockets)

    def init_processes(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.start()
        for idx in range(self.processes_num):
            process = self._worker(idx)
            process.start()
            self.processes.append(process)

    def restart_all(self) -> None:
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._worker(idx)
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error("worker %s was not ready in time; restart aborted", new.pid)
                return
            old.terminate()
            old.join()
            self.processes[idx] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving (the app or the config is broken): every
                # replacement would fail the same way.
                log.error("worker %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker %s died; replaced", process.pid)
            self.processes[idx] = self._worker(idx)
            self.processes[idx].start()

    def handle_ttin(self) -> None:
        if self.dispatcher is not None:
            log.info("SIGTTIN: one more worker")
            self.processes_num += 1
            process = self._worker(len(self.processes))
            process.start()
            self.processes.append(process)
            return
        if self.per_worker:
            log.warning("SIGTTIN ignored: workers have a socket each (server.worker_sockets)")
            return
        super().handle_ttin()

    def handle_ttou(self) -> None:
        if self.dispatcher is not None and self.processes_num > 1:
            log.info("SIGTTOU: one worker fewer")
            self.processes_num -= 1
            process = self.processes.pop()
            process.terminate()
            process.join()
            return
        if self.per_worker:
            log.warning("SIGTTOU ignored: workers have a socket each (server.worker_sockets)")
            return
        super().handle_ttou()

    def terminate_all(self) -> None:
        # Only called on the way out (a restart replaces workers one by one instead).
        if self.dispatcher is not None:
            self.dispatcher.stop()
        for sock in self.sockets:
            sock.close()
        super().terminate_all()

    def join_all(self) -> None:
        deadline = time.monotonic() + self.join_s
        for worker in self.processes:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.error("worker %s did not stop in %.0f s; killed", worker.pid, self.join_s)
                worker.kill()
                worker.process.join()


def run(workers: int, options: dict[str, Any], sockets: str = "balanced") -> None:
    """Serve with `workers` processes until a signal ends them all (blocking)."""
    config = SpawnConfig(
        "lockgate.gateway.workers:worker_app",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=HEALTHCHECK_S,
        **options,
    )
    balanced = sockets == "balanced" and hasattr(socket, "send_fds")
    if sockets == "balanced" and not balanced:
        log.warning("this platform cannot pass sockets between processes: one shared socket")
    per_worker = sockets == "reuseport" and hasattr(socket, "SO_REUSEPORT")
    if sockets == "reuseport" and not per_worker:
        log.warning("this platform has no SO_REUSEPORT: the workers share one socket")
    bound = reuseport_sockets(config, workers) if per_worker else [config.bind_socket()]
    try:
        Supervisor(config, sockets=bound, per_worker=per_worker, balanced=balanced).run()
    finally:
        for sock in bound:
            sock.close()
