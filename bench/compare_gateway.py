"""Compare bench_gateway.py results of two code versions run side by side (alternating runs
on the same machine), for example the commit before a refactor (a `git worktree` of it) and
HEAD:

    .venv/bin/python bench/compare_gateway.py --a old-1.json old-2.json --b new-1.json new-2.json
        [--json out.json]

Both sides must come from the same version of bench_gateway.py's method (wrk since it
switched to it; older files were driven by an httpx client and measured differently).
Per scenario it prints the gateway's CPU milliseconds per request and the latency it adds
(p50, p99) for each run, and the ratio of B's mean CPU to A's.
"""

from __future__ import annotations

import argparse
import json
from statistics import mean
from typing import Any

from _common import print_table, write_json


def _key(s: dict[str, Any]) -> tuple[int, int, str]:
    return (s["concurrency"], s["latency_ms"], s["mode"])


def _load(paths: list[str]) -> list[dict[tuple[int, int, str], dict[str, Any]]]:
    return [{_key(s): s for s in json.load(open(p))["scenarios"]} for p in paths]


def compare(a_paths: list[str], b_paths: list[str]) -> dict[str, Any]:
    a_runs, b_runs = _load(a_paths), _load(b_paths)
    rows = []
    for key in sorted(a_runs[0]):
        a = [r[key] for r in a_runs if key in r]
        b = [r[key] for r in b_runs if key in r]
        cpu_a = [s["gateway"]["cpu_ms_per_request"]["gateway"] for s in a]
        cpu_b = [s["gateway"]["cpu_ms_per_request"]["gateway"] for s in b]
        rows.append(
            {
                "concurrency": key[0],
                "latency_ms": key[1],
                "mode": key[2],
                "cpu_ms_a": cpu_a,
                "cpu_ms_b": cpu_b,
                "cpu_ratio_b_over_a": round(mean(cpu_b) / mean(cpu_a), 3),
                "added_p50_a": [s["added_ms"]["p50_ms"] for s in a],
                "added_p50_b": [s["added_ms"]["p50_ms"] for s in b],
                "added_p99_a": [s["added_ms"]["p99_ms"] for s in a],
                "added_p99_b": [s["added_ms"]["p99_ms"] for s in b],
                "rps_a": [s["gateway"]["rps"] for s in a],
                "rps_b": [s["gateway"]["rps"] for s in b],
            }
        )
    return {"a": a_paths, "b": b_paths, "rows": rows}


def _fmt(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", nargs="+", required=True, help="bench_gateway JSON files of A")
    ap.add_argument("--b", nargs="+", required=True, help="bench_gateway JSON files of B")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    out = compare(args.a, args.b)
    print_table(
        "gateway CPU per request and added latency, A vs B (one value per run)",
        [
            "scenario",
            "CPU ms/req A",
            "CPU ms/req B",
            "B/A",
            "added p50 A",
            "added p50 B",
            "added p99 A",
            "added p99 B",
            "req/s A",
            "req/s B",
        ],
        [
            [
                f"c{r['concurrency']} {r['latency_ms']}ms {r['mode']}",
                _fmt(r["cpu_ms_a"]),
                _fmt(r["cpu_ms_b"]),
                f"{r['cpu_ratio_b_over_a']:.2f}",
                _fmt(r["added_p50_a"]),
                _fmt(r["added_p50_b"]),
                _fmt(r["added_p99_a"]),
                _fmt(r["added_p99_b"]),
                _fmt(r["rps_a"]),
                _fmt(r["rps_b"]),
            ]
            for r in out["rows"]
        ],
    )
    write_json(args.json, out)


if __name__ == "__main__":
    main()
