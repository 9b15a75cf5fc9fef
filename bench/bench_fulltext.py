"""The keyword (BM25) side on SQLite FTS5 and on PostgreSQL tsvector, on the knowledge base.

    .venv/bin/python bench/bench_fulltext.py [--corpus /tmp/lockgate-kb/corpus]
        [--server postgresql+psycopg://postgres@127.0.0.1:5432] [--json out.json]

The corpus and questions are `bench_retrieval_kb.py`'s (229 manual pages, 127 questions in
users' own words, each with the 2-4 pages a good answer needs; built on first use). It is
ingested twice through `Ingestor` with the default settings: into a SQLite store and into a
fresh PostgreSQL database (dropped afterwards). Only full-text search is measured, so chunk
vectors are seeded random unit vectors, not MiniLM's (embedding ~3,000 chunks would take
minutes on two cores and change nothing here).

Per question, as `bench_retrieval_kb.py`'s bm25 system: `text_index.search(q, 200)`, pages
ranked by their best chunk, document recall@10 and nDCG@10 over all questions (binary
relevance, `lockgate.eval.retrieval`), and the median of the best-of-three search times.
On PostgreSQL the index is rebuilt (same `add` path) for each text search configuration,
'english' (Snowball stemmer and stopwords, nearest to FTS5's porter tokenizer) and
'simple' (lower-cased words), and each is ranked with several `ts_rank_cd` normalisations,
alone and with each word's score weighed by its idf (`PostgresFts(idf=True)`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import print_table, temp_home, write_json
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from lockgate.config import Settings
from lockgate.eval.retrieval import ndcg_at_k, recall_at_k
from lockgate.ingest.pipeline import Ingestor
from lockgate.models.base import EmbeddingBackend
from lockgate.services import Services
from lockgate.store.db import transaction
from lockgate.store.documents import heading_field
from lockgate.store.fulltext import PG_CONFIG, PG_IDF, PG_NORMALIZATION, PostgresFts, TextIndex

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH / "kb"))
from bench_retrieval_kb import DEFAULT_DIR, K, by_document, load_tasks  # noqa: E402

# ts_rank_cd normalisation flags (PostgreSQL docs, "Ranking Search Results"); 32 (r/(r+1))
# keeps the order of what it is added to, so it is not a separate ranking.
# (4, mean extent distance, and 8, unique words, ranked below these in a first run.)
NORMALISATIONS = {0: "none", 1: "1+log(length)", 2: "length", 16: "1+log(unique words)"}


class RandomUnit(EmbeddingBackend):
    """A unit vector seeded by the text's hash: ingest needs vectors, this bench none."""

    name, dimensions = "random-unit", 384

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dimensions)
            out[i] = v / np.linalg.norm(v)
        return out


def ingest(settings: Settings, corpus: Path) -> Services:
    services = Services(settings, preloaded_embedder=RandomUnit())
    t0 = time.perf_counter()
    summary = Ingestor(services.documents, services.runs, services.embedder, settings.ingest).run(
        [str(corpus)]
    )
    print(
        f"  {services.engine.dialect.name}: {summary.new} documents, {summary.chunks} chunks "
        f"in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    return services


def reindex(engine: Engine, index: PostgresFts) -> None:
    """Every active chunk again, through `add`, with the index's configuration."""
    with transaction(engine) as conn:
        rows = conn.execute(
            text(
                "SELECT c.id, v.title, c.heading_path, c.text FROM chunks c "
                "JOIN document_versions v ON v.id = c.version_id WHERE c.active = 1"
            )
        ).all()
        conn.execute(text("DELETE FROM chunks_tsv"))
        index.add(
            conn, [(r.id, heading_field(r.title, json.loads(r.heading_path)), r.text) for r in rows]
        )


def measure(services: Services, index: TextIndex, tasks: list[dict[str, Any]]) -> dict[str, float]:
    sources = {
        cid: r.source
        for cid, r in services.documents.chunks(services.documents.active_chunk_ids()).items()
    }

    index.search(tasks[0]["question"], 200)  # warm up (term statistics, plans)
    recall = ndcg = 0.0
    times = []
    for t in tasks:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            hits = index.search(t["question"], 200)
            best = min(best, time.perf_counter() - t0)
        times.append(best)
        ranked = by_document([(sources[h.chunk_id], h.score) for h in hits], K)
        recall += recall_at_k(ranked, t["relevant"], K)
        ndcg += ndcg_at_k(ranked, t["relevant"], K)
    n = len(tasks)
    return {
        "recall@10": round(recall / n, 4),
        "ndcg@10": round(ndcg / n, 4),
        "p50_ms": round(float(np.median(times)) * 1000, 2),
    }


def corpus_at(path: Path) -> Path:
    if not (path.is_dir() and any(path.glob("*.md"))):
        import subprocess

        subprocess.run(
            [sys.executable, str(BENCH / "kb" / "build_corpus.py"), str(path)], check=True
        )
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_DIR / "corpus")
    ap.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    corpus = corpus_at(args.corpus)
    tasks = load_tasks()
    results: dict[str, dict[str, float]] = {}
    name = f"lockgate_bench_fts_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        f"{args.server}/postgres", poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with temp_home(prefix="lockgate-fts-") as tmp:
            lite = ingest(Settings(home=tmp / "sqlite"), corpus)
            results["SQLite FTS5 bm25 (porter)"] = measure(lite, lite.text_index, tasks)
            pg_settings = Settings(home=tmp / "pg", store={"url": f"{args.server}/{name}"})
            pg = ingest(pg_settings, corpus)
            max_df = pg_settings.retrieval.bm25_max_df
            for config in ("english", "simple"):
                reindex(pg.engine, PostgresFts(pg.engine, config=config))
                for idf in (False, True):
                    for flag, what in NORMALISATIONS.items():
                        index = PostgresFts(
                            pg.engine, max_df=max_df, config=config, normalization=flag, idf=idf
                        )
                        key = (
                            f"PostgreSQL '{config}' {'idf x ' if idf else ''}ts_rank_cd "
                            f"norm {flag} ({what})"
                        )
                        results[key] = measure(pg, index, tasks)
                        print(f"  {key}: {results[key]}", flush=True)
            pg.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    default = f"'{PG_CONFIG}', normalisation {PG_NORMALIZATION}, idf {PG_IDF}"
    print_table(
        f"Full-text side on the KB ({len(tasks)} questions; PostgreSQL default: {default})",
        ["index", "recall@10", "nDCG@10", "p50 ms"],
        [[k, v["recall@10"], v["ndcg@10"], v["p50_ms"]] for k, v in results.items()],
    )
    write_json(args.json, {"tasks": len(tasks), "results": results, "default": default})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
