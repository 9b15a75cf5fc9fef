"""MiniLM and numpy (vector search) speed under different threading settings, side by side.

    .venv/bin/python bench/bench_embed_threads.py [--rounds 2] [--queries 30] [--chunks 48]
        [--json out.json]

The embedder runs torch with as many intra-op threads as the machine has cores, and OpenMP's
default wait policy spins idle threads. On a box whose cores are shared with other work, a
spinning thread can sit on the core its partner needs, and small ops (one query) stall.
"no override" leaves the environment alone, so it measures whatever the product sets itself
(since c4847f4, lockgate/models/minilm.py defaults OMP_WAIT_POLICY to PASSIVE; before, it
was OpenMP's spinning default); "OMP_WAIT_POLICY=ACTIVE" forces the spinning behaviour. Each
configuration runs in a fresh subprocess (OpenMP reads its environment once, at start-up);
configurations alternate for `--rounds` rounds so drifting machine load hits all of them.
Reported: single-query embedding latency (p50/p95), batch throughput for ~1,000-character
chunks (the ingest case), and the vector index's core operation, a 100k x 384 float32
matrix times one query (numpy's BLAS has its own thread pool, sized the same way).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from _common import ROOT, pct, print_table, write_json

CONFIGS: dict[str, dict[str, str]] = {
    "no override": {},
    "OMP_WAIT_POLICY=ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "1 thread (OMP+BLAS)": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
}


def child(queries: int, chunks: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from synth_text import synthetic_chunks, synthetic_queries

    from lockgate.models.minilm import MiniLMEmbedder

    model = MiniLMEmbedder()
    model.embed(["warm up"] * 4)
    qs = synthetic_queries(queries + 3, corpus_size=1000)
    for q in qs[:3]:
        model.embed([q])
    lat = []
    for q in qs[3:]:
        t0 = time.perf_counter()
        model.embed([q])
        lat.append(time.perf_counter() - t0)
    texts = synthetic_chunks(chunks, chars=1000)
    t0 = time.perf_counter()
    model.embed(texts)
    batch_s = time.perf_counter() - t0
    import numpy as np

    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((100_000, 384), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    matvec = []
    for q in rng.standard_normal((queries + 3, 384), dtype=np.float32):
        t0 = time.perf_counter()
        _ = matrix @ q
        matvec.append(time.perf_counter() - t0)
    print(json.dumps({"query_s": lat, "chunks": chunks, "batch_s": batch_s,
                      "matvec_s": matvec[3:]}))


def run(rounds: int, queries: int, chunks: int) -> dict[str, Any]:
    raw: dict[str, dict[str, list[float]]] = {k: {"query_s": [], "chunks_per_s": [],
                                                  "matvec_s": []}
                                              for k in CONFIGS}
    for r in range(rounds):
        for name, env in CONFIGS.items():
            print(f"round {r + 1}/{rounds}: {name} ...", flush=True)
            full = {**{k: v for k, v in os.environ.items()
                       if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS",
                                    "OPENBLAS_NUM_THREADS")}, **env}
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--queries", str(queries),
                 "--chunks", str(chunks)],
                env=full, cwd=ROOT, capture_output=True, text=True, check=True)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            raw[name]["query_s"] += data["query_s"]
            raw[name]["matvec_s"] += data["matvec_s"]
            raw[name]["chunks_per_s"].append(data["chunks"] / data["batch_s"])
    results = {}
    for name, d in raw.items():
        q_ms = [v * 1000 for v in d["query_s"]]
        results[name] = {
            "env": CONFIGS[name],
            "query_p50_ms": round(pct(q_ms, 50), 2), "query_p95_ms": round(pct(q_ms, 95), 2),
            "chunks_per_s": round(sum(d["chunks_per_s"]) / len(d["chunks_per_s"]), 2),
            "chunks_per_s_runs": [round(x, 2) for x in d["chunks_per_s"]],
            "matvec_100k_p50_ms": round(pct([v * 1000 for v in d["matvec_s"]], 50), 2),
            "matvec_100k_p95_ms": round(pct([v * 1000 for v in d["matvec_s"]], 95), 2),
        }
    return {"params": {"rounds": rounds, "queries": queries, "chunks": chunks},
            "configs": results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--chunks", type=int, default=48)
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.queries, args.chunks)
        return 0
    result = run(args.rounds, args.queries, args.chunks)
    base = result["configs"]["no override"]
    print_table(
        f"MiniLM embedding and 100k x 384 matvec, {os.cpu_count()} cores, {args.rounds} "
        "alternating rounds",
        ["configuration", "query p50 ms", "query p95 ms", "chunks/s (1k chars)",
         "query speed-up", "batch speed-up", "matvec p50 ms", "matvec p95 ms"],
        [[name, r["query_p50_ms"], r["query_p95_ms"], r["chunks_per_s"],
          base["query_p50_ms"] / r["query_p50_ms"], r["chunks_per_s"] / base["chunks_per_s"],
          r["matvec_100k_p50_ms"], r["matvec_100k_p95_ms"]]
         for name, r in result["configs"].items()],
    )
    write_json(args.json, {"benchmark": "embed_threads", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
