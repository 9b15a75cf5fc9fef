"""Vector engine (Milvus) against the exact scan: recall@10 and query latency at 100k and 1M.

    nice -n 10 .venv/bin/python bench/bench_vector_engine.py [--sizes 100000,1000000]
        [--queries 200] [--nlist 1024,4096] [--nprobe 16,64,256] [--uri http://milvus:19530]
        [--json out.json]

Synthetic 384-d unit vectors shaped like MiniLM's: a shared mean direction (random pairs
have a cosine of ~0.16), weak topic clusters and per-chunk noise; queries are perturbed
chunks (best hit ~0.7, tenth ~0.27). The clusters are weak on purpose: on real MiniLM
vectors of similar texts, IVF probing 10 % of sqrt(N) lists kept under half of the exact
top 10 (BENCHMARKS.md); these keep ~60 %, where well-separated clusters would keep all.
Rows carry a tenant (one of 10) and 20 % an access group. Both indexes are the gateway's
own (`NumpyVectorIndex`, `MilvusVectorIndex`) filled through their real sync path from one
in-memory stand-in of the document store, so build time includes what a gateway does on
start: reading rows, hex-encoding access, upserting in batches.

Milvus is the engine binary of the milvus-lite 2.5 wheel on a loopback port (the same
client calls as Milvus standalone), or the server at `--uri`. The bundled engine holds
FLAT (exact) and IVF_FLAT only (it refuses HNSW, which a Milvus server supports), and
searches IVF through its interim index of growing segments, whatever `nprobe`. For each
index: recall@10 against the exact scan and p50/p95 of one query at a time, without a
filter and as one tenant (its filter pushed into the engine's query); the exact scan's
latency beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import print_table, summary_ms, write_json

from lockgate.config import VectorEngineConfig
from lockgate.retrieval.milvus import MilvusVectorIndex
from lockgate.retrieval.milvus_local import LocalMilvus
from lockgate.retrieval.vector import NumpyVectorIndex
from lockgate.store.access import Access
from tests.support.server import free_port

DIM = 384
TENANTS = 10
K = 10


class MemoryStore:
    """The few DocumentStore reads the vector indexes make, over numpy arrays."""

    def __init__(self, vectors: np.ndarray, tenants: np.ndarray, grouped: np.ndarray) -> None:
        self.vectors, self.tenants, self.grouped = vectors, tenants, grouped
        self.ids = np.arange(1, len(vectors) + 1, dtype=np.int64)

    def index_generation(self) -> int:
        return 1

    def active_chunk_ids(self) -> list[int]:
        return self.ids.tolist()

    def max_chunk_id(self) -> int:
        return int(self.ids[-1])

    def embeddings(self, chunk_ids: Sequence[int]) -> list[tuple[int, int, str, bytes, str, str]]:
        out = []
        for cid in chunk_ids:
            i = cid - 1
            acl = '["hr"]' if self.grouped[i] else "[]"
            source = f"/kb/t{self.tenants[i]}/doc{i // 8}.md"
            out.append(
                (cid, i // 8 + 1, source, self.vectors[i].tobytes(), f"t{self.tenants[i]}", acl)
            )
        return out


def corpus(
    n: int, queries: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(DIM).astype(np.float32)
    mean /= np.linalg.norm(mean)
    topics = max(64, n // 500)
    centers = rng.standard_normal((topics, DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    vectors = np.empty((n, DIM), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        m = min(step, n - start)
        topic = rng.integers(0, topics, m)
        noise = rng.standard_normal((m, DIM)).astype(np.float32) / np.sqrt(DIM)
        block = 0.45 * mean + 0.3 * centers[topic] + noise
        vectors[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    picks = rng.integers(0, n, queries)
    noise = rng.standard_normal((queries, DIM)).astype(np.float32) / np.sqrt(DIM)
    q = vectors[picks] + noise
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    tenants = rng.integers(0, TENANTS, n)
    grouped = rng.random(n) < 0.2
    return vectors, q, tenants, grouped


def timed(
    index: Any, queries: np.ndarray, access: Access | None
) -> tuple[list[list[int]], list[float]]:
    for q in queries[:10]:  # warm-up
        index.search(q, K, access=access)
    hits, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        found = index.search(q, K, access=access)
        times.append(time.perf_counter() - t0)
        hits.append([h.chunk_id for h in found])
    return hits, times


def recall(got: list[list[int]], want: list[list[int]]) -> float:
    return float(
        np.mean([len(set(g) & set(w)) / max(1, len(w)) for g, w in zip(got, want, strict=True)])
    )


def reindex(index: MilvusVectorIndex, kind: str, nlist: int) -> float:
    """Rebuild the collection's vector index in place (the rows stay)."""
    client = index._connect()
    name = index.config.collection
    t0 = time.perf_counter()
    client.release_collection(name)
    client.drop_index(name, "vector")
    index.config = index.config.model_copy(update={"index": kind, "nlist": nlist})
    params = client.prepare_index_params()
    params.add_index("vector", index_type=kind, metric_type="IP", params=index._build())
    client.create_index(name, params, timeout=3600)
    client.load_collection(name, timeout=3600)
    return time.perf_counter() - t0


def run_size(n: int, args: argparse.Namespace, uri: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    vectors, queries, tenants, grouped = corpus(n, args.queries, args.seed)
    store = MemoryStore(vectors, tenants, grouped)
    out: dict[str, Any] = {"chunks": n, "corpus_s": round(time.perf_counter() - t0, 1)}
    exact = NumpyVectorIndex(store)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    exact.refresh()
    out["numpy_build_s"] = round(time.perf_counter() - t0, 1)
    tenant = Access.of("t3")
    truth: dict[str, list[list[int]]] = {}
    out["numpy"] = {}
    for label, access in (("all", None), ("tenant", tenant)):
        truth[label], times = timed(exact, queries, access)
        out["numpy"][label] = summary_ms(times)
    cfg = VectorEngineConfig(
        engine="milvus",
        uri=uri,
        collection=f"bench_{n}",
        index="FLAT",
        timeout_s=600,
        batch_size=args.batch,
    )
    engine = MilvusVectorIndex(store, cfg)  # type: ignore[arg-type]
    client = engine._connect()
    if client.has_collection(cfg.collection):
        client.drop_collection(cfg.collection)
    t0 = time.perf_counter()
    engine.refresh()
    out["milvus_sync_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    client.flush(cfg.collection)
    out["milvus_flush_s"] = round(time.perf_counter() - t0, 1)
    # What a restarted gateway pays on a filled collection: its ids read back, no insert.
    again = MilvusVectorIndex(store, cfg)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    again.refresh()
    out["milvus_reattach_s"] = round(time.perf_counter() - t0, 1)
    assert again.stats["upserted"] == 0 and len(again) == n
    again.close()
    out["milvus"] = []
    plans: list[tuple[str, int, list[int]]] = [("FLAT", 0, [0])]
    plans += [("IVF_FLAT", nl, args.nprobe) for nl in args.nlist if nl * 39 <= n]
    for kind, nlist, probes in plans:
        build_s = reindex(engine, kind, nlist) if (kind, nlist) != ("FLAT", 0) else 0.0
        for nprobe in probes:
            engine.config = engine.config.model_copy(update={"nprobe": max(1, nprobe)})
            row: dict[str, Any] = {
                "index": kind,
                "nlist": nlist or None,
                "nprobe": nprobe or None,
                "build_s": round(build_s, 1),
            }
            for label, access in (("all", None), ("tenant", tenant)):
                hits, times = timed(engine, queries, access)
                row[label] = {
                    **summary_ms(times),
                    "recall@10": round(recall(hits, truth[label]), 4),
                }
            out["milvus"].append(row)
            print(
                f"  {n}: {kind} nlist={nlist} nprobe={nprobe}: "
                f"recall {row['all']['recall@10']:.3f} / {row['tenant']['recall@10']:.3f}, "
                f"p95 {row['all']['p95_ms']:.1f} / {row['tenant']['p95_ms']:.1f} ms",
                flush=True,
            )
    client.drop_collection(cfg.collection)
    engine.close()
    return out


def report(results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        for label in ("all", "tenant"):
            np_ = r["numpy"][label]
            rows.append([r["chunks"], label, "numpy exact", "", 1.0, np_["p50_ms"], np_["p95_ms"]])
            for m in r["milvus"]:
                name = m["index"] + (f" nlist={m['nlist']}" if m["nlist"] else "")
                probe = m["nprobe"] or ""
                s = m[label]
                rows.append(
                    [
                        r["chunks"],
                        label,
                        f"milvus {name}",
                        probe,
                        s["recall@10"],
                        s["p50_ms"],
                        s["p95_ms"],
                    ]
                )
    print_table(
        "recall@10 against the exact scan, one query at a time",
        ["chunks", "filter", "index", "nprobe", "recall@10", "p50 ms", "p95 ms"],
        rows,
    )
    print_table(
        "build",
        ["chunks", "numpy build s", "milvus sync s", "flush s", "reattach s"],
        [
            [
                r["chunks"],
                r["numpy_build_s"],
                r["milvus_sync_s"],
                r["milvus_flush_s"],
                r["milvus_reattach_s"],
            ]
            for r in results
        ],
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--nlist", default="1024,4096")
    p.add_argument("--nprobe", default="16,64,256")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--json", default=None)
    p.add_argument(
        "--uri", default=None, help="A Milvus server to measure instead of the bundled engine."
    )
    args = p.parse_args(argv)
    args.nlist = [int(x) for x in args.nlist.split(",") if x]
    args.nprobe = [int(x) for x in args.nprobe.split(",") if x]
    results = []
    with contextlib.ExitStack() as stack:
        if args.uri:
            uri = args.uri
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="lockgate-milvus-"))
            uri = stack.enter_context(LocalMilvus(Path(tmp) / "bench.db", free_port())).uri
        for n in (int(x) for x in args.sizes.split(",")):
            results.append(run_size(n, args, uri))
            report(results)
            write_json(args.json, {"params": dict(vars(args)), "results": results})
    print(json.dumps({"done": [r["chunks"] for r in results]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
