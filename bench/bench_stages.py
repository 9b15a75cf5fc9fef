"""Where a pass-through request spends its time, stage by stage, from the traces' own timings.

    .venv/bin/python bench/bench_stages.py [--requests 80] [--json out.json]

One process: a stdlib-fast fake upstream on a uvicorn thread, the gateway (security off, the
same settings as `bench_security.py`'s `off` side) called in process through httpx's ASGI
transport, one unique message per request (cache misses). The table gives each stage's
median of its own time as the trace records it, and the median whole-turn latency. Run it
from a worktree of another commit (`PYTHONPATH=src`) to compare two versions stage by stage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))
from _common import print_table, temp_home, write_json  # noqa: E402
from bench_gateway import upstream_app  # noqa: E402
from bench_security import gateway_app  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_upstream() -> str:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(upstream_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


async def _send(app: Any, n: int) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        for i in range(n):
            body = {
                "model": "fast",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": f"question {i}"}],
            }
            resp = await client.post("/v1/chat/completions", json=body)
            resp.raise_for_status()


def run(n: int) -> dict[str, Any]:
    upstream = _start_upstream()
    with temp_home() as home:
        app = gateway_app(home, upstream, secure=False)
        asyncio.run(_send(app, n + 10))
        services = app.state.services
        rows = services.traces.list(n)
        traces = [services.traces.get(r["id"]) for r in rows]
    stages: dict[str, list[float]] = {}
    for trace in traces:
        found = trace["stages"] if trace else []
        for item in json.loads(found) if isinstance(found, str) else found:
            stages.setdefault(str(item["stage"]), []).append(float(item["ms"]))
    latency = statistics.median(float(t["latency_ms"]) for t in traces if t)
    return {
        "requests": len(traces),
        "latency_ms_p50": latency,
        "stages_ms_p50": {k: statistics.median(v) for k, v in stages.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = run(args.requests)
    ordered = sorted(result["stages_ms_p50"].items(), key=lambda kv: -kv[1])
    rows = [(name, f"{ms:.2f}") for name, ms in ordered]
    rows.append(("whole turn", f"{result['latency_ms_p50']:.2f}"))
    print_table("pass-through miss, median ms per stage", ["stage", "p50 ms"], rows)
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
