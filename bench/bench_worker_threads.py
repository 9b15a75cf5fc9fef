"""Where a gateway worker's CPU goes, thread by thread: its event loop (the main thread)
against the rest (the event writer, and whatever else runs beside the loop), one process
against two, pass-through pipeline under wrk over the 50 ms stdlib upstream.

    PYTHONPATH=src:. .venv/bin/python bench/bench_worker_threads.py [--conns 64] [--seconds 8]
        [--set events.flush_interval_s=0.02 ...] [--json out.json]

`--set KEY=VALUE` (dotted, YAML value) changes the gateway's config, e.g. to compare event
writer intervals; run it once per variant, one after the other on a quiet box. CPU is
utime + stime of each thread from /proc/PID/task, per request answered with 200.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import machine, print_table, write_json
from _procstat import CLK_TCK
from _serve import gateway, passthrough_config, upstream_process, wrk
from bench_workers import workers_of

from tests.support.server import free_port


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each live thread of `pid`."""
    out: dict[int, float] = {}
    for task in os.scandir(f"/proc/{pid}/task"):
        try:
            fields = Path(task.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def apply(config: Path, settings: list[str]) -> None:
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    for item in settings:
        key, _, value = item.partition("=")
        node = cfg
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")


def run(workers: int, up_url: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    home = root / f"w{workers}"
    home.mkdir()
    config = passthrough_config(home, up_url)
    apply(config, args.set)
    port = free_port()
    with gateway(config, port, workers) as proc:
        pids = workers_of(proc, workers)
        base = f"http://127.0.0.1:{port}"
        wrk(base, args.conns, 3)
        time.sleep(1)
        before = {pid: thread_cpu(pid) for pid in pids}
        r = wrk(base, args.conns, args.seconds)
        after = {pid: thread_cpu(pid) for pid in pids}
    ok = r["statuses"].get(200, 0) or 1
    loop = other = 0.0
    for pid in pids:
        for tid, cpu in after[pid].items():
            spent = cpu - before[pid].get(tid, 0.0)
            if tid == pid:
                loop += spent
            else:
                other += spent
    return {
        "workers": workers,
        "conns": args.conns,
        "rps": round(r["rps"], 1),
        "p50_ms": round(r["p50_us"] / 1000, 1),
        "p99_ms": round(r["p99_us"] / 1000, 1),
        "loop_ms_per_request": round(loop * 1000 / ok, 3),
        "other_threads_ms_per_request": round(other * 1000 / ok, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE of the config")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="lockgate-threads-") as tmp,
        upstream_process(free_port(), args.delay_ms) as (up_url, _),
    ):
        results = [run(n, up_url, Path(tmp), args) for n in (1, 2)]
    print_table(
        f"CPU-ms per request by thread, pass-through, {args.conns} connections, "
        f"config {args.set or 'default'}",
        ["workers", "req/s", "p50 ms", "p99 ms", "event loop", "other threads", "total"],
        [
            [
                r["workers"],
                r["rps"],
                r["p50_ms"],
                r["p99_ms"],
                r["loop_ms_per_request"],
                r["other_threads_ms_per_request"],
                round(r["loop_ms_per_request"] + r["other_threads_ms_per_request"], 3),
            ]
            for r in results
        ],
    )
    write_json(args.json, {"machine": machine(), "args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
