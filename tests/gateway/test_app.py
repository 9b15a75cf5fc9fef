"""A real `lockgate serve` process stopped with SIGTERM writes every trace it accepted before
it exits: its event writer is told to let batches fill for 10 s, so the traces are still
queued when the signal comes, and only the lifespan's shutdown flush can write them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import httpx
import yaml
from sqlalchemy import select

from lockgate.config import Settings
from lockgate.store import tables as tb
from lockgate.store.db import make_engine
from tests.support.server import free_port, serve_process
from tests.support.store import store_env

ROOT = Path(__file__).resolve().parents[2]
N = 40


def write_config(tmp_path: Path, upstream: str) -> Path:
    cfg = {
        "home": str(tmp_path / "home"),
        "guardrails": {"enabled": False},
        "cache": {"enabled": False},
        "auth": {"allow_anonymous": True},
        # Remote stand-ins for the embedded models, so the subprocess starts in seconds.
        "embeddings": {"backend": "openai", "base_url": upstream, "upstream_model": "e"},
        "grounded": {"model": "echo"},
        "models": {
            "gemma-3-270m": None,
            "echo": {"backend": "openai", "base_url": upstream, "resilience": {"retries": 0}},
        },
        "limits": {"rules": [{"per": ["key"], "rpm": 100_000_000}]},
        "events": {"flush_interval_s": 10, "max_batch": 10_000},
    }
    path = tmp_path / "lockgate.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def start(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    env.update(store_env(config.parent / "home"))  # the home write_config names
    return serve_process(config, port, env, timeout_s=90)


async def send(base: str) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one(i: int) -> str:
            body = {"model": "echo", "messages": [{"role": "user", "content": f"hello {i}"}]}
            resp = await client.post("/v1/chat/completions", json=body)
            assert resp.status_code == 200, resp.text
            return resp.headers["x-lockgate-trace-id"]

        return list(await asyncio.gather(*(one(i) for i in range(N))))


def stored_ids(home: Path) -> set[str]:
    # The child's store, SQLite file or PostgreSQL database (tests/support/store.py).
    engine = make_engine(Settings(home=home).store_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(tb.traces.c.id)).scalars())
    finally:
        engine.dispose()


def test_sigterm_writes_every_trace_the_gateway_accepted(
    tmp_path: Path, fake_upstream: str
) -> None:
    config = write_config(tmp_path, fake_upstream)
    port = free_port()
    proc = start(config, port)
    try:
        ids: list[str] = []
        queued: set[str] = set()
        # The writer's timer may have started with an earlier event (start-up) and fired
        # just after the requests; then a new round starts a fresh 10 s window.
        for _ in range(3):
            ids += asyncio.run(send(f"http://127.0.0.1:{port}"))
            queued = set(ids) - stored_ids(tmp_path / "home")
            if queued:
                break
        proc.send_signal(signal.SIGTERM)
        # uvicorn finishes its shutdown, then re-raises the signal it caught.
        code = proc.wait(60)
        assert code in (0, -signal.SIGTERM), proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(set(ids)) == len(ids) and len(ids) % N == 0
    assert queued  # the signal found traces still queued, so the flush is what wrote them
    assert set(ids) <= stored_ids(tmp_path / "home")
