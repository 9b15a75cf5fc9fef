"""Processes: `lockgate serve --workers 1` against `--workers 2`, side by side in one run.

    .venv/bin/python bench/bench_workers.py [--workers 1,2] [--conns 8,64] [--seconds 10]
        [--delay-ms 50] [--json out.json]

The pass-through pipeline `[validate, call_model]` in front of a stdlib asyncio upstream
that answers after `--delay-ms`, driven by wrk with unique bodies (bench/wrk_overload.lua)
for `--seconds` per connection count after a warm-up. Reported: req/s, latency percentiles,
non-200 responses and socket errors, and the CPU-ms per request of the whole gateway
process tree (parent and workers, from /proc), which does not depend on how busy the box
is. wrk, the upstream and the gateway share the machine's cores: on a 2-core box the
second process competes with them, so the speed-up there is bounded well below 2x.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from _common import machine, print_table, temp_home, write_json
from _serve import cpu_s, gateway, passthrough_config, tree, upstream, wrk

from tests.support.server import free_port


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--conns", default="8,64")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    conns = [int(c) for c in args.conns.split(",")]
    results: list[dict[str, Any]] = []
    with temp_home("lockgate-workers-") as root, upstream(free_port(), args.delay_ms) as up:
        for n in counts:
            (root / f"w{n}").mkdir()
            config = passthrough_config(root / f"w{n}", up)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with gateway(config, port, n) as proc:
                wrk(base, max(conns), 3)  # warm-up: every worker's connections and pools
                for c in conns:
                    pids = tree(proc.pid)
                    cpu0 = cpu_s(pids)
                    r = wrk(base, c, args.seconds)
                    used = cpu_s(tree(proc.pid)) - cpu0
                    ok = r["statuses"].get(200, 0)
                    r.update(
                        workers=n, conns=c, cpu_ms_per_request=round(1000 * used / max(ok, 1), 2)
                    )
                    results.append(r)
    by = {(r["workers"], r["conns"]): r for r in results}
    rows = []
    for r in results:
        one = by.get((counts[0], r["conns"]))
        ratio = round(r["rps"] / one["rps"], 2) if one and one["rps"] else None
        errs = sum(v for k, v in r["statuses"].items() if k != 200) + sum(
            r["socket_errors"].values()
        )
        rows.append(
            [
                r["workers"],
                r["conns"],
                r["rps"],
                ratio,
                round(r["p50_us"] / 1000, 1),
                round(r["p99_us"] / 1000, 1),
                errs,
                r["cpu_ms_per_request"],
            ]
        )
    print_table(
        f"lockgate serve --workers N, pass-through, upstream {args.delay_ms} ms, "
        f"{os.cpu_count()} cores shared with wrk and the upstream",
        [
            "workers",
            "conns",
            "req/s",
            f"x {counts[0]} worker",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU-ms/req",
        ],
        rows,
    )
    write_json(args.json, {"machine": machine(), "args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
