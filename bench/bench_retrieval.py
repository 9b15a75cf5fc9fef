"""Hybrid retrieval latency at 10k and 100k chunks.

    .venv/bin/python bench/bench_retrieval.py [--sizes 10000,100000] [--queries 200]
        [--embed-queries 60] [--chunks-per-doc 100] [--json out.json]

The stores are real (SQLite + FTS5 + the in-memory numpy vector index) but filled fast:
chunk texts come from bench/synth_text.py (~800 characters, each stating one unique fact)
and are written through `DocumentStore.commit_version`, one document per `--chunks-per-doc`
chunks, so FTS5 holds every text. Embedding 100k chunks with MiniLM would take hours on two
cores, so chunk vectors are MiniLM embeddings of a small set of real synthetic texts (the
first 400 characters of `--base-texts` chunks) plus Gaussian noise, re-normalised to unit
length. The vector index therefore has the right size and distribution shape, but vector
ranking quality is meaningless; only latency is measured. The larger size extends the smaller
store (synthetic texts are prefix-stable), so both share one build.

For each size the same questions (from `synthetic_queries`, each naming a chunk of that size)
run through `HybridRetriever.search` with query vectors precomputed (embedding excluded), and
the first `--embed-queries` of them again with the real MiniLM query embedding (its cost does
not depend on the store size, so a subset keeps the run short). The vector step is also split
into its parts (the store's generation check, the matrix product, the top-k selection).
Timings per part come from the retriever's own `timings_ms` (embed, vector, bm25,
fuse_fetch); the total is wall time around `search`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from _common import print_table, summary_ms, temp_home, write_json
from sqlalchemy import text

from lockgate.config import Settings
from lockgate.retrieval.hybrid import HybridRetriever
from lockgate.services import Services
from lockgate.store.documents import NewChunk, VersionInfo

try:
    from bench.synth_text import synthetic_chunks, synthetic_qa
except ModuleNotFoundError:
    from synth_text import synthetic_chunks, synthetic_qa

TARGET_P95_MS = 50.0
WARM_UP = " (warm-up)"
DIM = 384


class CachedEmbedder:
    """Returns precomputed query vectors: search timings without the embedding cost."""

    name = "cached"
    dimensions = DIM

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vectors[t.removesuffix(WARM_UP)] for t in texts])

    def ready(self) -> bool:
        return True


def fake_vectors(base: np.ndarray, n: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Unit vectors scattered around real embeddings (cosine to their base ~0.6-0.8)."""
    picks = base[rng.integers(0, len(base), n)]
    vecs = picks + rng.standard_normal((n, base.shape[1]), dtype=np.float32) * noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs.astype(np.float32)


def chunk_extra(text: str) -> dict[str, Any]:
    """The per-chunk columns ingest writes next to the text (near-duplicate signatures),
    where this version of the store has them; retrieval reads them when collapsing."""
    if "extra" not in NewChunk.__dataclass_fields__:
        return {}
    try:
        from lockgate.ingest import neardup
    except ImportError:
        return {}
    return {
        "extra": {
            "simhash": neardup.simhash(text),
            "text_hash": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }
    }


def fill(
    services: Services, texts: list[str], start: int, stop: int, per_doc: int, vectors: np.ndarray
) -> float:
    """Write chunks [start, stop) as documents of `per_doc` chunks; returns seconds."""
    store = services.documents
    t0 = time.perf_counter()
    for first in range(start, stop, per_doc):
        last = min(first + per_doc, stop)
        doc_no = first // per_doc
        topic = ("alpha", "beta", "gamma", "delta")[doc_no % 4]
        chunks = [
            NewChunk(
                position=i - first,
                text=texts[i],
                heading_path=(f"Section {i % 7}",),
                page=None,
                char_start=(i - first) * 800,
                embedding=vectors[i - start].tobytes(),
                **chunk_extra(texts[i]),
            )
            for i in range(first, last)
        ]
        info = VersionInfo(
            content_hash=f"synthetic-{doc_no:08d}",
            size=800 * len(chunks),
            mtime=0.0,
            format="text",
            parser="synthetic",
            parser_version="1",
            title=f"Synthetic document {doc_no}",
            pages=None,
        )
        store.commit_version(f"/bench/{topic}/doc-{doc_no:06d}.txt", info, chunks)
        if (doc_no + 1) % 100 == 0:
            done = last - start
            rate = done / (time.perf_counter() - t0)
            print(f"  stored {last:,} chunks ({rate:,.0f} chunks/s)", flush=True)
    return time.perf_counter() - t0


def chunk_ids_by_index(services: Services, per_doc: int) -> dict[int, int]:
    with services.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.id, d.source, c.position FROM chunks c JOIN documents d "
                "ON d.id = c.document_id WHERE c.active = 1"
            )
        ).all()
    out = {}
    for cid, source, position in rows:
        doc_no = int(source.rsplit("-", 1)[1].split(".")[0])
        out[doc_no * per_doc + position] = cid
    return out


def vector_parts(services: Services, qvecs: list[np.ndarray]) -> dict[str, Any]:
    """Split the vector step: the store's generation check (a SQL read on every search),
    the matrix product, and the top-k selection."""
    index = services.vectors
    gen, matmul, topk = [], [], []
    n = max(services.settings.retrieval.candidates, services.settings.retrieval.top_k)
    matrix = index._matrix
    for q in qvecs:
        t0 = time.perf_counter()
        services.documents.index_generation()
        t1 = time.perf_counter()
        scores = matrix @ q.astype(np.float32)
        t2 = time.perf_counter()
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        t3 = time.perf_counter()
        gen.append(t1 - t0)
        matmul.append(t2 - t1)
        topk.append(t3 - t2)
    return {
        "generation_check": summary_ms(gen),
        "matmul": summary_ms(matmul),
        "top_k": summary_ms(topk),
    }


def ivf_recall(services: Services, qvecs: list[np.ndarray], k: int) -> float | None:
    """Share of the exact top-k that the (possibly partitioned) index returns."""
    index = services.vectors
    if not index.partitioned:
        return None
    ids, matrix = index._ids, index._matrix
    found = 0
    for q in qvecs:
        exact = set(ids[np.argsort(-(matrix @ q.astype(np.float32)))[:k]].tolist())
        found += len(exact & {h.chunk_id for h in index.search(q, k)})
    return round(found / (k * len(qvecs)), 4)


def measure(
    retriever: HybridRetriever, queries: list[str], warmup: int = 5
) -> tuple[dict[str, Any], list[list[int]]]:
    # Warm up on other texts: the embedder remembers recent single texts, and a timed query
    # must pay for its embedding.
    for q in queries[:warmup]:
        retriever.search(q + WARM_UP)
    totals: list[float] = []
    parts: dict[str, list[float]] = {
        "embed": [],
        "vector": [],
        "bm25": [],
        "bm25_wait": [],
        "fuse_fetch": [],
    }
    results = []
    for q in queries:
        t0 = time.perf_counter()
        res = retriever.search(q)
        totals.append(time.perf_counter() - t0)
        for k in parts:
            parts[k].append(res.timings_ms.get(k, 0.0) / 1000)
        results.append([c.chunk_id for c in res.chunks])
    out = {"total": summary_ms(totals), **{k: summary_ms(v) for k, v in parts.items()}}
    return out, results


def run(
    sizes: list[int],
    n_queries: int,
    embed_queries: int,
    per_doc: int,
    base_texts: int,
    noise: float,
    seed: int,
) -> dict[str, Any]:
    sizes = sorted(sizes)
    rng = np.random.default_rng(seed)
    results: dict[str, Any] = {
        "params": {
            "sizes": sizes,
            "queries": n_queries,
            "embed_queries": embed_queries,
            "chunks_per_doc": per_doc,
            "base_texts": base_texts,
            "noise": noise,
            "seed": seed,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
        "sizes": {},
    }
    with temp_home() as tmp:
        settings = Settings(home=tmp / "home")
        services = Services(settings)
        embedder = services.embedder
        t0 = time.perf_counter()
        embedder.embed(["warm up"])
        results["embedder_load_s"] = round(time.perf_counter() - t0, 2)

        t0 = time.perf_counter()
        texts = synthetic_chunks(sizes[-1], seed)
        results["text_gen_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        base = embedder.embed([t[:400] for t in texts[:base_texts]])
        results["base_embed_s"] = round(time.perf_counter() - t0, 2)
        print(
            f"generated {len(texts):,} texts in {results['text_gen_s']}s, embedded "
            f"{base_texts} base texts in {results['base_embed_s']}s",
            flush=True,
        )

        built = 0
        for size in sizes:
            print(f"building {size:,} chunks ...", flush=True)
            vecs = fake_vectors(base, size - built, rng, noise)
            store_s = fill(services, texts, built, size, per_doc, vecs)
            built = size
            t0 = time.perf_counter()
            services.vectors.refresh()
            refresh_s = time.perf_counter() - t0
            db_bytes = sum(p.stat().st_size for p in (tmp / "home").glob("lockgate.db*"))

            qa = synthetic_qa(n_queries, size, seed)
            queries = [q.question for q in qa]
            real = services.retriever
            # The query embedding does not depend on the store size; a subset bounds the run.
            with_embed, _ = measure(real, queries[:embed_queries])
            qvecs = {q: v for q, v in zip(queries, embedder.embed(queries), strict=True)}
            cached = HybridRetriever(
                services.documents,
                services.text_index,
                services.vectors,
                CachedEmbedder(qvecs),
                settings.retrieval,
            )
            without_embed, hits = measure(cached, queries)

            parts = vector_parts(services, list(qvecs.values()))
            n_cand = max(settings.retrieval.candidates, settings.retrieval.top_k)
            recall = {
                f"at_{k}": ivf_recall(services, list(qvecs.values())[:100], k) for k in (10, n_cand)
            }
            ids = chunk_ids_by_index(services, per_doc)
            found = sum(1 for q, h in zip(qa, hits, strict=True) if ids.get(q.chunk_index) in h)
            results["sizes"][str(size)] = {
                "chunks": len(services.vectors),
                "documents": -(-size // per_doc),
                "store_s": round(store_s, 2),
                "store_chunks_per_s": round(
                    (size - (sizes[sizes.index(size) - 1] if sizes.index(size) else 0)) / store_s, 1
                ),
                "vector_refresh_s": round(refresh_s, 2),
                "db_bytes": db_bytes,
                "with_embedding": with_embed,
                "without_embedding": without_embed,
                "vector_parts": parts,
                "ivf": {
                    "partitioned": services.vectors.partitioned,
                    "probe": settings.retrieval.ivf_probe,
                    "recall_vs_exact": recall,
                },
                "gold_in_top_k": round(found / len(qa), 3),
                "top_k": settings.retrieval.top_k,
                "candidates": settings.retrieval.candidates,
                "target_p95_ms": TARGET_P95_MS,
                "met_with_embedding": with_embed["total"]["p95_ms"] <= TARGET_P95_MS,
                "met_without_embedding": without_embed["total"]["p95_ms"] <= TARGET_P95_MS,
            }
            report_size(size, results["sizes"][str(size)])
    return results


def report_size(size: int, r: dict[str, Any]) -> None:
    print(
        f"\n{size:,} chunks in {r['documents']:,} documents: stored in {r['store_s']:.1f}s "
        f"({r['store_chunks_per_s']:,.0f} chunks/s), vector index load "
        f"{r['vector_refresh_s']:.2f}s, db {r['db_bytes'] / 2**20:.0f} MiB, "
        f"gold chunk in top-{r['top_k']}: {100 * r['gold_in_top_k']:.1f}%"
    )
    rows = []
    for mode in ("with_embedding", "without_embedding"):
        m = r[mode]
        for part in ("total", "embed", "vector", "bm25", "bm25_wait", "fuse_fetch"):
            if mode == "without_embedding" and part == "embed":
                continue
            rows.append(
                [
                    f"{mode.replace('_', ' ')}: {part}",
                    m[part]["p50_ms"],
                    m[part]["p95_ms"],
                    m[part]["p99_ms"],
                    m[part]["max_ms"],
                ]
            )
    for part, label in (
        ("generation_check", "vector: index generation check (SQL)"),
        ("matmul", "exact scan: matrix @ query"),
        ("top_k", "exact scan: top-k select"),
    ):
        v = r["vector_parts"][part]
        rows.append([label, v["p50_ms"], v["p95_ms"], v["p99_ms"], v["max_ms"]])
    ivf = r["ivf"]
    if ivf["partitioned"]:
        recall = ", ".join(
            f"{k.replace('at_', '@')} {v}" for k, v in ivf["recall_vs_exact"].items()
        )
        print(f"IVF partitioned, probe {ivf['probe']} lists; recall vs exact scan: {recall}")
    else:
        print("vector search: exact scan (retrieval.ivf_min_rows unset or not reached)")
    print_table(
        f"HybridRetriever.search at {size:,} chunks, "
        f"{r['without_embedding']['total']['n']} queries "
        f"({r['with_embedding']['total']['n']} with the query embedding) (ms)",
        ["measure", "p50", "p95", "p99", "max"],
        rows,
    )
    for mode in ("with_embedding", "without_embedding"):
        p95 = r[mode]["total"]["p95_ms"]
        verdict = "MET" if p95 <= TARGET_P95_MS else "NOT MET"
        print(
            f"target p95 <= {TARGET_P95_MS:.0f} ms ({mode.replace('_', ' ')}): "
            f"{p95:.1f} ms -> {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes",
        default="10000,100000",
        help="comma-separated chunk counts (default 10000,100000)",
    )
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--embed-queries",
        type=int,
        default=60,
        help="how many of the queries also run with the real query embedding",
    )
    ap.add_argument("--chunks-per-doc", type=int, default=100)
    ap.add_argument(
        "--base-texts",
        type=int,
        default=128,
        help="real texts embedded with MiniLM to seed the synthetic vectors",
    )
    ap.add_argument(
        "--noise",
        type=float,
        default=0.04,
        help="per-dimension Gaussian noise added to base vectors",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    result = run(
        sizes,
        args.queries,
        min(args.embed_queries, args.queries),
        args.chunks_per_doc,
        args.base_texts,
        args.noise,
        args.seed,
    )
    summary = [
        [
            f"{int(s):,}",
            r["with_embedding"]["total"]["p50_ms"],
            r["with_embedding"]["total"]["p95_ms"],
            r["without_embedding"]["total"]["p50_ms"],
            r["without_embedding"]["total"]["p95_ms"],
            r["without_embedding"]["vector"]["p95_ms"],
            r["without_embedding"]["bm25"]["p95_ms"],
        ]
        for s, r in result["sizes"].items()
    ]
    print_table(
        "Summary (ms)",
        [
            "chunks",
            "p50 w/ embed",
            "p95 w/ embed",
            "p50 w/o embed",
            "p95 w/o embed",
            "vector p95",
            "bm25 p95",
        ],
        summary,
    )
    write_json(args.json, {"benchmark": "retrieval", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
