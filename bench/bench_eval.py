"""Evaluation throughput: gold-set cases per minute through `lockgate eval`'s runner.

    .venv/bin/python bench/bench_eval.py [--embedded-cases 10] [--fast-cases 84]
        [--concurrency 4] [--no-embedded] [--json out.json]

Ingests samples/corpus into a temporary LOCKGATE_HOME once, then runs the first N cases of
samples/eval/gold.jsonl through `EvalRunner` (the real pipeline in process: the default
guardrail policy, hybrid retrieval, traces written to SQLite, every metric computed,
embedding similarity included) with two models behind the grounded assistant:

1. fast: `bench/stdlib_upstream.py` in a subprocess on loopback, answering every call at once
   with a fixed "ok" (not streamed: it speaks plain JSON only). This is the harness's own
   cost per case: guardrails, retrieval, scoring, the trace and the store.
2. embedded: the bundled Gemma 3 270M (llama.cpp, streamed), as `lockgate eval run` uses it
   with the default config.

An untimed warm-up case runs first on each side (models loaded, caches paged in). Pass rates
are printed for completeness; with a model that says "ok" they mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from typing import Any

import _common  # noqa: F401  (sys.path)
from _common import BENCH, SAMPLES, print_table, temp_home, write_json

from lockgate.config import ModelSpec, Settings
from lockgate.engine.turn import Principal
from lockgate.eval.dataset import Case, load_cases
from lockgate.eval.runner import EvalRunner, RunOptions
from lockgate.ingest.pipeline import Ingestor
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.services import Services
from tests.support.server import free_port

GOLD = SAMPLES / "eval" / "gold.jsonl"


def run_side(
    label: str,
    settings: Settings,
    embedder: MiniLMEmbedder,
    cases: list[Case],
    concurrency: int,
    stream: bool,
) -> dict[str, Any]:
    services = Services(settings, preloaded_embedder=embedder)
    runner = EvalRunner(services, Principal(), RunOptions(concurrency=concurrency, stream=stream))
    asyncio.run(runner.run(cases[-1:]))  # warm-up, untimed
    t0 = time.perf_counter()
    records = asyncio.run(runner.run(cases))
    wall = time.perf_counter() - t0
    exp = runner.experiment(cases, records, GOLD, "bench")
    services.engine.dispose()
    m = exp["metrics"]
    return {
        "side": label,
        "model": settings.grounded.model,
        "cases": len(cases),
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "cases_per_min": round(len(cases) / wall * 60, 2),
        "pass_rate": round(exp["pass_rate"], 4),
        "latency_ms_mean": round(m.get("latency_ms", float("nan")), 1),
        "latency_ms_p95": round(m.get("latency_ms_p95", float("nan")), 1),
        "ttft_ms_mean": round(m.get("ttft_ms", float("nan")), 1),
        "errors": int(m.get("errors", 0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embedded-cases", type=int, default=10)
    ap.add_argument("--fast-cases", type=int, default=84)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--no-embedded", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    gold = load_cases(GOLD)
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    results = []
    with temp_home("lockgate-bench-eval-") as tmp:
        home = tmp / "home"
        base = Settings(home=home)
        services = Services(base, preloaded_embedder=embedder)
        t0 = time.perf_counter()
        summary = Ingestor(services.documents, services.runs, embedder, base.ingest).run(
            [str(SAMPLES / "corpus")]
        )
        print(f"ingested {summary.new} documents in {time.perf_counter() - t0:.1f} s")
        services.engine.dispose()

        port = free_port()
        upstream = subprocess.Popen([sys.executable, str(BENCH / "stdlib_upstream.py"), str(port)])
        try:
            time.sleep(0.5)
            fast = ModelSpec(
                backend="openai", base_url=f"http://127.0.0.1:{port}/v1", context_window=8192
            )
            grounded = base.grounded.model_copy(update={"model": "fast"})
            fast_settings = base.model_copy(
                update={"models": {**base.models, "fast": fast}, "grounded": grounded}
            )
            results.append(
                run_side(
                    "fast upstream",
                    fast_settings,
                    embedder,
                    gold[: args.fast_cases],
                    args.concurrency,
                    stream=False,
                )
            )
        finally:
            upstream.terminate()
            upstream.wait(timeout=10)
        if not args.no_embedded:
            results.append(
                run_side(
                    "embedded Gemma",
                    base,
                    embedder,
                    gold[: args.embedded_cases],
                    args.concurrency,
                    stream=True,
                )
            )

    headers = [
        "side",
        "cases",
        "conc",
        "wall s",
        "cases/min",
        "pass",
        "lat mean ms",
        "lat p95 ms",
        "ttft ms",
        "errors",
    ]
    rows = [
        [
            r["side"],
            r["cases"],
            r["concurrency"],
            r["wall_s"],
            r["cases_per_min"],
            r["pass_rate"],
            r["latency_ms_mean"],
            r["latency_ms_p95"],
            r["ttft_ms_mean"],
            r["errors"],
        ]
        for r in results
    ]
    print_table("evaluation throughput (gold set, default guardrails)", headers, rows)
    write_json(args.json, {"benchmark": "eval", "results": results})


if __name__ == "__main__":
    main()
