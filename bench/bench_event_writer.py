"""Traces off the request path, A/B under wrk: this tree against another (a worktree of main).

    .venv/bin/python bench/bench_event_writer.py --base /path/to/main-worktree
        [--conns 64] [--duration 8] [--rounds 2] [--warmup 25] [--json out.json]
        [--this-env LOCKGATE_EVENTS__FLUSH_INTERVAL_S=0] [--base-env ...]

One stdlib-asyncio upstream (`bench/stdlib_upstream.py`, answers at once) and, from each tree,
two gateways (`bench_gateway.py --serve gateway`: anonymous, rate limit at 10^8 rpm, every
trace written to SQLite), one with the pass-through pipeline `[validate, call_model]`, one
with the default pipeline (guardrails and cache on). wrk (one thread, `bench/wrk_unique.lua`:
unique bodies, so the cache never hits) loads one gateway at a time, alternating base and
this tree within each round, after a warm-up of each (a default gateway loads its scanner
models in the first ~20 s). Per run: req/s, p50/p99, errors, and the CPU milliseconds per
request of the gateway process (utime+stime from /proc, read 1.5 s after wrk stopped so that
writes it deferred are counted). At the end, the traces each store holds against the
requests wrk completed: nothing may be missing."""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, print_table, write_json

try:
    from tests.support.server import free_port
except ModuleNotFoundError:  # pragma: no cover
    sys.path.insert(0, str(ROOT))
    from tests.support.server import free_port

CLK_TCK = os.sysconf("SC_CLK_TCK")
LIMITS = '[{"per":["key"],"rpm":100000000}]'
PIPELINES = {"pass-through": '["validate","call_model"]', "default": None}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url + "/healthz", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def gateway(
    tree: Path, pipeline: str | None, upstream: str, work: Path, name: str, extra: list[str]
) -> dict:
    port = free_port()
    home = work / name
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    env.update(PYTHONPATH=f"{tree / 'src'}:{tree}", LOCKGATE_LIMITS__RULES=LIMITS)
    env.update(item.split("=", 1) for item in extra)
    if pipeline is not None:
        env["LOCKGATE_PIPELINE"] = pipeline
    log = work / f"{name}.log"
    cmd = [
        sys.executable,
        str(tree / "bench" / "bench_gateway.py"),
        "--serve",
        "gateway",
        "--port",
        str(port),
        "--home",
        str(home),
        "--upstream",
        upstream,
        "--latencies",
        "0",
    ]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_up(url, proc, log)
    return {"name": name, "url": url, "proc": proc, "home": home, "completed": 0}


def wrk(url: str, conns: int, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(ROOT / "bench" / "wrk_unique.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float | None:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if found is None:
            return None
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return float(found.group(1)) * scale

    done = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": int(done.group(1)) if done else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


def measure(gw: dict, conns: int, seconds: int) -> dict[str, Any]:
    pid = gw["proc"].pid
    before = cpu_seconds(pid)
    result = wrk(gw["url"], conns, seconds)
    time.sleep(1.5)  # the event writer's deferred writes belong to this run
    used = cpu_seconds(pid) - before
    gw["completed"] += result["requests"]
    result["cpu_ms_per_request"] = used * 1000 / max(1, result["requests"])
    return result


def traces_in(home: Path) -> int:
    with sqlite3.connect(home / "lockgate.db") as conn:
        return int(conn.execute("SELECT count(*) FROM traces").fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, type=Path, help="the other tree (main)")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=25, help="seconds of load before measuring")
    ap.add_argument("--pipelines", default="pass-through,default")
    ap.add_argument(
        "--base-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the base gateways (repeatable)",
    )
    ap.add_argument(
        "--this-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for this tree's gateways (repeatable)",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    extra = {"base": args.base_env, "this": args.this_env}
    trees = {"base": args.base.resolve(), "this": ROOT}
    pipelines = args.pipelines.split(",")
    work = Path(tempfile.mkdtemp(prefix="lockgate-bench-events-"))
    up_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "stdlib_upstream.py"), str(up_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gateways: dict[tuple[str, str], dict] = {}
    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    try:
        time.sleep(0.5)
        for pipe in pipelines:
            for side, tree in trees.items():
                gateways[(pipe, side)] = gateway(
                    tree,
                    PIPELINES[pipe],
                    f"http://127.0.0.1:{up_port}",
                    work,
                    f"{side}-{pipe}",
                    extra[side],
                )
        for (pipe, _side), gw in gateways.items():
            warm = args.warmup if pipe == "default" else min(args.warmup, 5)
            gw["completed"] += wrk(gw["url"], args.conns, warm)["requests"]
        for rnd in range(1, args.rounds + 1):
            for pipe in pipelines:
                order = ["base", "this"] if rnd % 2 else ["this", "base"]
                got = {
                    side: measure(gateways[(pipe, side)], args.conns, args.duration)
                    for side in order
                }
                b, t = got["base"], got["this"]
                results.append({"round": rnd, "pipeline": pipe, "base": b, "this": t})
                rows.append(
                    [
                        f"{rnd} {pipe}",
                        b["rps"],
                        t["rps"],
                        t["rps"] / max(b["rps"], 1e-9),
                        b["cpu_ms_per_request"],
                        t["cpu_ms_per_request"],
                        t["cpu_ms_per_request"] / max(b["cpu_ms_per_request"], 1e-9),
                        f"{b['p50_ms']:.0f} / {b['p99_ms']:.0f}",
                        f"{t['p50_ms']:.0f} / {t['p99_ms']:.0f}",
                        f"{b['non2xx'] + b['socket_errors']} / {t['non2xx'] + t['socket_errors']}",
                    ]
                )
    finally:
        for gw in gateways.values():
            gw["proc"].terminate()
        for gw in gateways.values():
            gw["proc"].wait(60)
        upstream.terminate()
    print_table(
        f"wrk -t1 -c{args.conns} -d{args.duration}s, unique bodies, stdlib upstream "
        f"(load average {os.getloadavg()[0]:.1f})",
        [
            "round",
            "base req/s",
            "this req/s",
            "this/base",
            "base CPU ms/req",
            "this CPU ms/req",
            "CPU this/base",
            "base p50 / p99 ms",
            "this p50 / p99 ms",
            "errors base / this",
        ],
        rows,
    )
    stored = []
    for (pipe, side), gw in gateways.items():
        stored.append([f"{side} {pipe}", gw["completed"], traces_in(gw["home"])])
    print_table(
        "traces in each store after a graceful stop (completed: what wrk counted)",
        ["gateway", "completed", "traces"],
        stored,
    )
    write_json(
        args.json,
        {
            "conns": args.conns,
            "duration_s": args.duration,
            "runs": results,
            "stored": stored,
            "env": extra,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
