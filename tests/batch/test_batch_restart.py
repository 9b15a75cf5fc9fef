"""`kill -9` a real `lockgate serve` process while a batch item is at the upstream, start it
again on the same store, and check on a recording fake upstream that no completed item was
lost or sent again: every custom_id has exactly one result, and exactly one upstream call
except the single item that was in flight at the kill (sent again under `retry`, reported as
interrupted and never re-sent under `fail`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.server import free_port, serve, serve_process
from tests.support.store import store_env

ROOT = Path(__file__).resolve().parents[2]
N = 12
HOLD_AT = 6  # the 6th upstream call is held until the gateway is killed


class Recorder:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.held = threading.Event()
        self.release = threading.Event()

    def app(self) -> Starlette:
        async def chat(request: Request) -> JSONResponse:
            body = await request.json()
            cid = body["messages"][-1]["content"]
            with self.lock:
                self.calls[cid] += 1
                hold = sum(self.calls.values()) == HOLD_AT
            if hold:
                self.held.set()
                while not self.release.is_set():  # the caller dies meanwhile
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.02)
            usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
            return JSONResponse(
                {
                    "id": "up",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": f"done {cid}"},
                        }
                    ],
                    "usage": usage,
                }
            )

        async def embeddings(request: Request) -> JSONResponse:
            body = await request.json()
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return JSONResponse(
                {
                    "object": "list",
                    "model": body["model"],
                    "data": [
                        {"object": "embedding", "index": i, "embedding": [1.0, 0.0, 0.0]}
                        for i in range(len(inputs))
                    ],
                }
            )

        return Starlette(
            routes=[
                Route("/v1/chat/completions", chat, methods=["POST"]),
                Route("/v1/embeddings", embeddings, methods=["POST"]),
            ]
        )


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    rec = Recorder()
    with serve(rec.app()) as base:
        yield rec, base + "/v1"


def write_config(tmp_path: Path, upstream: str, mode: str) -> Path:
    cfg = {
        "home": str(tmp_path / "home"),
        "guardrails": {"enabled": False},
        "cache": {"enabled": False},
        "auth": {"allow_anonymous": True},  # as make_settings: these callers hold no key
        # Remote stand-ins for the embedded models, so the subprocess starts in seconds.
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
        "batch": {"poll_interval_s": 0.05, "lease_s": 1.0, "resume_in_flight": mode},
    }
    path = tmp_path / "lockgate.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def start(config: Path, port: int) -> subprocess.Popen[bytes]:
    # The home write_config names: on PostgreSQL its database, as the test's own services use.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **store_env(config.parent / "home")}
    return serve_process(config, port, env, timeout_s=60)


@pytest.mark.parametrize("mode", ["retry", "fail"])
def test_batch_survives_kill_9(tmp_path: Path, recorder: Any, mode: str) -> None:
    rec, upstream = recorder
    config = write_config(tmp_path, upstream, mode)
    port = free_port()
    proc = start(config, port)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        data = "\n".join(
            json.dumps(
                {
                    "custom_id": f"item-{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {
                        "model": "echo",
                        "max_tokens": 8,
                        "messages": [{"role": "user", "content": f"item-{i}"}],
                    },
                }
            )
            for i in range(N)
        )
        f = httpx.post(
            url + "/files", files={"file": ("in.jsonl", data.encode())}, data={"purpose": "batch"}
        ).json()
        batch = httpx.post(
            url + "/batches",
            json={
                "input_file_id": f["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
        ).json()
        assert rec.held.wait(30), "the worker never got to the held item"
        os.kill(proc.pid, signal.SIGKILL)  # mid-batch, with one item at the upstream
        proc.wait(10)
        rec.release.set()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sum(rec.calls.values()) == HOLD_AT
    in_flight = f"item-{HOLD_AT - 1}"

    port = free_port()
    proc = start(config, port)  # same store, new process
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 60
        while True:
            b = httpx.get(f"{url}/batches/{batch['id']}").json()
            if b["status"] == "completed":
                break
            assert time.monotonic() < deadline, b
            time.sleep(0.1)
        out = httpx.get(f"{url}/files/{b['output_file_id']}/content").text.splitlines()
        err = (
            httpx.get(f"{url}/files/{b['error_file_id']}/content").text.splitlines()
            if b["error_file_id"]
            else []
        )
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)

    results = [json.loads(x) for x in out + err]
    ids = Counter(r["custom_id"] for r in results)
    assert ids == Counter({f"item-{i}": 1 for i in range(N)})  # nothing lost, nothing twice
    for r in (json.loads(x) for x in out):
        assert r["response"]["body"]["choices"][0]["message"]["content"] == f"done {r['custom_id']}"
    # The completed items before the kill were never sent again, nor those after it.
    for i in range(N):
        cid = f"item-{i}"
        expected = 2 if (cid == in_flight and mode == "retry") else 1
        assert rec.calls[cid] == expected, (cid, rec.calls)
    if mode == "retry":
        assert len(out) == N and b["request_counts"]["completed"] == N
    else:
        assert len(out) == N - 1 and len(err) == 1
        assert json.loads(err[0])["custom_id"] == in_flight
        assert json.loads(err[0])["error"]["code"] == "interrupted"
