"""Latency of the default policy's input scanners together, on ~500-token prompts.

    .venv/bin/python bench/guardrails/bench_input_scanners.py [--runs 300] [--json PATH]
        [--extra]

What runs: `GuardEngine.scan(direction="in")` with the shipped `GuardrailsConfig()` default
policy (PII redact, injection block, toxicity block), exactly as a request pays it: scanners
one after another, each through the engine's thread pool, plus redaction into a vault.
Per-scanner times are the engine's own `ScannerOutcome.latency_ms`. CPU time of the whole scan is
reported too, because on a shared box wall time includes waiting for a core.

Prompts: ~500 tokens (2,300 characters) of benign prose from `pii_negatives.jsonl` with
labelled PII sentences from `pii_eval.jsonl` mixed in (the shape `bench_pii.py` times), so
redaction does real work; 50 different prompts, cycled.

`--extra` also times the scanners the issue lets us report separately because they run a
model: PII with spaCy NER (`params: {ner: true}`) and the MiniLM topic scanner with the
bench's deny-list policy (`data/topic_policy.json`). Neither is in the default input policy.

Target: all input scanners together p95 <= 15 ms for a 500-token prompt.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import print_table, summary_ms, write_json  # noqa: E402

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule  # noqa: E402
from lockgate.guardrails.base import ScanContext  # noqa: E402
from lockgate.guardrails.engine import GuardEngine  # noqa: E402
from lockgate.guardrails.registry import ScannerDeps  # noqa: E402
from lockgate.guardrails.vault import Vault  # noqa: E402

DATA = HERE / "data"
TARGET_P95_MS = 15.0
PROMPT_CHARS = 2_300


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (DATA / name).read_text().splitlines() if x.strip()]


def prompts_500_tokens(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    benign = [x["text"] for x in _jsonl("pii_negatives.jsonl") if x["kind"] == "benign"]
    pii = [x["text"] for x in _jsonl("pii_eval.jsonl")]
    out = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < PROMPT_CHARS:
            parts.append(rng.choice(benign) if rng.random() < 0.7 else rng.choice(pii))
        out.append(" ".join(parts)[:PROMPT_CHARS] + " Can you summarise this for me?")
    return out


def time_policy(engine: GuardEngine, policy: GuardPolicy, prompts: list[str], runs: int
                ) -> dict[str, Any]:
    for rule in policy.input:
        engine.scanner(rule)  # load models outside the timed loop
    for p in prompts[:5]:
        engine.scan(p, ScanContext(direction="in"), policy, Vault())
    wall: list[float] = []
    cpu: list[float] = []
    per: dict[str, list[float]] = {r.scanner: [] for r in policy.input}
    actions: dict[str, int] = {}
    for i in range(runs):
        text = prompts[i % len(prompts)]
        c0, t0 = time.process_time(), time.perf_counter()
        result = engine.scan(text, ScanContext(direction="in"), policy, Vault())
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        for o in result.outcomes:
            per[o.scanner].append(o.latency_ms / 1000)
        actions[result.action] = actions.get(result.action, 0) + 1
    return {"total": summary_ms(wall), "total_cpu": summary_ms(cpu),
            "per_scanner": {k: summary_ms(v) for k, v in per.items()}, "actions": actions}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="default input scanners, latency together")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--extra", action="store_true", help="also time NER PII and MiniLM topic")
    args = ap.parse_args(argv)

    prompts = prompts_500_tokens(50)
    config = GuardrailsConfig()
    policy = config.policies[config.default_policy]
    embedder = None
    if args.extra:
        from lockgate.models.minilm import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    engine = GuardEngine(config, ScannerDeps(embedder))  # type: ignore[arg-type]
    results: dict[str, Any] = {"runs": args.runs, "prompt_chars": PROMPT_CHARS,
                               "target_p95_ms": TARGET_P95_MS,
                               "default_input": [r.scanner for r in policy.input]}
    results["default"] = time_policy(engine, policy, prompts, args.runs)
    rows = [[f"{name} (engine)", v["n"], v["p50_ms"], v["p95_ms"], v["p99_ms"]]
            for name, v in results["default"]["per_scanner"].items()]
    d = results["default"]
    rows.append(["all default input, wall", d["total"]["n"], d["total"]["p50_ms"],
                 d["total"]["p95_ms"], d["total"]["p99_ms"]])
    rows.append(["all default input, CPU", d["total_cpu"]["n"], d["total_cpu"]["p50_ms"],
                 d["total_cpu"]["p95_ms"], d["total_cpu"]["p99_ms"]])

    if args.extra:
        topic = json.loads((DATA / "topic_policy.json").read_text())
        extras = {
            "pii + NER": ScannerRule(scanner="pii", action="redact", params={"ner": True}),
            "topic (MiniLM)": ScannerRule(scanner="topic", action="block", params={
                "deny": topic["deny"], "reference": topic["reference"]}),
        }
        results["separate"] = {}
        for label, rule in extras.items():
            one = GuardPolicy(input=[rule])
            r = time_policy(engine, one, prompts, max(20, args.runs // 10))
            results["separate"][label] = r
            rows.append([f"{label}, wall (separate)", r["total"]["n"], r["total"]["p50_ms"],
                         r["total"]["p95_ms"], r["total"]["p99_ms"]])
    print_table(f"Default input scanners on ~500-token prompts ({PROMPT_CHARS} chars), "
                f"target p95 <= {TARGET_P95_MS} ms",
                ["scanner", "runs", "p50 ms", "p95 ms", "p99 ms"], rows)
    write_json(args.json_path, {"benchmark": "guardrails_input_scanners", **results})


if __name__ == "__main__":
    main()
