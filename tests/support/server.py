"""Run an ASGI app with uvicorn on a free loopback port in a background thread."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    app: Any, ready_path: str | None = None, timeout: float = 120, **options: Any
) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    if ready_path:
        while True:
            try:
                if httpx.get(base + ready_path, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_path} never became ready")
            time.sleep(0.2)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve_process(
    config: Path,
    port: int,
    env: Mapping[str, str],
    timeout_s: float = 90,
    args: Sequence[str] = (),
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """A real `lockgate serve` child process on `port` (with `args`, e.g. `--workers 2`),
    once /healthz answers; its stderr tail is the error when it exits first. A child that
    serves many requests should write its stderr to `log`: nobody reads the pipe until it
    exits, and a full pipe would stop the child mid-request."""
    sink = log.open("wb") if log is not None else subprocess.PIPE
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lockgate.cli",
            "--config",
            str(config),
            "serve",
            "--port",
            str(port),
            *args,
        ],
        cwd=config.parent,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=sink,
        # Its own process group: `kill_tree` ends its workers (`--workers N`) with it.
        start_new_session=True,
    )
    if log is not None:
        sink.close()  # type: ignore[union-attr]  # the child holds its own copy
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if log is not None:
                raise RuntimeError(log.read_text(errors="replace")[-3000:])
            raise RuntimeError(proc.stderr.read().decode()[-3000:])  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    kill_tree(proc)
    raise RuntimeError("lockgate serve did not start")


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """A child started in its own session, and every process it started (killing a
    `--workers` supervisor alone leaves its workers running, orphaned)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
