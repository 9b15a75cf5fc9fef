"""Prefill speed of the embedded model (Gemma 3 270M, llama.cpp) on this machine: time to the
first token of a grounded prompt, with and without the fixed prompt prefix already in the KV
cache, for a few `n_threads` / `n_batch` settings side by side.

    .venv/bin/python bench/bench_prefill.py [--rounds 4] [--threads 1,2] [--batch 512]
        [--json out.json]

The prompt is the packaged grounded-answer template with sources cut from this machine's
man pages (the manuals benchmark's text) to about the size the sentence selection sends
(`--source-chars`, default 800). "warm" = the previous prompt shared the template's fixed
instructions and example (llama-cpp-python reuses the longest common token prefix of the
KV cache, so only the rest is prefilled); "cold" = the cache was reset first. Settings are
measured in alternating order, round by round; the box may be shared, so read the rows of
one run against each other. Reports the load average at start and end.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine, pct, print_table, write_json


def _sources(texts: list[str], chars: int, rng: random.Random) -> str:
    lines = [ln.strip() for t in texts for ln in t.splitlines() if len(ln.split()) > 6]
    picked: list[str] = []
    while sum(len(p) for p in picked) < chars:
        picked.append(rng.choice(lines))
    return "\n".join(f"[{i}] (manual.pdf, page {i})\n{p}" for i, p in enumerate(picked, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", default="512")
    ap.add_argument("--source-chars", type=int, default=800)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import manuals
    from llama_cpp import Llama

    from lockgate.models.llama_local import bundled_gguf
    from lockgate.prompts.registry import PromptRegistry

    template = PromptRegistry().get("grounded_answer").text
    texts = list(manuals.texts().values())
    rng = random.Random(7)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lockgate-prefill-") as tmp:
        path = bundled_gguf(Path(tmp))
        configs = [
            (t, b)
            for t in map(int, args.threads.split(","))
            for b in map(int, args.batch.split(","))
        ]
        models = {
            c: Llama(model_path=str(path), n_ctx=2048, n_threads=c[0], n_batch=c[1], verbose=False)
            for c in configs
        }
        rows: dict[tuple[int, int, str], list[tuple[float, int]]] = {}
        for r in range(args.rounds):
            order = configs if r % 2 == 0 else configs[::-1]
            for c in order:
                llm = models[c]
                for mode in ("cold", "warm"):
                    q = f"Which option sets value number {rng.randint(1, 99)}?"
                    prompt = template.replace("{sources}", _sources(texts, args.source_chars, rng))
                    prompt = prompt.replace("{question}", q).replace("{canary}", "")
                    tokens = llm.tokenize(prompt.encode(), add_bos=True)
                    if mode == "cold":
                        llm.reset()
                        reused = 0
                    else:
                        reused = sum(1 for _ in iter_prefix(llm.input_ids.tolist(), tokens))
                    t0 = time.perf_counter()
                    for _ in llm.create_completion(
                        prompt, max_tokens=1, stream=True, temperature=0.0
                    ):
                        break
                    ms = (time.perf_counter() - t0) * 1000
                    rows.setdefault((*c, mode), []).append((ms, len(tokens) - reused))
    load1 = os.getloadavg()
    table = []
    out: list[dict[str, Any]] = []
    for (threads, batch, mode), vals in sorted(rows.items()):
        ms = [v[0] for v in vals]
        toks = [v[1] for v in vals]
        rate = sum(toks) / (sum(ms) / 1000)
        table.append([threads, batch, mode, round(pct(ms, 50)), round(pct(toks, 50)), round(rate)])
        out.append(
            {
                "n_threads": threads,
                "n_batch": batch,
                "mode": mode,
                "first_token_ms_p50": round(pct(ms, 50), 1),
                "prefilled_tokens_p50": pct(toks, 50),
                "prefill_tokens_per_s": round(rate),
                "samples": len(vals),
            }
        )
    print_table(
        "Embedded model prefill (time to the first token)",
        [
            "n_threads",
            "n_batch",
            "prefix",
            "first token p50 ms",
            "tokens prefilled p50",
            "prefill tokens/s",
        ],
        table,
    )
    print(f"load average {load0[0]:.1f} at start, {load1[0]:.1f} at end")
    if args.json:
        write_json(args.json, {"machine": machine(), "load": [load0, load1], "rows": out})


def iter_prefix(cached: list[int], tokens: list[int]) -> Any:
    for a, b in zip(cached, tokens, strict=False):
        if a != b:
            return
        yield a


if __name__ == "__main__":
    main()
