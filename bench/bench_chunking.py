"""Chunking strategies compared on retrieval quality for the bundled gold set.

    .venv/bin/python bench/bench_chunking.py [--strategies structure,fixed,page,semantic]
        [--k 5] [--target 1000] [--overlap 150] [--json out.json]

For each strategy, samples/corpus is ingested into a fresh store (real parsers, MiniLM,
SQLite FTS5) with that strategy for every format, then each question of
samples/questions.jsonl runs through the real hybrid retriever. Scores per strategy:
- source recall@1/@3/@k: the gold source document appears among the top 1/3/k chunks;
- MRR@k on the gold source (reciprocal rank of its first chunk, 0 if absent);
- answer hit@k: some chunk in the top k contains one of the question's `answer_contains`
  strings (the evidence itself was retrieved, not just its document);
- the number of chunks, their mean length, and ingest seconds.
Questions without a gold source (refusal checks) are left out; the rest is a small
set, so one question moves a score by several points.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import SAMPLES, print_table, temp_home, write_json

from lockgate.config import Settings
from lockgate.ingest.pipeline import Ingestor
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.services import Services


def evaluate(strategy: str, embedder: MiniLMEmbedder, k: int, target: int, overlap: int) -> dict:
    questions = [
        json.loads(x) for x in (SAMPLES / "questions.jsonl").read_text().splitlines() if x.strip()
    ]
    # Questions without a gold source test refusal, not retrieval: left out here.
    questions = [q for q in questions if q.get("source")]
    with temp_home(prefix=f"lockgate-chunking-{strategy}-") as tmp:
        settings = Settings(home=tmp / "home")
        settings.ingest.default_strategy = strategy
        settings.ingest.chunk_target_chars = target
        settings.ingest.chunk_overlap_chars = overlap
        services = Services(settings, preloaded_embedder=embedder)
        t0 = time.perf_counter()
        summary = Ingestor(services.documents, services.runs, embedder, settings.ingest).run(
            [str(SAMPLES / "corpus")]
        )
        ingest_s = time.perf_counter() - t0
        lengths = [
            len(c.text)
            for c in services.documents.chunks(services.documents.active_chunk_ids()).values()
        ]
        hits = {1: 0, 3: 0, k: 0}
        rr, answer_hits = 0.0, 0
        per_question = []
        for q in questions:
            chunks = services.retriever.search(q["question"], k=k).chunks
            ranks = [c.rank for c in chunks if c.source.endswith(q["source"])]
            first = ranks[0] if ranks else None
            for n in hits:
                hits[n] += int(first is not None and first <= n)
            rr += 1.0 / first if first else 0.0
            found = any(a.lower() in c.text.lower() for c in chunks for a in q["answer_contains"])
            answer_hits += int(found)
            per_question.append(
                {"question": q["question"], "gold_rank": first, "answer_hit": found}
            )
    n = len(questions)
    return {
        "strategy": strategy,
        "questions": n,
        "recall@1": round(hits[1] / n, 3),
        "recall@3": round(hits[3] / n, 3),
        f"recall@{k}": round(hits[k] / n, 3),
        f"mrr@{k}": round(rr / n, 3),
        f"answer_hit@{k}": round(answer_hits / n, 3),
        "chunks": summary.chunks,
        "mean_chunk_chars": round(sum(lengths) / max(1, len(lengths))),
        "ingest_s": round(ingest_s, 2),
        "per_question": per_question,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", default="structure,fixed,page,semantic")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--target", type=int, default=1000)
    ap.add_argument("--overlap", type=int, default=150)
    ap.add_argument("--json", dest="json_path", default=None)
    args = ap.parse_args()
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    results = [
        evaluate(s.strip(), embedder, args.k, args.target, args.overlap)
        for s in args.strategies.split(",")
        if s.strip()
    ]
    k = args.k
    headers = [
        "strategy",
        "recall@1",
        "recall@3",
        f"recall@{k}",
        f"mrr@{k}",
        f"answer_hit@{k}",
        "chunks",
        "mean_chars",
        "ingest_s",
    ]
    rows = [
        [
            r["strategy"],
            r["recall@1"],
            r["recall@3"],
            r[f"recall@{k}"],
            r[f"mrr@{k}"],
            r[f"answer_hit@{k}"],
            r["chunks"],
            r["mean_chunk_chars"],
            r["ingest_s"],
        ]
        for r in results
    ]
    print_table(
        f"Chunking strategies on samples/questions.jsonl (target {args.target} chars, "
        f"overlap {args.overlap})",
        headers,
        rows,
    )
    write_json(
        args.json_path,
        {
            "benchmark": "chunking",
            "k": k,
            "target": args.target,
            "overlap": args.overlap,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
