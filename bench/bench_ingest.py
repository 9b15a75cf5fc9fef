"""Ingest throughput: generate a mixed-format corpus, run the real `Ingestor` on it.

    .venv/bin/python bench/bench_ingest.py [--pages 500] [--seed 0] [--json out.json]

The corpus comes from bench/corpus_gen.py (txt, md, html, pdf, docx, csv, json; a page is
~2,500-3,000 characters). The run is the product's own `Ingestor.run` against a fresh SQLite
store under a temporary LOCKGATE_HOME, with the bundled MiniLM embedder (loaded and warmed
before the clock starts). Time is split without touching product code: the embedder and
`DocumentStore.commit_version` are wrapped with timers, every file's `_one` call is timed
per format, and the ingest summary's own per-stage timings (`stages_ms`: parse, normalize,
chunk, embed, commit, ...) are reported next to them. A second `run` over the unchanged
corpus measures the skip path.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import Stopwatch, print_table, temp_home, write_json

from lockgate.config import Settings
from lockgate.ingest.pipeline import Ingestor
from lockgate.services import Services

try:
    from bench.corpus_gen import generate
except ModuleNotFoundError:
    from corpus_gen import generate

TARGET_PAGES_PER_S = 20.0


class TimedEmbedder:
    """Pass-through embedder that times every call (tokenisation + encoder)."""

    def __init__(self, inner: Any, sw: Stopwatch) -> None:
        self.inner = inner
        self.sw = sw
        self.name = getattr(inner, "name", "embedder")
        self.dimensions = getattr(inner, "dimensions", 384)
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> Any:
        self.texts += len(texts)
        with self.sw("embed"):
            return self.inner.embed(texts)

    def ready(self) -> bool:
        return True


def _timed(fn: Any, sw: Stopwatch, label: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with sw(label):
            return fn(*args, **kwargs)

    return wrapper


def run(pages: int, seed: int, keep: bool) -> dict[str, Any]:
    with temp_home(keep=keep) as tmp:
        corpus = tmp / "corpus"
        corpus.mkdir()
        t0 = time.perf_counter()
        stats = generate(corpus, pages, seed)
        gen_s = time.perf_counter() - t0
        total_bytes = sum(s.bytes for s in stats.values())
        print(f"generated {sum(s.files for s in stats.values())} files, {pages} pages, "
              f"{total_bytes / 1024:.0f} KiB in {gen_s:.1f}s under {corpus}", flush=True)

        settings = Settings(home=tmp / "home")
        services = Services(settings)
        t0 = time.perf_counter()
        services.embedder.embed(["warm up"])
        load_s = time.perf_counter() - t0

        sw = Stopwatch()
        embedder = TimedEmbedder(services.embedder, sw)
        store = services.documents
        store.commit_version = _timed(store.commit_version, sw, "store")  # type: ignore[method-assign]
        ingestor = Ingestor(store, services.runs, embedder, settings.ingest,
                            exclude=[settings.home])

        per_format: dict[str, dict[str, float]] = {}
        original_one = ingestor._one

        def one(path: Path, *args: Any) -> str:
            fmt = path.suffix.lstrip(".")
            before = sw.totals.copy()
            t = time.perf_counter()
            outcome = original_one(path, *args)
            row = per_format.setdefault(fmt, {"seconds": 0.0, "embed_s": 0.0, "files": 0})
            row["seconds"] += time.perf_counter() - t
            row["embed_s"] += sw.totals.get("embed", 0.0) - before.get("embed", 0.0)
            row["files"] += 1
            return outcome

        ingestor._one = one  # type: ignore[method-assign]
        t0 = time.perf_counter()
        summary = ingestor.run([str(corpus)])
        wall = time.perf_counter() - t0

        t0 = time.perf_counter()
        again = Ingestor(store, services.runs, services.embedder, settings.ingest,
                         exclude=[settings.home]).run([str(corpus)])
        rerun_s = time.perf_counter() - t0
        db_bytes = (tmp / "home" / "lockgate.db").stat().st_size

    embed_s = sw.totals.get("embed", 0.0)
    store_s = sw.totals.get("store", 0.0)
    product_stages = {k: round(v / 1000, 3) for k, v in
                      (getattr(summary, "stages_ms", None) or {}).items()}
    chunks = summary.chunks
    fmt_rows = {}
    for fmt, s in sorted(stats.items()):
        pf = per_format.get(fmt, {"seconds": 0.0, "embed_s": 0.0, "files": 0})
        fmt_rows[fmt] = {
            "files": s.files, "pages": s.pages, "kib": round(s.bytes / 1024),
            "seconds": round(pf["seconds"], 3), "embed_s": round(pf["embed_s"], 3),
            "pages_per_s": round(s.pages / pf["seconds"], 2) if pf["seconds"] else None,
        }
    return {
        "params": {"pages": pages, "seed": seed},
        "corpus": {"files": sum(s.files for s in stats.values()), "pages": pages,
                   "kib": round(total_bytes / 1024), "generate_s": round(gen_s, 2)},
        "embedder_load_s": round(load_s, 3),
        "ingest": {
            "seen": summary.seen, "new": summary.new, "quarantined": summary.quarantined,
            "duplicates": summary.duplicates, "chunks": chunks,
            "pages_reported": summary.pages, "seconds": round(wall, 3),
            "pages_per_s": round(pages / wall, 2), "chunks_per_s": round(chunks / wall, 2),
            "files_per_s": round(summary.seen / wall, 2),
            "embedded_texts": embedder.texts,
        },
        "split_s": {"embed": round(embed_s, 3), "store": round(store_s, 3),
                    "everything_else": round(wall - embed_s - store_s, 3)},
        "product_stages_s": product_stages,
        "per_format": fmt_rows,
        "rerun_unchanged": {"seconds": round(rerun_s, 3), "unchanged": again.unchanged},
        "db_bytes": db_bytes,
        "target": {"pages_per_s": TARGET_PAGES_PER_S,
                   "met": pages / wall >= TARGET_PAGES_PER_S},
    }


def report(r: dict[str, Any]) -> None:
    ing = r["ingest"]
    print_table(
        f"Ingest of {r['corpus']['files']} files / {r['corpus']['pages']} pages "
        f"({r['corpus']['kib']} KiB); embedder load {r['embedder_load_s']:.1f}s (excluded)",
        ["files", "pages", "chunks", "seconds", "pages/s", "chunks/s", "quarantined"],
        [[ing["seen"], r["corpus"]["pages"], ing["chunks"], ing["seconds"], ing["pages_per_s"],
          ing["chunks_per_s"], ing["quarantined"]]],
    )
    sp = r["split_s"]
    wall = ing["seconds"]
    rows = [[f"{k} (bench timer)", v, 100 * v / wall] for k, v in sp.items()]
    rows += [[f"{k} (summary.stages_ms)", v, 100 * v / wall]
             for k, v in r["product_stages_s"].items()]
    print_table("Where the time goes", ["stage", "seconds", "share %"], rows)
    print_table(
        "Per format (seconds include parse, embed and store for that format's files)",
        ["format", "files", "pages", "KiB", "seconds", "embed s", "pages/s"],
        [[f, v["files"], v["pages"], v["kib"], v["seconds"], v["embed_s"],
          v["pages_per_s"] if v["pages_per_s"] is not None else float("nan")]
         for f, v in r["per_format"].items()],
    )
    rr = r["rerun_unchanged"]
    print(f"\nre-run over the unchanged corpus: {rr['seconds']:.2f}s "
          f"({rr['unchanged']} files skipped)")
    verdict = "MET" if r["target"]["met"] else "NOT MET"
    print(f"target >= {TARGET_PAGES_PER_S:.0f} pages/s including embeddings: "
          f"{ing['pages_per_s']:.1f} pages/s -> {verdict}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=500, help="corpus size in pages (default 500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary home and corpus")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)
    result = run(args.pages, args.seed, args.keep)
    report(result)
    write_json(args.json, {"benchmark": "ingest", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
