"""Overload: what a gateway does with more connections than it can serve.

    .venv/bin/python bench/bench_overload.py [--conns 256] [--seconds 30] [--delay-ms 50]
        [--json out.json]

A real `lockgate serve` (pass-through pipeline `[validate, call_model]`, one process) in
front of a stdlib asyncio upstream that answers after `--delay-ms`, driven by wrk with
unique bodies (bench/wrk_overload.lua) at `--conns` connections for `--seconds`, after a
warm-up. Two configurations side by side in one run:

* `admission` — the defaults: at most `server.max_inflight` requests in flight, a request
  waits at most `server.queue_wait_s` for a place, then 503 `overloaded` + Retry-After;
* `inflight=N` — the defaults with `server.max_inflight` N;
* `queueing` — admission out of the way (`max_inflight` 100000, the CPU gate's wait 10 s),
  the behaviour before it: every request is taken in and waits.

Reported per configuration: responses by status, how many took longer than 10 s (wrk's
latency histogram, all responses), req/s, wrk's latency percentiles (all responses), the
p50/p99 of successful responses seen by a probe that sends one request every 100 ms during
the run on its own connection, and the gateway's RSS before and after (flat means the
waiting requests are not piling up in memory).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _common import machine, print_table, summary_ms, temp_home, write_json
from _serve import gateway, passthrough_config, rss_mb, tree, upstream, wrk

from tests.support.server import free_port

CONFIGS: dict[str, dict[str, str]] = {
    "admission": {},
    "queueing": {
        "LOCKGATE_SERVER__MAX_INFLIGHT": "100000",
        "LOCKGATE_SERVER__CPU__MAX_WAIT_S": "10",
    },
}


def env_of(name: str) -> dict[str, str]:
    """A named configuration, or `inflight=N`: the defaults with `max_inflight` N."""
    if name.startswith("inflight="):
        return {"LOCKGATE_SERVER__MAX_INFLIGHT": name.split("=", 1)[1]}
    return CONFIGS[name]


def probe(base: str, stop: threading.Event, out: list[tuple[int, float]]) -> None:
    body = {"model": "delay-0", "messages": [{"role": "user", "content": "probe"}]}
    with httpx.Client(timeout=60) as client:
        i = 0
        while not stop.is_set():
            i += 1
            body["messages"][0]["content"] = f"probe {i}"
            t0 = time.perf_counter()
            try:
                status = client.post(base + "/v1/chat/completions", json=body).status_code
            except httpx.HTTPError:
                status = 0
            out.append((status, time.perf_counter() - t0))
            stop.wait(0.1)


def run_one(name: str, root: Path, up: str, conns: int, seconds: int) -> dict[str, Any]:
    (root / name.replace("=", "-")).mkdir()
    config = passthrough_config(root / name.replace("=", "-"), up)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with gateway(config, port, 1, env_of(name)) as proc:
        wrk(base, 8, 3)  # warm-up
        pids = tree(proc.pid)
        rss_before = rss_mb(pids)
        stop, seen = threading.Event(), []  # type: ignore[var-annotated]
        t = threading.Thread(target=probe, args=(base, stop, seen), daemon=True)
        t.start()
        result = wrk(base, conns, seconds)
        stop.set()
        t.join(70)
        rss_after = rss_mb(tree(proc.pid))
    ok = [s for code, s in seen if code == 200]
    result.update(
        config=name,
        rss_before_mb=rss_before,
        rss_after_mb=rss_after,
        probe={
            "sent": len(seen),
            "ok": len(ok),
            "shed": sum(1 for c, _ in seen if c == 503),
            **summary_ms(ok),
        },
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conns", type=int, default=256)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--configs", default="admission,queueing")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    results = []
    with temp_home("lockgate-overload-") as root, upstream(free_port(), args.delay_ms) as up:
        for name in args.configs.split(","):
            results.append(run_one(name, root, up, args.conns, args.seconds))
    rows = []
    for r in results:
        st = r["statuses"]
        rows.append(
            [
                r["config"],
                r["requests"],
                st.get(200, 0),
                st.get(503, 0),
                sum(v for k, v in st.items() if k not in (200, 503)),
                r["socket_errors"]["timeout"],
                r["over_limit"],
                r["rps"],
                round(r["p50_us"] / 1000),
                round(r["p99_us"] / 1000),
                round(r["max_us"] / 1000),
                r["probe"]["p50_ms"],
                r["probe"]["p99_ms"],
                f"{r['probe']['ok']}/{r['probe']['sent']}",
                r["rss_before_mb"],
                r["rss_after_mb"],
            ]
        )
    print_table(
        f"overload: {args.conns} connections, {args.seconds} s, upstream {args.delay_ms} ms",
        [
            "config",
            "responses",
            "200",
            "503",
            "other",
            "timeouts",
            "> 10 s",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "ok p50 ms",
            "ok p99 ms",
            "probe ok",
            "RSS MB before",
            "RSS MB after",
        ],
        rows,
    )
    write_json(args.json, {"machine": machine(), "args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
