"""MiniLM variants for ingest: speed against retrieval quality, side by side in one run.

    .venv/bin/python bench/bench_embed_variants.py [--chunks 800] [--queries 200]
        [--variants fp32-256,int8q-256,int8-256,fp32-128,int8-128] [--json out.json]

Chunks are ~1,000-character synthetic business texts (bench/synth_text.py, the retrieval
bench's generator), each stating one fact about a unique codename; questions name one
chunk each. Every variant embeds the same chunks (batch 64, length-sorted, as ingest does)
and the same questions. Reported per variant:
- chunks/s and word pieces/s for the chunk embeddings (the ingest cost);
- vector-only gold recall@1/@5 and MRR@10 of the question against all chunks (no BM25, so
  the embedding alone is judged);
- cosine between each chunk's vector and the fp32/256 reference vector (min and mean);
- p50/p95 of embedding one question (what retrieval and the semantic cache pay per request).
Variants run in alternating order twice and the faster pass counts, because the shared
box's load moves during a run.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from _common import print_table, write_json

from lockgate.models.minilm import MiniLMEmbedder

try:
    from bench.synth_text import synthetic_chunks, synthetic_qa
except ModuleNotFoundError:
    from synth_text import synthetic_chunks, synthetic_qa


def parse_variant(name: str) -> tuple[str, int]:
    """`fp32-256`, `int8-256` (everything int8) or `int8q-256` (int8 for short texts only)."""
    precision, length = name.split("-")
    return {"fp32": "off", "int8": "all", "int8q": "queries"}[precision], int(length)


def quality(chunk_vecs: np.ndarray, query_vecs: np.ndarray, gold: list[int]) -> dict[str, float]:
    scores = query_vecs @ chunk_vecs.T
    ranks = [int((row > row[g]).sum()) + 1 for row, g in zip(scores, gold, strict=True)]
    return {
        "recall_at_1": round(float(np.mean([r <= 1 for r in ranks])), 4),
        "recall_at_5": round(float(np.mean([r <= 5 for r in ranks])), 4),
        "mrr_at_10": round(float(np.mean([1 / r if r <= 10 else 0.0 for r in ranks])), 4),
    }


def run(variants: list[str], n_chunks: int, n_queries: int, seed: int) -> dict[str, Any]:
    texts = synthetic_chunks(n_chunks, seed, chars=1000)
    qa = synthetic_qa(n_queries, n_chunks, seed)
    questions = [q.question for q in qa]
    gold = [q.chunk_index for q in qa]
    models = {}
    for v in variants:
        int8, length = parse_variant(v)
        models[v] = MiniLMEmbedder(max_seq_length=length, int8=int8)
        models[v].embed(["warm up"])
    timings: dict[str, list[float]] = {v: [] for v in variants}
    vectors: dict[str, np.ndarray] = {}
    for rnd in range(2):
        for v in variants if rnd == 0 else list(reversed(variants)):
            t0 = time.perf_counter()
            vectors[v] = models[v].embed(texts)
            timings[v].append(time.perf_counter() - t0)
            print(f"  pass {rnd + 1} {v}: {n_chunks / timings[v][-1]:.1f} chunks/s", flush=True)
    tok = models[variants[0]]._tokenizer
    results: dict[str, Any] = {
        "params": {"chunks": n_chunks, "queries": n_queries, "seed": seed},
        "variants": {},
    }
    reference = vectors.get("fp32-256")
    for v in variants:
        tok.enable_truncation(parse_variant(v)[1])
        pieces = sum(len(e.ids) for e in tok.encode_batch(texts))
        best = min(timings[v])
        q_ms = []
        rows = []
        for q in questions:
            t0 = time.perf_counter()
            rows.append(models[v].embed([q])[0])
            q_ms.append((time.perf_counter() - t0) * 1000)
        qvecs = np.stack(rows)
        row: dict[str, Any] = {
            "seconds": round(best, 2),
            "chunks_per_s": round(n_chunks / best, 1),
            "pieces_per_s": round(pieces / best),
            "question_ms": {
                "p50": round(float(np.percentile(q_ms, 50)), 2),
                "p95": round(float(np.percentile(q_ms, 95)), 2),
            },
            **quality(vectors[v], qvecs, gold),
        }
        if reference is not None:
            cos = np.sum(vectors[v] * reference, axis=1)
            row["cosine_to_fp32_256"] = {
                "min": round(float(cos.min()), 4),
                "mean": round(float(cos.mean()), 4),
            }
        results["variants"][v] = row
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=800)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--variants", default="fp32-256,int8q-256,int8-256,fp32-128,int8-128")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    result = run(variants, args.chunks, args.queries, args.seed)
    base = result["variants"].get(variants[0], {}).get("chunks_per_s") or 1.0
    rows = []
    for v, r in result["variants"].items():
        cos = r.get("cosine_to_fp32_256", {})
        rows.append(
            [
                v,
                r["chunks_per_s"],
                round(r["chunks_per_s"] / base, 2),
                r["pieces_per_s"],
                r["question_ms"]["p50"],
                r["question_ms"]["p95"],
                r["recall_at_1"],
                r["recall_at_5"],
                r["mrr_at_10"],
                cos.get("min", "-"),
                cos.get("mean", "-"),
            ]
        )
    print_table(
        f"MiniLM variants, {args.chunks} chunks of ~1,000 chars, {args.queries} questions",
        [
            "variant",
            "chunks/s",
            f"x {variants[0]}",
            "pieces/s",
            "question p50 ms",
            "question p95 ms",
            "recall@1",
            "recall@5",
            "MRR@10",
            "cos min",
            "cos mean",
        ],
        rows,
    )
    write_json(args.json, {"benchmark": "embed_variants", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
