"""What authentication, audit and encryption at rest add to a request, side by side.

    .venv/bin/python bench/bench_security.py [--requests 300] [--json out.json]

Two gateways run in their own processes on loopback, in front of one fake upstream (the
same stdlib-served fake as bench_gateway.py, answering at once), with the same settings
except for security:

* `off`: anonymous callers, no audit log, no encryption at rest;
* `on`: an API key on every request (checked against the key store), the audit log
  (document access, auth events) and AES-GCM encryption of traces and cache entries.

One client sends the same sequence to both, alternating request by request (so machine
noise hits both alike), at concurrency 1: first pass-through requests with a unique message
each (cache misses: a trace and, when on, its encryption and audit per request), then one
repeated message (cache hits: the lookup decrypts the stored answer). The table shows the
client-side p50/p95 and the difference `on - off`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, print_table, summary_ms, temp_home, write_json

sys.path.insert(0, str(ROOT))

from bench_gateway import spawn  # noqa: E402  (the same child-process helpers)

from tests.support.server import free_port  # noqa: E402

TARGET_HIT_MS = 1.0
TARGET_MISS_MS = 2.0


def gateway_app(home: Path, upstream: str, secure: bool) -> Any:
    from lockgate.config import ModelSpec, Settings
    from lockgate.gateway.app import create_app
    from lockgate.services import Services

    models = dict(Settings(home=home).models)
    models["fast"] = ModelSpec(backend="openai", base_url=upstream + "/v1", context_window=8192)
    extra: dict[str, Any] = {
        "auth": {"allow_anonymous": not secure},
        "audit": {"enabled": secure and os.environ.get("BENCH_AUDIT", "1") == "1"},
        "encryption": {"enabled": secure},
        "cache": {"enabled": True, "passthrough": True, "semantic_passthrough": False},
    }
    settings = Settings(home=home, models=models, **extra)  # type: ignore[arg-type]
    return create_app(Services(settings), preload_models=False)


def make_key(home: Path) -> str:
    from lockgate.config import Settings
    from lockgate.services import Services

    services = Services(Settings(home=home))  # type: ignore[call-arg]
    _record, key = services.api_keys.create(name="bench", tenant="default", roles=["app"])
    return key


def serve_child(args: argparse.Namespace) -> int:
    import uvicorn
    from bench_gateway import upstream_app

    if args.serve == "upstream":
        app = upstream_app()
    else:
        app = gateway_app(Path(args.home), args.upstream, args.secure == "on")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


def body(text: str) -> dict[str, Any]:
    return {"model": "fast", "max_tokens": 16, "messages": [{"role": "user", "content": text}]}


def run(n: int) -> dict[str, Any]:
    with temp_home() as tmp:
        up_port = free_port()
        me = Path(__file__)
        procs = [spawn("upstream", up_port, [], tmp / "upstream.log", me)]
        up = f"http://127.0.0.1:{up_port}"
        urls: dict[str, str] = {}
        headers: dict[str, dict[str, str]] = {"off": {}, "on": {}}
        try:
            for side in ("off", "on"):
                home = tmp / side
                home.mkdir()
                if side == "on":
                    headers["on"] = {"authorization": f"Bearer {make_key(home)}"}
                port = free_port()
                args = ["--home", str(home), "--upstream", up, "--secure", side]
                procs.append(spawn("gateway", port, args, tmp / f"{side}.log", me))
                urls[side] = f"http://127.0.0.1:{port}/v1/chat/completions"
            times: dict[str, dict[str, list[float]]] = {
                kind: {"off": [], "on": []} for kind in ("miss", "hit")
            }
            counter = itertools.count()
            with httpx.Client(timeout=60) as client:
                for side in ("off", "on"):  # warm-up: connections, code paths, the hit entry
                    for _ in range(20):
                        r = client.post(urls[side], json=body(f"warm {next(counter)}"),
                                        headers=headers[side])
                        r.raise_for_status()
                    client.post(urls[side], json=body("the repeated question"),
                                headers=headers[side]).raise_for_status()
                for kind in ("miss", "hit"):
                    for i in range(n):
                        for side in (("off", "on") if i % 2 else ("on", "off")):
                            text = f"question {next(counter)}" if kind == "miss" else (
                                "the repeated question")
                            t0 = time.perf_counter()
                            r = client.post(urls[side], json=body(text), headers=headers[side])
                            times[kind][side].append(time.perf_counter() - t0)
                            r.raise_for_status()
                            if kind == "hit":
                                assert r.json()["lockgate"].get("cache", {}).get("hit"), r.text
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=10)
    out: dict[str, Any] = {"requests": n, "rows": []}
    for kind, target in (("hit", TARGET_HIT_MS), ("miss", TARGET_MISS_MS)):
        off, on = summary_ms(times[kind]["off"]), summary_ms(times[kind]["on"])
        added = round(on["p50_ms"] - off["p50_ms"], 3)
        out["rows"].append({"kind": kind, "off": off, "on": on, "added_p50_ms": added,
                            "target_ms": target, "met": added <= target})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--json", default=None)
    ap.add_argument("--serve", choices=["upstream", "gateway"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--upstream", help=argparse.SUPPRESS)
    ap.add_argument("--secure", choices=["on", "off"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        sys.exit(serve_child(args))
    out = run(args.requests)
    print_table(
        "security on vs off, concurrency 1 (client-side latency, ms)",
        ["request", "off p50", "on p50", "off p95", "on p95", "added p50", "target", "met"],
        [[r["kind"], r["off"]["p50_ms"], r["on"]["p50_ms"], r["off"]["p95_ms"],
          r["on"]["p95_ms"], r["added_p50_ms"], f"<= {r['target_ms']}", r["met"]]
         for r in out["rows"]],
    )
    write_json(args.json, out)


if __name__ == "__main__":
    main()
