"""How much work two busy processes get out of this machine's two cores, against one.

    python3 bench/bench_cpu_scaling.py [--seconds 6] [--rounds 3] [--json out.json]

The gateway's "two processes ≥ 1.7x one" target assumes the second core is a whole core.
On a virtual machine it may not be: two vCPUs can share a physical core's pipeline or
caches on the host, and then two processes pay more CPU per unit of work than one, with
no code of ours involved. This measures that directly, with no gateway, no network and
no other process: a fixed piece of work repeated for a fixed time, by one process alone
and then by two at once (one per core), the order alternated round by round. Reported
per workload: operations per second of the whole, the ratio two/one, and the CPU time
per operation in each case (a rise means each process got less done per CPU second).

Workloads: `python` (what an event-loop gateway does per request: JSON in and out, dicts,
strings, small objects: interpreter-bound), `sha256` (a C loop over a buffer that stays
in L1/L2: arithmetic-bound) and `copy` (copies of a 32 MiB buffer: memory-bound).
Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You answer from the documents only."},
        {"role": "user", "content": "What is the refund window for annual plans? " * 3},
    ],
    "temperature": 0.2,
    "max_tokens": 256,
    "user": "alice@example.com",
}


def _python_op() -> None:
    body = json.dumps(_REQUEST).encode()
    req = json.loads(body)
    headers = {f"x-header-{i}": f"value-{i}" for i in range(12)}
    text = " ".join(m["content"] for m in req["messages"]).lower()
    words = [w.strip(".,?") for w in text.split()]
    counts: dict[str, int] = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    reply = {
        "id": f"chatcmpl-{len(words)}",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text[:200]},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": len(words), "completion_tokens": 40},
        "headers": headers,
        "top": sorted(counts.items(), key=lambda kv: -kv[1])[:5],
    }
    json.dumps(reply)


_BUF = os.urandom(256 * 1024)


def _sha_op() -> None:
    hashlib.sha256(_BUF).digest()


_BIG = bytearray(32 * 1024 * 1024)


def _copy_op() -> None:
    bytes(_BIG)


WORKLOADS: dict[str, Callable[[], None]] = {
    "python": _python_op,
    "sha256": _sha_op,
    "copy": _copy_op,
}


def _worker(name: str, core: int | None, seconds: float, start: Any, out: Any) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    op = WORKLOADS[name]
    for _ in range(20):
        op()
    start.wait()
    n = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    end = t0 + seconds
    while True:
        for _ in range(10):
            op()
        n += 10
        if time.perf_counter() >= end:
            break
    out.put((n, time.process_time() - cpu0, time.perf_counter() - t0))


def run(name: str, procs: int, seconds: float) -> dict[str, float]:
    ctx = mp.get_context("fork")
    start = ctx.Barrier(procs + 1)
    out = ctx.Queue()
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    workers = [
        ctx.Process(
            target=_worker,
            args=(name, cores[i % len(cores)] if cores else None, seconds, start, out),
        )
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    start.wait()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    ops = sum(r[0] for r in results)
    wall = max(r[2] for r in results)
    cpu = sum(r[1] for r in results)
    return {
        "ops_per_s": ops / wall,
        "cpu_us_per_op": cpu / ops * 1e6,
        "cpu_share": cpu / wall / procs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    load0 = os.getloadavg()
    for rnd in range(1, args.rounds + 1):
        for name in args.workloads.split(","):
            order = (1, 2) if rnd % 2 else (2, 1)
            got = {p: run(name, p, args.seconds) for p in order}
            one, two = got[1], got[2]
            rows.append(
                {
                    "round": rnd,
                    "workload": name,
                    "one_ops_s": one["ops_per_s"],
                    "two_ops_s": two["ops_per_s"],
                    "ratio": two["ops_per_s"] / one["ops_per_s"],
                    "one_cpu_us": one["cpu_us_per_op"],
                    "two_cpu_us": two["cpu_us_per_op"],
                    "cpu_per_op_rise": two["cpu_us_per_op"] / one["cpu_us_per_op"],
                    "two_cpu_share": two["cpu_share"],
                }
            )
    head = [
        "round",
        "workload",
        "1 proc ops/s",
        "2 procs ops/s",
        "x 1",
        "CPU-us/op 1",
        "CPU-us/op 2",
        "CPU/op rise",
        "core share (2)",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(
            f"| {r['round']} | {r['workload']} | {r['one_ops_s']:,.0f} | {r['two_ops_s']:,.0f}"
            f" | {r['ratio']:.2f} | {r['one_cpu_us']:.1f} | {r['two_cpu_us']:.1f}"
            f" | {r['cpu_per_op_rise']:.2f} | {r['two_cpu_share']:.2f} |"
        )
    info = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_start": load0,
        "load_end": os.getloadavg(),
        "python": platform.python_version(),
    }
    print(f"machine: {info}")
    if args.json:
        args.json.write_text(json.dumps({"info": info, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
