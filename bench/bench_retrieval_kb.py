"""Document retrieval quality on a knowledge base of long manuals, with users' questions.

    .venv/bin/python bench/bench_retrieval_kb.py [--baseline /tmp/wt-retr-base]
        [--corpus /tmp/lockgate-kb/corpus] [--cache /tmp/lockgate-kb/vectors.npz]
        [--tune] [--json out.json]

Data (bench/data/kb/, see PROVENANCE.md there): 229 manual pages of this machine rendered
as Markdown by `bench/kb/build_corpus.py` (built on first use and checked against the
manifest), and tasks.jsonl: questions written in users' own words, each with the 2-4
pages a good answer needs, split by task into `dev` (tuning) and `test` (reported only).

Every checkout measured (this one, and `--baseline`'s `src` when given) runs in its own
child process: a fresh store, the corpus ingested through `Ingestor` with the default
settings (structure chunking, 1000/150 characters), then per question:
- bm25: the FTS5 index alone (`text_index.search`, 200 chunks), documents by best chunk;
- dense: MiniLM alone (`vectors.search`, 400 chunks), documents by best cosine;
- default: `services.retriever.search(q, k=10)`, the path `POST /v1/search` and grounded
  answers take; the documents of its chunks in order of first appearance;
- http: the same through `POST /v1/search` on the gateway app (in process, anonymous
  caller of the default tenant), its latency including the request's trace.
Document recall@10 and nDCG@10 (binary relevance) come from `lockgate.eval.retrieval`;
p50 is the median over questions of the best of three wall times of one search, with the
query embedding cached (it is the same ~15 ms for every retriever and would only add noise
on a shared box).

Chunk and query vectors are the real MiniLM's (int8 for queries, as configured), kept in
`--cache` so the corpus is embedded once for all checkouts and runs. `--tune` also scores
the fusion settings of this checkout on the dev split only and prints the grid.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "kb"))

DATA = BENCH / "data" / "kb"
TASKS = DATA / "tasks.jsonl"
K = 10
DEFAULT_DIR = Path("/tmp/lockgate-kb")


def load_tasks(path: Path = TASKS) -> list[dict[str, Any]]:
    tasks = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for t in tasks:
        if t["split"] not in ("dev", "test") or not t["relevant"]:
            raise ValueError(f"task {t['id']}: needs a split (dev/test) and relevant documents")
    return tasks


def doc_id(source: str) -> str:
    return Path(source).name.removesuffix(".md")


def by_document(hits: list[tuple[str, float]], k: int) -> list[str]:
    """Documents ranked by their best chunk (hits: (source, score), any order)."""
    best: dict[str, float] = {}
    for source, score in hits:
        d = doc_id(source)
        if d not in best or score > best[d]:
            best[d] = score
    return [d for d, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def first_seen(sources: list[str], k: int) -> list[str]:
    return list(dict.fromkeys(doc_id(s) for s in sources))[:k]


# ---------------------------------------------------------------- child: one checkout


def child(
    src: Path,
    corpus: Path,
    cache_path: Path,
    out: Path,
    tune: bool,
    chunking: tuple[int, int] | None = None,
) -> None:
    import numpy as np
    from _common import temp_home
    from vector_cache import VectorCache, cached_embedder

    # `_common` puts this checkout's src first on the path; the measured one goes before it.
    sys.path.insert(0, str(src))
    import lockgate

    if not Path(lockgate.__file__).resolve().is_relative_to(src.resolve()):
        raise RuntimeError(f"imported {lockgate.__file__}, not the checkout at {src}")
    from lockgate.config import Settings
    from lockgate.ingest.pipeline import Ingestor
    from lockgate.models.base import EmbeddingBackend
    from lockgate.retrieval.hybrid import HybridRetriever
    from lockgate.services import Services

    tasks = load_tasks()
    result: dict[str, Any] = {"src": str(src), "systems": {}}
    with temp_home(prefix="lockgate-kb-") as tmp:
        # Anonymous callers may search (the HTTP system below); retrieval keeps its defaults.
        ingest = (
            {"chunk_target_chars": chunking[0], "chunk_overlap_chars": chunking[1]}
            if chunking
            else {}
        )
        settings = Settings(home=tmp / "home", auth={"allow_anonymous": True}, ingest=ingest)

        def real_model() -> Any:
            from lockgate.upstreams.registry import build_embedder

            return build_embedder(settings.embeddings)

        cache = VectorCache(cache_path, real_model)
        embedder = cached_embedder(cache, EmbeddingBackend, "minilm-cached", 384)
        services = Services(settings, preloaded_embedder=embedder)
        t0 = time.perf_counter()
        summary = Ingestor(services.documents, services.runs, embedder, settings.ingest).run(
            [str(corpus)]
        )
        cache.save()
        result["ingest"] = {
            "seconds": round(time.perf_counter() - t0, 1),
            "documents": summary.new,
            "near_duplicate_documents": summary.duplicates,
            "quarantined": summary.quarantined,
            "chunks": summary.chunks,
            "embedded_now": cache.misses,
        }
        print(f"  [{src}] ingested: {result['ingest']}", flush=True)
        services.vectors.refresh()
        questions = [t["question"] for t in tasks]
        qvecs = dict(zip(questions, services.query_embedder.embed(questions), strict=True))
        cache.save()
        sources = {
            cid: r.source
            for cid, r in services.documents.chunks(services.documents.active_chunk_ids()).items()
        }

        def bm25(q: str) -> list[str]:
            hits = services.text_index.search(q, 200)
            return by_document([(sources[h.chunk_id], h.score) for h in hits], K)

        def dense(q: str) -> list[str]:
            hits = services.vectors.search(qvecs[q], 400)
            return by_document([(sources[h.chunk_id], h.score) for h in hits], K)

        def through(retriever: HybridRetriever) -> Any:
            def run(q: str) -> list[str]:
                return first_seen([c.source for c in retriever.search(q, k=K).chunks], K)

            return run

        class Known:
            """The real query embedder's vectors, looked up (all were embedded above)."""

            name, dimensions = "cached", 384

            def embed(self, texts: list[str]) -> Any:
                return np.stack([qvecs[t] for t in texts])

        def retriever(config: Any) -> HybridRetriever:
            return HybridRetriever(
                services.documents,
                services.text_index,
                services.vectors,
                Known(),  # type: ignore[arg-type]
                config,
                settings.freshness,
                settings.ingest.near_duplicates.chunk_max_bits,
            )

        systems = {
            "bm25": bm25,
            "dense": dense,
            "default": through(retriever(settings.retrieval)),
        }
        if "chunks_per_document" in type(settings.retrieval).model_fields:
            # The parts of this default on their own: fusion without the document order,
            # and the document order over the vector side alone.
            cfg = settings.retrieval
            systems["fusion_chunk_order"] = through(
                retriever(cfg.model_copy(update={"chunks_per_document": None}))
            )
            systems["dense_by_document"] = through(
                retriever(cfg.model_copy(update={"bm25_weight": 0.0}))
            )
        client = http_client(services)
        if client is not None:
            systems["http"] = lambda q: first_seen(
                [
                    r["source"]
                    for r in client.post("/v1/search", json={"query": q, "k": K})
                    .raise_for_status()
                    .json()["results"]
                ],
                K,
            )
        for name, fn in systems.items():
            fn(questions[0])  # warm caches (FTS term statistics, vector index)
            rankings, times = {}, []
            for t in tasks:
                # The box is shared: each search's time is the best of three runs.
                best = float("inf")
                for _ in range(3):
                    t1 = time.perf_counter()
                    rankings[t["id"]] = fn(t["question"])
                    best = min(best, time.perf_counter() - t1)
                times.append(best)
            result["systems"][name] = {"rankings": rankings, "seconds": times}
        if "chunks_per_document" in type(settings.retrieval).model_fields:
            # Latency side by side in one process, queries interleaved: separate runs minutes
            # apart on a shared box differ by more than the two retrievers do.
            cfg = settings.retrieval
            old = cfg.model_copy(
                update={
                    "fusion": "rrf",
                    "vector_weight": 1.0,
                    "candidates": 50,
                    "chunks_per_document": None,
                }
            )
            result["latency_interleaved"] = interleaved(
                {"main's settings": retriever(old), "this default": retriever(cfg)}, questions
            )
        if tune:
            result["tuning"] = tune_grid(settings, tasks, retriever, through)
    out.write_text(json.dumps(result))


def interleaved(retrievers: dict[str, Any], questions: list[str]) -> dict[str, Any]:
    from _common import summary_ms

    times: dict[str, list[float]] = {name: [] for name in retrievers}
    parts: dict[str, dict[str, list[float]]] = {name: {} for name in retrievers}
    for q in questions:
        for name, r in retrievers.items():
            best, timings = float("inf"), {}
            for _ in range(5):
                t0 = time.perf_counter()
                res = r.search(q, k=K)
                if time.perf_counter() - t0 < best:
                    best, timings = time.perf_counter() - t0, res.timings_ms
            times[name].append(best)
            for part, ms in timings.items():
                parts[name].setdefault(part, []).append(ms / 1000)
    return {
        name: {
            "total": summary_ms(times[name]),
            **{p: summary_ms(v)["p50_ms"] for p, v in parts[name].items()},
        }
        for name in retrievers
    }


def http_client(services: Any) -> Any:
    """An in-process client of the gateway app, for `POST /v1/search` (None if the
    checkout cannot build one here)."""
    try:
        from starlette.testclient import TestClient

        from lockgate.gateway.app import create_app

        client = TestClient(create_app(services, preload_models=False))
        client.__enter__()  # the app's start-up; the process exit ends it
        return client
    except Exception as exc:  # noqa: BLE001 - the other systems are still measured
        print(f"  no HTTP measurement: {exc!r}", flush=True)
        return None


def tune_grid(settings: Any, tasks: list[dict[str, Any]], retriever: Any, through: Any) -> Any:
    """Fusion settings scored on the dev split only (never on test)."""
    dev = [t for t in tasks if t["split"] == "dev"]
    fields = type(settings.retrieval).model_fields
    grid: list[dict[str, Any]] = []
    if "fusion" in fields:
        for fusion in ("rrf", "zscore", "minmax"):
            for vw in (1.0, 2.0, 3.0, 4.0, 6.0):
                for agg in ("max", "decay", "top2", "top3"):
                    for n in (50, 100, 200):
                        grid.append(
                            {
                                "fusion": fusion,
                                "vector_weight": vw,
                                "doc_score": agg,
                                "candidates": n,
                            }
                        )
    else:
        for vw in (1.0, 2.0, 3.0):
            grid.append({"vector_weight": vw})
    rows = []
    for params in grid:
        config = settings.retrieval.model_copy(update=params)
        run = through(retriever(config))
        rankings = {t["id"]: run(t["question"]) for t in dev}
        rows.append({"params": params, **scores(dev, rankings)})
        print(f"  tune {params}: {rows[-1]}", flush=True)
    return rows


# ---------------------------------------------------------------- parent: scoring, table


def scores(tasks: list[dict[str, Any]], rankings: dict[str, list[str]]) -> dict[str, float]:
    from lockgate.eval.retrieval import ndcg_at_k, recall_at_k

    n = len(tasks)
    return {
        "recall@10": round(
            sum(recall_at_k(rankings[t["id"]], t["relevant"], K) for t in tasks) / n, 4
        ),
        "ndcg@10": round(sum(ndcg_at_k(rankings[t["id"]], t["relevant"], K) for t in tasks) / n, 4),
    }


def run_child(
    src: Path, args: argparse.Namespace, tune: bool, chunking: tuple[int, int] | None = None
) -> dict[str, Any]:
    out = args.work / f"result-{abs(hash((str(src), chunking)))}.json"
    cmd = [
        sys.executable,
        __file__,
        "--child-src",
        str(src),
        "--corpus",
        str(args.corpus),
        "--cache",
        str(args.cache),
        "--child-out",
        str(out),
    ]
    if tune:
        cmd.append("--tune")
    if chunking:
        cmd += ["--child-chunking", f"{chunking[0]}/{chunking[1]}"]
    # The child imports `lockgate` from `src` first; the parent's own path stays out.
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run(cmd, check=True, env=env)
    return dict(json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="root of another checkout (e.g. a git worktree of main) to compare",
    )
    ap.add_argument("--corpus", type=Path, default=DEFAULT_DIR / "corpus")
    ap.add_argument("--cache", type=Path, default=DEFAULT_DIR / "vectors.npz")
    ap.add_argument("--work", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--tune", action="store_true", help="score fusion settings on dev")
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--export-eval",
        type=Path,
        default=None,
        metavar="PATH",
        help="write the tasks as a `lockgate eval run` dataset (tagged dev/test) and stop",
    )
    ap.add_argument(
        "--chunking",
        default=None,
        metavar="T/O[,T/O...]",
        help="instead of the comparison: this checkout with each chunk target/overlap "
        "(characters), e.g. 600/100,1000/150,1500/200; choose on dev",
    )
    ap.add_argument("--child-chunking", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-src", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_src is not None:
        chunking = _chunking(args.child_chunking)[0] if args.child_chunking else None
        child(args.child_src, args.corpus, args.cache, args.child_out, args.tune, chunking)
        return 0

    import build_corpus
    from _common import ROOT, print_table, summary_ms, write_json

    if args.export_eval is not None:
        export_eval(args.export_eval)
        return 0

    args.work.mkdir(parents=True, exist_ok=True)
    if not args.corpus.exists():
        build_corpus.main([str(args.corpus)])
    else:
        problems = build_corpus.compare(
            {p.stem: {"gz_sha256": "", "md_sha256": _sha(p)} for p in args.corpus.glob("*.md")},
            {
                k: {**v, "gz_sha256": ""}
                for k, v in json.loads(build_corpus.MANIFEST.read_text()).items()
            },
        )
        if problems:
            print(f"{args.corpus} is not the manifest's corpus ({problems[:3]}...); rebuild it")
            return 1
    tasks = load_tasks()
    splits = {s: [t for t in tasks if t["split"] == s] for s in ("dev", "test")}
    print(f"{len(tasks)} tasks ({len(splits['dev'])} dev, {len(splits['test'])} test)")
    if args.chunking:
        return chunking_sweep(args, _chunking(args.chunking), splits)
    checkouts = {"this": ROOT / "src"}
    if args.baseline is not None:
        checkouts = {"baseline": args.baseline / "src", **checkouts}
    runs = {
        label: run_child(src, args, args.tune and label == "this")
        for label, src in checkouts.items()
    }
    rows, report = [], {}
    plan = [
        ("BM25 alone", "this", "bm25"),
        ("dense alone (chunk max-sim per doc)", "this", "dense"),
    ]
    if "baseline" in runs:
        plan.append(("baseline default (retriever.search)", "baseline", "default"))
    if "fusion_chunk_order" in runs["this"]["systems"]:
        plan.append(("  part: this fusion, chunk order", "this", "fusion_chunk_order"))
        plan.append(("  part: dense alone, ranked by document", "this", "dense_by_document"))
    plan.append(("this default (retriever.search)", "this", "default"))
    for who in runs:
        if "http" in runs[who]["systems"]:
            plan.append((f"{who} default via POST /v1/search", who, "http"))
    for label, who, system in plan:
        data = runs[who]["systems"][system]
        entry = {s: scores(ts, data["rankings"]) for s, ts in splits.items()}
        entry["latency"] = summary_ms(data["seconds"])
        report[f"{who}:{system}"] = entry
        rows.append(
            [
                label,
                entry["dev"]["recall@10"],
                entry["dev"]["ndcg@10"],
                entry["test"]["recall@10"],
                entry["test"]["ndcg@10"],
                entry["latency"]["p50_ms"],
            ]
        )
    lat = runs["this"].get("latency_interleaved")
    if lat:
        print_table(
            "Search latency, interleaved in one process (best of 5 per question, ms)",
            ["settings", "p50", "p95", "vector p50", "bm25 p50", "fuse+fetch p50"],
            [
                [
                    name,
                    v["total"]["p50_ms"],
                    v["total"]["p95_ms"],
                    v.get("vector"),
                    v.get("bm25"),
                    v.get("fuse_fetch"),
                ]
                for name, v in lat.items()
            ],
        )
    print_table(
        "Document retrieval on the manual-page KB (k=10)",
        ["system", "dev R@10", "dev nDCG@10", "test R@10", "test nDCG@10", "p50 ms"],
        rows,
    )
    write_json(
        args.json,
        {
            "benchmark": "retrieval_kb",
            "tasks": {s: len(ts) for s, ts in splits.items()},
            "ingest": {who: r["ingest"] for who, r in runs.items()},
            "results": report,
            "per_task": {
                f"{who}:{s}": r["systems"][s]["rankings"]
                for who, r in runs.items()
                for s in r["systems"]
            },
            "tuning_dev": runs["this"].get("tuning"),
            "latency_interleaved": lat,
        },
    )
    return 0


def _chunking(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        target, _, overlap = part.partition("/")
        out.append((int(target), int(overlap or 0)))
    return out


def chunking_sweep(
    args: argparse.Namespace,
    settings: list[tuple[int, int]],
    splits: dict[str, list[dict[str, Any]]],
) -> int:
    """Each chunk size through the whole corpus: ingest, then the three retrievers."""
    from _common import ROOT, print_table, write_json

    rows, report = [], {}
    for chunking in settings:
        run = run_child(ROOT / "src", args, False, chunking)
        for system in ("bm25", "dense", "default"):
            data = run["systems"][system]
            entry = {s: scores(ts, data["rankings"]) for s, ts in splits.items()}
            report[f"{chunking[0]}/{chunking[1]}:{system}"] = {**entry, "ingest": run["ingest"]}
            rows.append([f"{chunking[0]}/{chunking[1]}", system, run["ingest"]["chunks"],
                         entry["dev"]["recall@10"], entry["dev"]["ndcg@10"],
                         entry["test"]["recall@10"], entry["test"]["ndcg@10"]])
    print_table(
        "Chunk size and overlap on the manual-page KB (choose on dev; k=10)",
        ["target/overlap", "system", "chunks", "dev R@10", "dev nDCG@10", "test R@10",
         "test nDCG@10"],
        rows,
    )
    write_json(args.json, {"benchmark": "retrieval_kb_chunking", "results": report})
    return 0


def export_eval(path: Path) -> None:
    """The tasks in the evaluation dataset format: expected sources are the Markdown files
    (matched by path suffix), the split is a tag, so a run can be filtered to `test`."""
    lines = [
        json.dumps(
            {
                "id": t["id"],
                "input": t["question"],
                "expected_sources": [f"{d}.md" for d in t["relevant"]],
                "tags": ["kb", t["split"]],
            }
        )
        for t in load_tasks()
    ]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} cases to {path}")


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
