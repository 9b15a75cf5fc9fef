"""Where a grounded turn's time to first token goes on long PDF manuals: each pipeline
stage's own milliseconds, the model's first token and the client's, per question.

    .venv/bin/python bench/bench_turn_stages.py [--split dev] [--repeat 1] [--json out.json]

The manuals of `bench/manuals.py` are ingested into a fresh home, then each question of the
chosen split of `bench/data/manuals.jsonl` is asked through the real pipeline (streamed,
default guardrails, no cache), one at a time after an untimed warm-up. Per stage, p50 and
p95 of its own time (without the stages inside it) over the turns; "before the model" is the
model call's start offset within the turn, so the table says what to shorten. Answers are
not scored here (bench_answers.py does that on the test split)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from _common import BENCH, machine, pct, print_table, write_json


def run(split: str, repeat: int) -> dict[str, Any]:
    import sys

    sys.path.insert(0, str(BENCH))
    import manuals

    from lockgate.config import Settings
    from lockgate.engine.turn import Principal
    from lockgate.eval.dataset import load_cases
    from lockgate.eval.runner import EvalRunner, RunOptions
    from lockgate.ingest.pipeline import Ingestor
    from lockgate.models.minilm import MiniLMEmbedder
    from lockgate.services import Services

    texts = manuals.texts()
    rows, _ = manuals.cases(texts, split)
    with tempfile.TemporaryDirectory(prefix="lockgate-stages-") as tmp:
        pdfs = Path(tmp) / "pdfs"
        pdfs.mkdir()
        manuals.build(pdfs)
        path = Path(tmp) / "rows.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        cases = [c for c in load_cases(path) if not c.should_refuse]
        embedder = MiniLMEmbedder()
        settings = Settings(home=Path(tmp) / "home")
        services = Services(settings, preloaded_embedder=embedder)
        _ = services.models  # as a gateway does at start-up: before the first embedding
        Ingestor(services.documents, services.runs, embedder, settings.ingest).run([str(pdfs)])
        runner = EvalRunner(services, Principal(), RunOptions(concurrency=1))
        asyncio.run(runner.run(cases[:1]))  # untimed: weights paged in, prefix cached
        turns: list[dict[str, Any]] = []
        for _ in range(repeat):
            records = asyncio.run(runner.run(cases))
            for r in records:
                trace = services.traces.get(r["trace_id"]) or {}
                stages: dict[str, float] = {}
                model: dict[str, Any] = {}
                for s in trace.get("stages") or []:
                    key = s["stage"] + (f" ({s['note']})" if s.get("note") else "")
                    stages[key] = stages.get(key, 0.0) + float(s["ms"])
                    if s["stage"] == "call_model" and not s.get("note"):
                        model = s
                turns.append({
                    "id": r["id"],
                    "client_ttft_ms": r["ttft_ms"],
                    "model_ttft_ms": trace.get("ttft_ms"),
                    "tokens_in": trace.get("tokens_in"),
                    "tokens_out": trace.get("tokens_out"),
                    "latency_ms": trace.get("latency_ms"),
                    "raw_output": (trace.get("raw_output") or "")[:400],
                    "answer": (r.get("answer") or "")[:400],
                    "before_model_ms": model.get("start_ms"),
                    "stages": stages,
                })
        services.engine.dispose()
    return {"split": split, "turns": turns}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="dev", choices=["dev", "test"])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    result = run(args.split, args.repeat)
    turns = result["turns"]
    names: list[str] = []
    for t in turns:
        names += [n for n in t["stages"] if n not in names]
    rows = []
    for n in names:
        vals = [t["stages"][n] for t in turns if n in t["stages"]]
        rows.append([n, round(pct(vals, 50), 1), round(pct(vals, 95), 1)])
    for key in ("before_model_ms", "model_ttft_ms", "client_ttft_ms", "tokens_in"):
        vals = [float(t[key]) for t in turns if t.get(key) is not None]
        rows.append([f"= {key}", round(pct(vals, 50), 1), round(pct(vals, 95), 1)])
    print_table(f"Turn time by stage, manuals {args.split} split, {len(turns)} turns, load "
                f"{load0:.1f} -> {os.getloadavg()[0]:.1f}", ["stage", "p50 ms", "p95 ms"], rows)
    if args.json:
        write_json(args.json, {"machine": machine(), **result})


if __name__ == "__main__":
    main()
