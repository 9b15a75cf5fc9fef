"""IVF recall on real MiniLM vectors (the retrieval bench's vectors are synthetic clusters).

    .venv/bin/python bench/bench_ivf_recall.py [--chunks 3000] [--queries 300]
        [--probe-share 0.1] [--json out.json]

Real ~1,000-character synthetic business chunks are embedded with MiniLM (fp32 batches, as
ingest does) and questions with the int8 query path (as retrieval does). The lists are
built as the index builds them (sqrt(N) k-means lists), and each question's top-10 / top-50
from probing `--probe-share` of the lists (the default index probes 32 of 316 lists at
100k, ~10 %) is compared with the exact scan. Also reported: the gold chunk's rank under
both, so a recall loss can be read as an answer-quality loss.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import numpy as np
from _common import print_table, write_json

from lockgate.models.minilm import MiniLMEmbedder
from lockgate.retrieval.ivf import IvfLayout, assign, train_centroids

try:
    from bench.synth_text import synthetic_chunks, synthetic_qa
except ModuleNotFoundError:
    from synth_text import synthetic_chunks, synthetic_qa


def run(n_chunks: int, n_queries: int, shares: list[float], seed: int) -> dict[str, Any]:
    texts = synthetic_chunks(n_chunks, seed, chars=1000)
    qa = synthetic_qa(n_queries, n_chunks, seed)
    embedder = MiniLMEmbedder(int8="queries")
    t0 = time.perf_counter()
    matrix = embedder.embed(texts)
    embed_s = time.perf_counter() - t0
    queries = np.stack([embedder.embed([q.question])[0] for q in qa])
    n_lists = max(1, min(n_chunks // 16, int(math.sqrt(n_chunks))))
    centroids = train_centroids(matrix, n_lists)
    layout = IvfLayout.build(centroids, assign(matrix, centroids))
    sorted_matrix = matrix[layout.order]
    out: dict[str, Any] = {
        "params": {"chunks": n_chunks, "queries": n_queries, "lists": n_lists, "seed": seed},
        "embed_s": round(embed_s, 1),
        "shares": {},
    }
    for share in shares:
        probe = max(1, round(share * n_lists))
        rec10 = rec50 = gold_exact = gold_ivf = 0
        for q, item in zip(queries, qa, strict=True):
            exact = np.argsort(-(matrix @ q))
            positions, scores = layout.search(sorted_matrix, q, 50, probe)
            ivf = layout.order[positions[np.argsort(-scores)]]
            rec10 += len(set(exact[:10]) & set(ivf[:10]))
            rec50 += len(set(exact[:50]) & set(ivf[:50]))
            gold_exact += int(item.chunk_index in set(exact[:5].tolist()))
            gold_ivf += int(item.chunk_index in set(ivf[:5].tolist()))
        out["shares"][str(share)] = {
            "probe": probe,
            "recall_at_10": round(rec10 / (10 * n_queries), 4),
            "recall_at_50": round(rec50 / (50 * n_queries), 4),
            "gold_top5_exact": round(gold_exact / n_queries, 4),
            "gold_top5_ivf": round(gold_ivf / n_queries, 4),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--probe-shares", default="0.05,0.1,0.2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    shares = [float(x) for x in args.probe_shares.split(",")]
    result = run(args.chunks, args.queries, shares, args.seed)
    rows = [
        [
            share,
            r["probe"],
            r["recall_at_10"],
            r["recall_at_50"],
            r["gold_top5_exact"],
            r["gold_top5_ivf"],
        ]
        for share, r in result["shares"].items()
    ]
    print_table(
        f"IVF on real MiniLM vectors: {args.chunks} chunks, {result['params']['lists']} lists, "
        f"{args.queries} questions",
        [
            "probe share",
            "lists probed",
            "recall@10",
            "recall@50",
            "gold top-5 exact",
            "gold top-5 IVF",
        ],
        rows,
    )
    write_json(args.json, {"benchmark": "ivf_recall", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
