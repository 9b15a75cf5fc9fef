"""Stopping a real `lockgate serve` (one process, and `--workers 2`) with SIGTERM while a
slow upstream stream is in flight: new connections are refused at once, the stream runs to
its last chunk and [DONE], its trace is stored, and the process exits 0. Past
`server.shutdown_grace_s` the stream is cut and the process exits anyway, 0, soon after."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

from lockgate.config import load_settings
from lockgate.services import Services
from tests.support.faulty_upstream import Faults, FaultyUpstream
from tests.support.replicas import child_env, eventually
from tests.support.server import free_port, kill_tree, serve_process
from tests.support.store import store_env

WORDS = 16
TOKEN_DELAY_S = 0.25  # the stream takes WORDS * TOKEN_DELAY_S = 4 s


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(Faults(token_delay_s=TOKEN_DELAY_S, words=WORDS), name="w") as up:
        yield up


def _config(tmp_path: Path, upstream: str, grace_s: float) -> Path:
    cfg = {
        "home": str(tmp_path / "home"),
        "guardrails": {"enabled": False},
        "cache": {"enabled": False},
        "auth": {"allow_anonymous": True},
        "server": {"shutdown_grace_s": grace_s},
        # Remote stand-ins for the embedded models, so the process starts in seconds.
        "embeddings": {"backend": "openai", "base_url": upstream, "upstream_model": "e"},
        "grounded": {"model": "echo"},
        "models": {
            "gemma-3-270m": None,
            "echo": {
                "backend": "openai",
                "base_url": upstream,
                "read_timeout_s": 60,
                "resilience": {"retries": 0},
            },
        },
    }
    path = tmp_path / "lockgate.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


class Stream:
    """One streamed chat completion read on a thread: its events as they arrive."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.events: list[str] = []
        self.trace_id: str | None = None
        self.error: BaseException | None = None
        self.first = threading.Event()
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        body = {
            "model": "echo",
            "stream": True,
            "messages": [{"role": "user", "content": "tell me a long story"}],
        }
        try:
            with httpx.stream(
                "POST", self.base + "/v1/chat/completions", json=body, timeout=60
            ) as r:
                assert r.status_code == 200, r.read()
                self.trace_id = r.headers["x-lockgate-trace-id"]
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(line[6:])
                        if '"content"' in line:
                            self.first.set()
        except BaseException as exc:  # noqa: BLE001 - a cut stream is what one test expects
            self.error = exc
        finally:
            self.first.set()
            self.done.set()

    def text(self) -> str:
        out = []
        for event in self.events:
            if event == "[DONE]":
                continue
            for choice in json.loads(event).get("choices", []):
                out.append(choice.get("delta", {}).get("content") or "")
        return "".join(out)


def _start(config: Path, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = child_env(**store_env(config.parent / "home"))
    args = ("--workers", str(workers)) if workers > 1 else ()
    proc = serve_process(config, port, env, timeout_s=120, args=args, log=log)
    return proc, f"http://127.0.0.1:{port}"


def _refused(base: str) -> bool:
    try:
        httpx.get(base + "/healthz", timeout=2)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


def _stored_trace(config: Path, trace_id: str) -> Any:
    services = Services(load_settings(config))
    try:
        with services.engine.connect() as conn:
            return conn.execute(
                text("SELECT status, stream FROM traces WHERE id = :i"), {"i": trace_id}
            ).first()
    finally:
        services.engine.dispose()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_the_stream_in_flight_and_exits_0(
    tmp_path: Path, upstream: FaultyUpstream, workers: int
) -> None:
    config = _config(tmp_path, upstream.base_url, grace_s=30)
    log = tmp_path / "serve.log"
    proc, base = _start(config, workers, log)
    try:
        stream = Stream(base)
        assert stream.first.wait(30) and stream.error is None, stream.error
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        # The listener goes at once; the stream is still running when it has.
        eventually(lambda: _refused(base), 5)
        assert not stream.done.is_set(), "the stream ended before the listener closed"
        assert stream.done.wait(30)
        assert proc.wait(30) == 0, log.read_text(errors="replace")[-3000:]
        took = time.monotonic() - stopped
    finally:
        kill_tree(proc)
    assert stream.error is None, stream.error
    assert stream.events[-1] == "[DONE]"
    assert stream.text() == " ".join(f"w{i}" for i in range(WORDS))  # every chunk, in order
    assert took < WORDS * TOKEN_DELAY_S + 10, took
    assert stream.trace_id is not None
    row = _stored_trace(config, stream.trace_id)  # flushed before the process went
    assert row is not None and row.stream == 1, row
    assert "Traceback" not in log.read_text(errors="replace")


@pytest.mark.parametrize("workers", [1, 2])
def test_past_the_grace_period_the_stream_is_cut_and_the_process_exits(
    tmp_path: Path, upstream: FaultyUpstream, workers: int
) -> None:
    grace = 1.0
    config = _config(tmp_path, upstream.base_url, grace_s=grace)
    log = tmp_path / "serve.log"
    proc, base = _start(config, workers, log)
    try:
        stream = Stream(base)
        assert stream.first.wait(30) and stream.error is None, stream.error
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        assert proc.wait(30) == 0, log.read_text(errors="replace")[-3000:]
        took = time.monotonic() - stopped
        assert stream.done.wait(10)
    finally:
        kill_tree(proc)
    # Cut well before its natural end (4 s), soon after the grace period.
    assert took < WORDS * TOKEN_DELAY_S, took
    assert "[DONE]" not in stream.events
    assert len(stream.text().split()) < WORDS
