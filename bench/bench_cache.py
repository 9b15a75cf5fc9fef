"""Response cache: paraphrase hit rate / near-miss false-hit rate, and hit server time.

    .venv/bin/python bench/bench_cache.py [--requests 300] [--json out.json]

1. Paraphrase set (bench/data/paraphrases.jsonl): each anchor question is stored in a fresh
   cache (real SQLite, real MiniLM); then every paraphrase and every near-miss is looked up
   in the same scope. A paraphrase counts as a hit when it is served the anchor's answer; a
   near-miss counts as a false hit when it is served anything (no near-miss has a right
   answer in the cache). Reported per split: `dev` rows were used to choose the stopword list,
   stemmer and threshold; `heldout` rows were written after that and not tuned on. The same
   run also shows cosine-only matching (no lexical check) at several thresholds.
2. Hit server time: a live gateway (create_app on loopback, fake upstream for the model,
   SQLite store, default pipeline) answers each question once (miss, stored), then N more
   times; server time is the trace's `latency_ms` (request parsed -> response ready; the trace
   write itself is not in it). Exact grounded hits, exact pass-through hits and semantic
   grounded hits are reported apart, with the default guardrail policy on and off.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (sys.path)
from _common import BENCH, machine, print_table, summary_ms, temp_home, write_json

from lockgate.cache.keys import normalise_text
from lockgate.cache.service import ResponseCache
from lockgate.cache.store import SqliteCacheStore
from lockgate.config import CacheConfig, EmbeddingSpec
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate

DATA = BENCH / "data" / "paraphrases.jsonl"


def paraphrase_run(embedder: MiniLMEmbedder, tmp: Path, cfg: CacheConfig) -> dict[str, Any]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    engine = make_engine(f"sqlite:///{tmp / f'para-{cfg.similarity}-{cfg.semantic}.db'}")
    migrate(engine)
    # The question path the gateway uses (int8 by default).
    cache = ResponseCache(cfg, SqliteCacheStore(engine), embedder.for_queries())
    scope = "bench-scope"
    answers: dict[int, str] = {}
    for row in rows:
        miss = cache.lookup(scope, normalise_text(row["anchor"]), True)
        answers[row["id"]] = f"answer {row['id']}"
        cache.save(
            miss,
            tenant="t",
            model="m",
            answer={"output": answers[row["id"]]},
            documents=[],
            ttl_s=3600,
            trace_id=None,
            embed=True,
        )
    out: dict[str, Any] = {}
    misses: list[dict[str, Any]] = []
    for split in ("dev", "heldout", "all"):
        hits = paras = false_hits = nears = 0
        for row in rows:
            if split != "all" and row["split"] != split:
                continue
            for p in row["paraphrases"]:
                paras += 1
                found = cache.lookup(scope, normalise_text(p), True)
                ok = found.entry is not None and found.entry.answer["output"] == answers[row["id"]]
                hits += ok
                if not ok and split == "all":
                    misses.append({"kind": "paraphrase missed", "anchor": row["anchor"], "q": p})
            for n in row["near_misses"]:
                nears += 1
                found = cache.lookup(scope, normalise_text(n), True)
                bad = found.status == "hit"
                false_hits += bad
                if bad and split == "all":
                    misses.append({"kind": "false hit", "anchor": row["anchor"], "q": n})
        out[split] = {
            "paraphrases": paras,
            "hit_rate": round(hits / paras, 4),
            "near_misses": nears,
            "false_hit_rate": round(false_hits / nears, 4),
        }
    out["errors"] = misses
    return out


def _server_times(services: Any, trace_ids: list[str]) -> list[float]:
    return [services.traces.get(t)["latency_ms"] / 1000 for t in trace_ids]


def _answering_upstream() -> Any:
    """Like the fake upstream, but a grounded prompt gets a plausible grounded answer (the
    first sentence of source [1], cited) instead of an echo of the prompt, which the output
    guardrails would rightly block as a system-prompt leak and the cache would not store."""
    import re

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from tests.support import fake_upstream

    source = re.compile(r"\[1\] \([^)]*\)\n(.+?[.!?])(?:\s|$)", re.S)

    async def chat(request: Request) -> Response:
        body = await request.json()
        last = body["messages"][-1]["content"]
        # The template's worked example also has a [1]; the real sources come after it.
        found = list(source.finditer(last))
        m = found[-1] if found else None
        if m is None or body.get("stream"):
            return await fake_upstream.chat(request)
        text = " ".join(m.group(1).split()) + " [1]"
        usage = {"prompt_tokens": len(last) // 4, "completion_tokens": 12, "total_tokens": 0}
        return JSONResponse(
            {
                "id": "up-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    app.state.calls = []
    return app


def hit_latency(embedder: MiniLMEmbedder, tmp: Path, n: int, guard_on: bool) -> dict[str, Any]:
    import httpx

    from lockgate.gateway.app import create_app
    from lockgate.ingest.pipeline import Ingestor
    from tests.conftest import make_services, make_settings
    from tests.support.server import serve

    docs = tmp / f"docs-{guard_on}"
    docs.mkdir()
    (docs / "refunds.md").write_text(
        "# Refunds\n\nAnnual plans are refunded within 30 days of purchase. Monthly plans are "
        "not refunded.\n"
    )
    (docs / "support.md").write_text("# Support\n\nSupport is available by email on weekdays.\n")
    result: dict[str, Any] = {}
    with serve(_answering_upstream()) as up:
        # Explicit: the test helper's defaults switch guardrails and the cache off.
        overrides: dict[str, Any] = {
            "grounded": {"model": "echo"},
            "cache": {"enabled": True},
            "guardrails": {"enabled": guard_on},
        }
        settings = make_settings(tmp / f"home-{guard_on}", up + "/v1", **overrides)
        services = make_services(settings, embedder)
        Ingestor(services.documents, services.runs, services.embedder, settings.ingest).run(
            [str(docs)]
        )
        app = create_app(services, preload_models=guard_on)
        with serve(app, ready_path="/healthz") as base, httpx.Client(timeout=60) as client:
            if guard_on:
                services.guard.warm()

            def ask(model: str, q: str) -> dict[str, Any]:
                body = {"model": model, "messages": [{"role": "user", "content": q}]}
                resp = client.post(base + "/v1/chat/completions", json=body)
                resp.raise_for_status()
                return resp.json()

            cases = {
                "grounded exact hit": (
                    "lockgate",
                    "What is the refund window for annual plans?",
                    "What is the refund window for annual plans?",
                ),
                "pass-through exact hit": (
                    "echo",
                    "Summarise our refund terms",
                    "Summarise our refund terms",
                ),
                "grounded semantic hit": (
                    "lockgate",
                    "Is support available by email on weekdays?",
                    "Can you tell me if support is available by email on weekdays",
                ),
            }
            for name, (model, first, again) in cases.items():
                miss = ask(model, first)
                miss_ms = services.traces.get(miss["lockgate"]["trace_id"])["latency_ms"]
                ids, kinds = [], set()
                for _ in range(n):
                    body = ask(model, again)
                    kinds.add((body["lockgate"].get("cache") or {}).get("kind"))
                    ids.append(body["lockgate"]["trace_id"])
                stats = summary_ms(_server_times(services, ids))
                stats["kinds"] = sorted(str(k) for k in kinds)
                stats["miss_ms"] = round(miss_ms, 3)
                stage = [
                    s["ms"]
                    for t in ids[-50:]
                    for s in services.traces.get(t)["stages"]
                    if s["stage"] == "cache_lookup"
                ]
                stats["cache_lookup_stage_p95_ms"] = round(
                    float(sorted(stage)[int(0.95 * (len(stage) - 1))]), 3
                )
                result[name] = stats
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--json", default=None)
    ap.add_argument("--int8", default=EmbeddingSpec().int8, choices=["off", "queries", "all"],
                    help="MiniLM int8 mode (default: as shipped)")
    ap.add_argument("--sweep", type=float, nargs="*", default=[0.85, 0.90, 0.95])
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args()
    import torch

    # This box has 2 cores shared with other work; two torch threads contending with that
    # load made one MiniLM call take ~1 s instead of ~50 ms. One thread is what a gateway
    # worker on a busy box should use anyway.
    torch.set_num_threads(args.threads)
    embedder = MiniLMEmbedder(int8=args.int8)
    embedder.embed(["warm up"])
    report: dict[str, Any] = {"machine": machine(), "started": time.time(), "args": vars(args)}
    with temp_home() as tmp:
        para = paraphrase_run(embedder, tmp, CacheConfig())
        report["paraphrases"] = para
        sweep = []
        for sim in args.sweep:
            for lexical in (True, False):
                cfg = CacheConfig(similarity=sim)
                r = paraphrase_run_variant(embedder, tmp, cfg, lexical)
                sweep.append([sim, "yes" if lexical else "no", r["hit_rate"], r["false_hit_rate"]])
        report["sweep"] = sweep
        report["hit_latency"] = {
            "guardrails default policy": hit_latency(embedder, tmp, args.requests, True),
            "guardrails off": hit_latency(embedder, tmp, args.requests, False),
        }
    print_table(
        "Paraphrase set (threshold 0.90 + lexical check)",
        ["split", "paraphrases", "hit rate", "near-misses", "false-hit rate"],
        [
            [k, v["paraphrases"], v["hit_rate"], v["near_misses"], v["false_hit_rate"]]
            for k, v in para.items()
            if k != "errors"
        ],
    )
    for e in para["errors"]:
        print(f"  {e['kind']}: {e['q']!r}  (anchor {e['anchor']!r})")
    if sweep:
        print_table(
            "Threshold sweep, all rows",
            ["cosine >=", "lexical check", "hit rate", "false-hit rate"],
            sweep,
        )
    for mode, cases in report["hit_latency"].items():
        print_table(
            f"Cache hit server time ({mode}), n={args.requests}",
            ["case", "p50 ms", "p95 ms", "p99 ms", "lookup stage p95 ms", "miss ms", "kinds"],
            [
                [
                    k,
                    v["p50_ms"],
                    v["p95_ms"],
                    v["p99_ms"],
                    v["cache_lookup_stage_p95_ms"],
                    v["miss_ms"],
                    ",".join(v["kinds"]),
                ]
                for k, v in cases.items()
            ],
        )
    write_json(args.json, report)


def paraphrase_run_variant(
    embedder: MiniLMEmbedder, tmp: Path, cfg: CacheConfig, lexical: bool
) -> dict[str, Any]:
    import lockgate.cache.service as service

    original = service.lexically_compatible
    if not lexical:
        service.lexically_compatible = lambda a, b: (True, "")  # type: ignore[assignment]
    try:
        return paraphrase_run(embedder, tmp, cfg)["all"]
    finally:
        service.lexically_compatible = original


if __name__ == "__main__":
    main()
