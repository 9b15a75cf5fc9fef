"""End to end: a real `lockgate serve` process on loopback, with a pipeline stage that fails
quoting the caller's message (the unhandled-error path logs its traceback) and a request
whose query string holds PII (uvicorn's access log). The planted e-mail, card and phone
number appear nowhere in the server's stdout or stderr; their placeholders do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

import lockgate
from tests.support.buggy_serve import STAGE
from tests.support.faulty_upstream import FaultyUpstream
from tests.support.server import free_port
from tests.support.store import store_env

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(lockgate.__file__).resolve().parents[1]  # the code under test, wherever it is
EMAIL = "planted.person@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415 555 2671"


def _config(tmp_path: Path, upstream: str) -> Path:
    cfg = {
        "home": str(tmp_path / "home"),
        # Nothing in front of the buggy stage: the raw user text reaches it.
        "guardrails": {"enabled": False},
        "cache": {"enabled": False},
        "auth": {"allow_anonymous": True},
        # Remote stand-ins for the embedded models, so the process starts in seconds.
        "embeddings": {"backend": "openai", "base_url": upstream, "upstream_model": "e"},
        "grounded": {"model": "echo"},
        "models": {"gemma-3-270m": None, "echo": {"backend": "openai", "base_url": upstream}},
        "pipeline": [STAGE, "call_model"],
    }
    path = tmp_path / "lockgate.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _start(config: Path, port: int, out: Path, err: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{ROOT}",
        **store_env(config.parent / "home"),  # the home _config names
    }
    command = [sys.executable, "-m", "tests.support.buggy_serve", "--config", str(config)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [*command, "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, err.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("lockgate serve did not start: " + err.read_text()[-3000:])


def test_server_log_has_no_planted_pii(tmp_path: Path) -> None:
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with FaultyUpstream(name="echo") as up:
        port = free_port()
        proc = _start(_config(tmp_path, up.base_url), port, out, err)
        base = f"http://127.0.0.1:{port}"
        try:
            message = f"My email is {EMAIL}, my card is {CARD}, call me on {PHONE}."
            body = {"model": "echo", "messages": [{"role": "user", "content": message}]}
            resp = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30)
            assert resp.status_code == 500 and EMAIL not in resp.text
            # A query string lands in uvicorn's access log as sent.
            models = httpx.get(f"{base}/v1/models?contact={EMAIL}&card=4111111111111111")
            assert models.status_code == 200
        finally:
            proc.terminate()
            proc.wait(30)
    log = out.read_text(errors="replace") + err.read_text(errors="replace")
    # The lines are there, redacted: the traceback of the stage's error and the access line.
    assert "unhandled error in turn" in log and "cannot handle message" in log, log[-3000:]
    assert "/v1/models?contact=<EMAIL>&card=<CREDIT_CARD>" in log, log[-3000:]
    assert "<EMAIL>" in log and "<CREDIT_CARD>" in log and "<PHONE>" in log
    for planted in (EMAIL, CARD, PHONE, "4111111111111111", "planted.person"):
        assert planted not in log, f"{planted!r} is in the server log"
