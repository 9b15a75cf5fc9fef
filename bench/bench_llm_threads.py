"""Decoding speed of the embedded model (Gemma 3 270M, llama.cpp) inside a process that also
runs the MiniLM embedder, under the OpenMP settings a Lockgate process can end up with, side
by side (each in a fresh subprocess: OpenMP reads its settings once, at load).

    .venv/bin/python bench/bench_llm_threads.py [--rounds 2] [--tokens 48] [--json out.json]

torch and llama.cpp share one OpenMP runtime (`libgomp.so.1`). Every setup embeds a batch
first (as ingest or the answer check does), then generates from a worker thread (as the
gateway does: the event loop keeps the main thread):

- `passive wait`: `OMP_WAIT_POLICY=PASSIVE`, the embedder's default before `models/openmp.py`;
- `spin, torch team of N`: waiting threads spin briefly, torch keeps its default threads, so
  its team and llama.cpp's outnumber the cores and libgomp throttles spinning;
- `product default`: what a Lockgate process that builds the model registry gets now
  (spin briefly, torch on one thread);
- `llama.cpp alone`: no torch in the process, the limit.

Reported per setup: the first token of a ~330-token prompt (cold), decode tokens/s, and
the embedding batch's time (what keeping torch on one thread costs it)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from _common import ROOT, machine, pct, print_table, write_json

SETUPS: dict[str, dict[str, str]] = {
    "passive wait (before)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin, torch team beside llama.cpp": {"LG_BENCH_NO_RESERVE": "1"},
    "product default (spin, torch on 1 thread)": {},
    "llama.cpp alone (limit)": {"LG_BENCH_NO_TORCH": "1"},
}


def child(tokens: int) -> None:
    import tempfile
    import threading
    from pathlib import Path

    from lockgate.models import openmp

    embed_s = None
    if not os.environ.get("LG_BENCH_NO_TORCH"):
        from lockgate.models.minilm import MiniLMEmbedder

        if not os.environ.get("LG_BENCH_NO_RESERVE"):
            openmp.reserve_for_generation()
        model = MiniLMEmbedder()
        texts = [f"chunk {i} about retention of records and the backups kept " * 14
                 for i in range(32)]
        model.embed(texts[:4])
        t0 = time.perf_counter()
        model.embed(texts)
        embed_s = time.perf_counter() - t0
    from llama_cpp import Llama

    from lockgate.models.llama_local import bundled_gguf

    llm = Llama(model_path=str(bundled_gguf(Path(tempfile.mkdtemp()))), n_ctx=4096,
                n_threads=os.cpu_count() or 1, n_batch=512, verbose=False)
    text = (ROOT / "README.md").read_text(encoding="utf-8")[:1400]
    out: dict[str, Any] = {"embed_batch_s": embed_s}

    def generate() -> None:
        prompt = "Summarise the following text.\n\n" + text + "\n\nSummary:"
        t0 = time.perf_counter()
        stamps = []
        for _ in llm.create_completion(prompt, stream=True, max_tokens=tokens,
                                       temperature=0.0, repeat_penalty=1.1):
            stamps.append(time.perf_counter())
        out["first_token_s"] = stamps[0] - t0
        out["decode_tok_s"] = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        out["tokens"] = len(stamps)

    worker = threading.Thread(target=generate)
    worker.start()
    worker.join()
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.tokens)
        return
    load0 = os.getloadavg()[0]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SETUPS}
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    base["PYTHONPATH"] = f"{ROOT / 'src'}{os.pathsep}{ROOT}"
    for r in range(args.rounds):
        names = list(SETUPS) if r % 2 == 0 else list(reversed(SETUPS))
        for name in names:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", "--tokens", str(args.tokens)],
                env={**base, **SETUPS[name]}, capture_output=True, text=True, check=True,
                timeout=600,
            )
            results[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    rows = []
    for name, runs in results.items():
        embed = [x["embed_batch_s"] for x in runs if x["embed_batch_s"] is not None]
        rows.append([
            name,
            round(pct([x["first_token_s"] for x in runs], 50), 2),
            round(pct([x["decode_tok_s"] for x in runs], 50), 1),
            round(pct(embed, 50) * 1000) if embed else "-",
        ])
    print_table(
        f"Embedded model decoding beside the embedder ({args.rounds} rounds, load "
        f"{load0:.1f} -> {os.getloadavg()[0]:.1f})",
        ["setup", "first token p50 s", "decode tok/s p50", "embed 32 chunks ms"],
        rows,
    )
    write_json(args.json, {"machine": machine(), "results": results})


if __name__ == "__main__":
    main()
