"""Router: share of requests per model and cost saved against always-large, on a mixed set.

    .venv/bin/python bench/bench_router.py [--json out.json]

The set: the 21 grounded questions of samples/questions.jsonl (factual look-ups over the
sample corpus, labelled "small is enough") plus bench/data/router_questions.jsonl (harder
questions, small ones outside the corpus, multi-turn conversations; each labelled by hand
with the tier it needs). Every request goes through the live gateway (create_app, the real
default pipeline with guardrails and the real retrieval over the ingested sample corpus, so
the retrieval-confidence signal is real) against the in-process mock backend, with two models
priced like a small and a large hosted model (USD per 1k tokens: 0.00015/0.0006 vs
0.0025/0.01).

Cost: the mock backend's token counts are not realistic, so each request is priced from
its real prompt (the trace's prompt text, ~4 characters per token) and a fixed 150-token
answer, once at the chosen model's prices and once at the large model's. Quality: no large
model runs here, so quality is measured as routing agreement with the labels: the share of
"needs large" requests that the router kept on the large model (a miss is a quality risk)
and of "small is enough" requests it sent small (a miss is lost savings).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import _common  # noqa: F401  (sys.path)
from _common import BENCH, SAMPLES, machine, print_table, temp_home, write_json

PRICES = {"small": (0.00015, 0.0006), "large": (0.0025, 0.01)}
ANSWER_TOKENS = 150


def load_set() -> list[dict[str, Any]]:
    rows = []
    for line in (SAMPLES / "questions.jsonl").read_text().splitlines():
        if line.strip():
            rows.append({"q": json.loads(line)["question"], "grounded": True, "needs": "small"})
    for line in (BENCH / "data" / "router_questions.jsonl").read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import httpx
    import torch

    from lockgate.config import ModelSpec, Settings
    from lockgate.gateway.app import create_app
    from lockgate.ingest.pipeline import Ingestor
    from lockgate.models.base import estimate_tokens
    from lockgate.models.minilm import MiniLMEmbedder
    from tests.conftest import make_services
    from tests.support.server import serve

    torch.set_num_threads(1)  # see bench_cache.py: 2 shared cores, contention otherwise
    embedder = MiniLMEmbedder()
    rows = load_set()
    results = []
    with temp_home() as tmp:
        models = dict(Settings(home=tmp / "home").models)
        for tier, (pin, pout) in PRICES.items():
            # The in-process mock: what is measured is the routing decision, not the wire.
            models[f"echo-{tier}"] = ModelSpec(
                backend="mock",
                context_window=16384,
                price_input_per_1k=pin,
                price_output_per_1k=pout,
            )
        routes = {"small": "echo-small", "large": "echo-large"}
        settings = Settings(
            home=tmp / "home",
            models=models,  # type: ignore[arg-type]
            grounded={"model": "echo-large"},  # type: ignore[arg-type]
            cache={"enabled": False},  # type: ignore[arg-type]
            auth={"allow_anonymous": True},  # type: ignore[arg-type]
            routing={"routes": {"lockgate": routes, "echo-large": routes}},  # type: ignore[arg-type]
        )
        services = make_services(settings, embedder)
        Ingestor(services.documents, services.runs, embedder, settings.ingest).run(
            [str(SAMPLES / "corpus")]
        )
        with serve(create_app(services, preload_models=True), ready_path="/readyz") as base:
            for row in rows:
                turns = row.get("turns") or [row["q"]]
                messages = []
                for i, t in enumerate(turns):
                    if i:
                        messages.append({"role": "assistant", "content": "(earlier answer)"})
                    messages.append({"role": "user", "content": t})
                body = {
                    "model": "lockgate" if row["grounded"] else "echo-large",
                    "messages": messages,
                }
                resp = httpx.post(base + "/v1/chat/completions", json=body, timeout=60).json()
                trace = services.traces.get(resp["lockgate"]["trace_id"])
                route = trace["route"] or {}
                tier = route.get("tier", "none (refused before routing)")
                prompt = trace["prompt"] or json.dumps(messages)
                tin = estimate_tokens(prompt)
                price = PRICES.get(tier, (0.0, 0.0))
                large = PRICES["large"]
                results.append(
                    {
                        "q": turns[-1][:70],
                        "needs": row["needs"],
                        "tier": tier,
                        "reason": route.get(
                            "reason", trace["output"][:40] if trace["refused"] else ""
                        ),
                        "cost": (tin * price[0] + ANSWER_TOKENS * price[1]) / 1000,
                        "always_large": (tin * large[0] + ANSWER_TOKENS * large[1]) / 1000,
                        "refused": bool(trace["refused"]),
                    }
                )
        from lockgate.routing.report import routing_report

        gateway_report = routing_report(services.engine, settings)
    routed = [r for r in results if r["tier"] in ("small", "large")]
    cost = sum(r["cost"] for r in routed)
    always = sum(r["always_large"] for r in routed)
    need_large = [r for r in routed if r["needs"] == "large"]
    need_small = [r for r in routed if r["needs"] == "small"]
    summary = {
        "requests": len(results),
        "routed": len(routed),
        "refused_before_routing": len(results) - len(routed),
        "share_small": round(sum(r["tier"] == "small" for r in routed) / len(routed), 4),
        "cost_usd": round(cost, 6),
        "always_large_usd": round(always, 6),
        "saved_pct": round(100 * (always - cost) / always, 2),
        "needs_large_kept_large": f"{sum(r['tier'] == 'large' for r in need_large)}/"
        f"{len(need_large)}",
        "small_enough_sent_small": f"{sum(r['tier'] == 'small' for r in need_small)}/"
        f"{len(need_small)}",
    }
    print_table(
        "Routing decisions",
        ["question", "needs", "routed", "reason"],
        [[r["q"], r["needs"], r["tier"], r["reason"][:60]] for r in results],
    )
    print_table("Summary", list(summary), [list(summary.values())])
    print(
        "gateway report (mock-backend token counts):",
        json.dumps({k: gateway_report[k] for k in ("share", "saved_pct", "large_reasons")}),
    )
    write_json(
        args.json,
        {
            "machine": machine(),
            "started": time.time(),
            "summary": summary,
            "rows": results,
            "gateway_report": gateway_report,
        },
    )


if __name__ == "__main__":
    main()
