"""How many sources the embedded model gets: answer accuracy against time to first token.

    .venv/bin/python bench/bench_context_budget.py [--chunks 2,3] [--max-tokens 48]
        [--json out.json]

samples/corpus is ingested once; for every question of samples/questions.jsonl that names a
gold source, the gateway's own retrieve and build_prompt stages build the grounded prompt
with `grounded.context_chunks` = each value of `--chunks`, and the embedded Gemma answers it
(seed 0, greedy defaults). Reported per setting: prompt tokens, TTFT p50 / max, and accuracy
= the answer contains one of the question's `answer_contains` strings (case-insensitive).
Settings alternate per question, so the box's load moves both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from typing import Any

from _common import SAMPLES, print_table, temp_home, write_json
from bench_llm import build_prompt, direct_one

from lockgate.config import Settings
from lockgate.ingest.pipeline import Ingestor
from lockgate.services import Services


def load_gold() -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (SAMPLES / "questions.jsonl").read_text().splitlines() if x]
    return [r for r in rows if r.get("source") and r.get("answer_contains")]


def run(chunk_settings: list[int], max_tokens: int) -> dict[str, Any]:
    gold = load_gold()
    per: dict[int, list[dict[str, Any]]] = {n: [] for n in chunk_settings}
    with temp_home() as tmp:
        settings = Settings(home=tmp / "home")
        services = Services(settings)
        Ingestor(services.documents, services.runs, services.embedder, settings.ingest).run(
            [str(SAMPLES / "corpus")]
        )
        model = services.models.get(settings.grounded.model)

        async def go() -> None:
            warm = await build_prompt(services, "What is this about?", max_tokens)
            assert warm.request is not None
            await direct_one(model, warm.request)
            for item in gold:
                for n in chunk_settings:
                    settings.grounded.context_chunks = n
                    ctx = await build_prompt(services, item["question"], max_tokens)
                    assert ctx.request is not None
                    row = await direct_one(model, ctx.request)
                    answer = row["answer"].lower()
                    row["correct"] = any(a.lower() in answer for a in item["answer_contains"])
                    row["question"] = item["question"]
                    per[n].append(row)
                    print(
                        f"  {n} chunks: {'ok ' if row['correct'] else 'MISS'} "
                        f"{row['ttft_s']:.2f}s {item['question'][:60]}",
                        flush=True,
                    )

        asyncio.run(go())
    out: dict[str, Any] = {
        "params": {"max_tokens": max_tokens, "questions": len(gold)},
        "settings": {},
    }
    for n, rows in per.items():
        ttft = [r["ttft_s"] for r in rows]
        out["settings"][str(n)] = {
            "accuracy": round(sum(r["correct"] for r in rows) / len(rows), 3),
            "correct": sum(r["correct"] for r in rows),
            "prompt_tokens_p50": statistics.median(r["prompt_tokens"] or 0 for r in rows),
            "ttft_p50_s": round(statistics.median(ttft), 3),
            "ttft_max_s": round(max(ttft), 3),
            "rows": rows,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", default="2,3")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    result = run([int(x) for x in args.chunks.split(",")], args.max_tokens)
    rows = [
        [
            n,
            f"{r['correct']}/{len(r['rows'])}",
            r["accuracy"],
            r["prompt_tokens_p50"],
            r["ttft_p50_s"],
            r["ttft_max_s"],
        ]
        for n, r in result["settings"].items()
    ]
    print_table(
        "Grounded answers from the embedded model by number of sources",
        ["context_chunks", "correct", "accuracy", "prompt tok p50", "TTFT p50 s", "TTFT max s"],
        rows,
    )
    write_json(args.json, {"benchmark": "context_budget", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
