"""The serving process's garbage collector under wrk: `server.gc` variants side by side.

    .venv/bin/python bench/bench_gc.py [--pipeline passthrough|default] [--conns 64]
        [--seconds 8] [--rounds 2] [--variant NAME=ENV,ENV ...] [--json out.json]

One `lockgate serve` process at a time (the workers benchmark's configs and 50 ms stdlib
upstream), each variant in turn, the order reversed every other round. The gateway loads
bench/gcsite/sitecustomize.py, which counts each generation's collections and their CPU
time from inside the process (gc.callbacks), so what the collector costs per request is
read directly rather than guessed from the total. Default variants: `off` (no freeze,
Python's threshold 700: the behaviour before `server.gc`), `freeze-700` and `default`
(freeze, threshold 7,000).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _procstat as ps
from _common import BENCH, ROOT, machine, print_table, temp_home, write_json
from _serve import gateway, upstream, wrk
from bench_workers import Case, config_for

from tests.support.server import free_port

VARIANTS = [
    "off=LOCKGATE_SERVER__GC__FREEZE=false,LOCKGATE_SERVER__GC__YOUNG_THRESHOLD=700",
    "freeze-700=LOCKGATE_SERVER__GC__YOUNG_THRESHOLD=700",
    "default=",
]


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition("=")
    env = dict(pair.split("=", 1) for pair in rest.split(",") if pair)
    return name, env


def read_gc(folder: Path, pid: int) -> dict[str, list[float]]:
    path = folder / f"gc-{pid}.json"
    deadline = time.monotonic() + 10
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} was never written: is sitecustomize loaded?")
        time.sleep(0.2)
    stats: dict[str, list[float]] = json.loads(path.read_text())["stats"]
    return stats


def one(
    name: str, env: dict[str, str], home: Path, up: str, args: argparse.Namespace
) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="lockgate-gc-"))
    full = {
        **env,
        "LOCKGATE_BENCH_GC_DIR": str(out),
        "PYTHONPATH": os.pathsep.join([str(BENCH / "gcsite"), str(ROOT / "src"), str(ROOT)]),
    }
    config = config_for(Case("sqlite", args.pipeline, False), home, up, "unused", 0)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with gateway(config, port, 1, env=full) as proc:
        wrk(base, args.conns, 3)
        time.sleep(1.2)  # a fresh dump after the warm-up
        before, cpu0 = read_gc(out, proc.pid), ps.usage(proc.pid)
        r = wrk(base, args.conns, args.seconds)
        cpu = ps.usage(proc.pid) - cpu0
        time.sleep(1.2)
        after = read_gc(out, proc.pid)
    n = max(r["statuses"].get(200, 0), 1)
    row: dict[str, Any] = {
        "variant": name,
        "rps": r["rps"],
        "p50_ms": round(r["p50_us"] / 1000, 1),
        "p99_ms": round(r["p99_us"] / 1000, 1),
        "cpu_ms_per_request": round(1000 * cpu.cpu_s / n, 3),
        "loadavg": round(os.getloadavg()[0], 2),
    }
    total = 0.0
    for gen in ("0", "1", "2"):
        count = int(after[gen][0] - before[gen][0])
        ms = 1000 * (after[gen][2] - before[gen][2])
        row[f"gen{gen}_collections"] = count
        row[f"gen{gen}_cpu_ms_per_request"] = round(ms / n, 3)
        row[f"gen{gen}_cpu_ms_each"] = round(ms / count, 2) if count else 0.0
        total += ms
    row["gc_cpu_ms_per_request"] = round(total / n, 3)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipeline", default="passthrough", choices=("passthrough", "default"))
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    variants = [parse_variant(v) for v in (args.variant or VARIANTS)]
    rows: list[dict[str, Any]] = []
    with temp_home("lockgate-gc-") as root, upstream(free_port(), args.delay_ms) as up:
        for rnd in range(args.rounds):
            for name, env in variants if rnd % 2 == 0 else variants[::-1]:
                home = root / f"{rnd}-{name}"
                home.mkdir()
                row = one(name, env, home, up, args)
                row["round"] = rnd + 1
                rows.append(row)
                print(f"  {name} round {rnd + 1}: {row['rps']} req/s", flush=True)
    print_table(
        f"GC of one lockgate serve process, {args.pipeline}, {args.conns} connections, "
        f"50 ms upstream (CPU ms per 200 response)",
        [
            "variant",
            "round",
            "req/s",
            "p50 ms",
            "p99 ms",
            "gateway CPU",
            "GC CPU",
            "gen0 n",
            "gen1 n",
            "gen2 n",
            "gen2 ms each",
            "gen2 per req",
            "load",
        ],
        [
            [
                r["variant"],
                r["round"],
                r["rps"],
                r["p50_ms"],
                r["p99_ms"],
                r["cpu_ms_per_request"],
                r["gc_cpu_ms_per_request"],
                r["gen0_collections"],
                r["gen1_collections"],
                r["gen2_collections"],
                r["gen2_cpu_ms_each"],
                r["gen2_cpu_ms_per_request"],
                r["loadavg"],
            ]
            for r in sorted(rows, key=lambda r: (r["variant"], r["round"]))
        ],
    )
    write_json(args.json, {"machine": machine(), "args": vars(args), "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
