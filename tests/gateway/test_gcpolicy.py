"""The serving process's garbage collector (`server.gc`): the start-up heap is frozen once,
after the warm-up and before readiness, only in a process that `lockgate serve` runs; the
young threshold follows the config. End to end: a real `lockgate serve` child freezes by
default and not with `LOCKGATE_SERVER__GC__FREEZE=false`."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

import lockgate
from lockgate.config import Settings
from lockgate.config.server import GcConfig
from lockgate.gateway import gcpolicy, warmup
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import free_port, serve

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(lockgate.__file__).resolve().parents[1]


@pytest.fixture
def serving(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    threshold = gc.get_threshold()
    monkeypatch.setattr(gcpolicy, "_serving", True)
    try:
        yield
    finally:
        gc.unfreeze()  # this test process builds more apps after this test
        gc.set_threshold(*threshold)


def test_a_process_that_does_not_serve_is_left_alone() -> None:
    threshold = gc.get_threshold()
    assert gcpolicy.freeze(GcConfig()) == 0
    gcpolicy.set_threshold(GcConfig(young_threshold=12_345))
    assert gc.get_threshold() == threshold


def test_a_serving_process_freezes_what_is_alive(serving: None) -> None:
    kept = [[i] for i in range(10)]
    before = gc.get_freeze_count()
    frozen = gcpolicy.freeze(GcConfig())
    assert frozen >= before + len(kept)
    # Frozen objects are in no generation a collection walks.
    walked = {id(o) for o in gc.get_objects()}
    assert not any(id(o) in walked for o in kept)


def test_freeze_off_freezes_nothing(serving: None) -> None:
    before = gc.get_freeze_count()
    assert gcpolicy.freeze(GcConfig(freeze=False)) == 0
    assert gc.get_freeze_count() == before


def test_young_threshold_keeps_the_older_generations(serving: None) -> None:
    _, older, oldest = gc.get_threshold()
    gcpolicy.set_threshold(GcConfig(young_threshold=7000))
    assert gc.get_threshold() == (7000, older, oldest)
    gcpolicy.set_threshold(GcConfig(young_threshold=None))  # left as it is
    assert gc.get_threshold() == (7000, older, oldest)
    gcpolicy.set_threshold(GcConfig())
    assert gc.get_threshold()[0] == GcConfig().young_threshold


def test_config_rejects_a_zero_threshold() -> None:
    with pytest.raises(ValueError):
        Settings.model_validate({"server": {"gc": {"young_threshold": 0}}})


def test_the_finish_step_runs_after_the_steps_before_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(warmup, "steps", lambda services: [("one", lambda s: seen.append("one"))])
    state = warmup.Warmup()
    warmup.run(None, state, lambda: seen.append(f"finish while {state.state}"))  # type: ignore[arg-type]
    assert seen == ["one", "finish while running"]
    assert state.state == "done"


def test_a_failing_finish_step_keeps_the_gateway_not_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(warmup, "steps", lambda services: [])
    state = warmup.Warmup()

    def boom() -> None:
        raise RuntimeError("no")

    warmup.run(None, state, boom)  # type: ignore[arg-type]
    assert state.state == "failed"
    assert state.errors == ["finish: RuntimeError: no"]


# ---- end to end ---------------------------------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[str]:
    with serve(create_fake_upstream()) as base:
        yield base + "/v1"


def _config(tmp_path: Path, upstream: str) -> Path:
    cfg = {
        "home": str(tmp_path / "home"),
        "guardrails": {"enabled": False},
        "cache": {"enabled": False},
        "auth": {"allow_anonymous": True},
        # Remote stand-ins for the embedded models, so the process starts in seconds.
        "embeddings": {"backend": "openai", "base_url": upstream, "upstream_model": "e"},
        "grounded": {"model": "echo"},
        "models": {"gemma-3-270m": None, "echo": {"backend": "openai", "base_url": upstream}},
        "pipeline": ["call_model"],
    }
    path = tmp_path / "lockgate.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _serve_until_ready(tmp_path: Path, config: Path, env: dict[str, str]) -> str:
    """Start `lockgate serve`, wait for /readyz, answer one chat request, stop it; its
    stderr."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    err = tmp_path / "stderr.log"
    with err.open("wb") as stderr:
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
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        body = {"model": "echo", "messages": [{"role": "user", "content": "hello"}]}
        assert httpx.post(base + "/v1/chat/completions", json=body, timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
    return err.read_text()


def test_lockgate_serve_freezes_its_start_up_heap(tmp_path: Path, upstream: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{ROOT}"}
    env.pop("LOCKGATE_SERVER__GC__FREEZE", None)
    log = _serve_until_ready(tmp_path, _config(tmp_path, upstream), env)
    frozen = [line for line in log.splitlines() if "start-up objects frozen" in line]
    assert len(frozen) == 1, log[-3000:]
    # Hundreds of thousands in practice; far more than a handful in any case.
    assert int(frozen[0].split("gc: ", 1)[1].split()[0]) > 10_000


def test_lockgate_serve_without_freeze(tmp_path: Path, upstream: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{ROOT}",
        "LOCKGATE_SERVER__GC__FREEZE": "false",
    }
    log = _serve_until_ready(tmp_path, _config(tmp_path, upstream), env)
    assert "start-up objects frozen" not in log
