"""Embedded LLM latency: Gemma 3 270M (GGUF, llama-cpp-python) on the real grounded prompt.

    .venv/bin/python bench/bench_llm.py [--questions 5] [--max-tokens 64] [--no-gateway]
        [--json out.json]

Ingests samples/corpus into a temporary LOCKGATE_HOME, then for the first answerable
questions of samples/questions.jsonl:

1. direct: the gateway's own `retrieve` and `build_prompt` stages make the grounded prompt
   in-process, and `LlamaCppModel.stream` generates with max_tokens 64 (seed 0). TTFT is the
   time from calling `stream` to the first non-empty token; decode rate is
   (tokens - 1) / (last token - first token).
2. gateway: `lockgate serve` runs in a subprocess on loopback over the same store (it
   preloads MiniLM and Gemma; we wait for /readyz), and the same questions are sent to
   /v1/chat/completions with model `lockgate`, stream true. TTFT there is from sending the
   request to the first content event, so it adds HTTP, validation, query embedding,
   hybrid search and prompt building; each request's stage timings are read back from its
   trace.

One untimed warm-up question (a different one) runs first on each side so both start from
the same state: model weights paged in and llama.cpp's cached prompt prefix (the template's
instructions and example) shared by the measured prompts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, SAMPLES, pct, print_table, temp_home, write_json

from lockgate.config import Settings
from lockgate.engine.answer import Answer
from lockgate.engine.parse import parse_turn
from lockgate.engine.stages.build_prompt import BuildPrompt
from lockgate.engine.stages.retrieve import Retrieve
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Call, Turn
from lockgate.ingest.pipeline import Ingestor
from lockgate.models.base import ChatRequest
from lockgate.services import Services

try:
    from tests.support.server import free_port
except ModuleNotFoundError:  # pragma: no cover - bench run from elsewhere
    sys.path.insert(0, str(ROOT))
    from tests.support.server import free_port

TARGET_TTFT_S = 1.5


def load_questions(n: int) -> list[str]:
    lines = (SAMPLES / "questions.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][: n + 8]


async def build_prompt(services: Services, question: str, max_tokens: int) -> Turn:
    """The turn the model stage would receive: retrieval and the prompt, no model call."""
    body = {"model": "lockgate", "max_tokens": max_tokens, "seed": 0,
            "messages": [{"role": "user", "content": question}]}
    turn = parse_turn(Call("bench", body), services.settings, services.models)
    sent: list[Turn] = [turn]

    async def capture(t: Turn, state: TurnState) -> Answer:
        sent.append(t)
        return Answer()

    async def prompt(t: Turn, state: TurnState) -> Answer:
        return await BuildPrompt.from_services(services)(t, state, capture)

    await Retrieve.from_services(services)(turn, TurnState(), prompt)
    return sent[-1]


async def direct_one(model: Any, request: ChatRequest) -> dict[str, Any]:
    t0 = time.perf_counter()
    first = last = None
    pieces = 0
    usage = None
    text = []
    async for delta in model.stream(request):
        now = time.perf_counter()
        if delta.text:
            pieces += 1
            text.append(delta.text)
            if first is None:
                first = now
            last = now
        if delta.usage:
            usage = delta.usage
    end = time.perf_counter()
    tokens = usage.completion_tokens if usage else pieces
    decode = (tokens - 1) / (last - first) if first and last and last > first else float("nan")
    return {
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": tokens,
        "ttft_s": round((first or end) - t0, 4),
        "total_s": round(end - t0, 4),
        "decode_tok_s": round(decode, 2),
        "answer": "".join(text).strip()[:160],
    }


def run_direct(services: Services, questions: list[str], warmup: str, max_tokens: int
               ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    model = services.models.get(services.settings.grounded.model)
    t0 = time.perf_counter()
    model.load()
    load_s = time.perf_counter() - t0
    rows = []

    async def go() -> None:
        ctx = await build_prompt(services, warmup, max_tokens)
        assert ctx.request is not None
        await direct_one(model, ctx.request)
        for q in questions:
            t = time.perf_counter()
            ctx = await build_prompt(services, q, max_tokens)
            prompt_s = time.perf_counter() - t
            assert ctx.request is not None and ctx.prompt is not None
            row = await direct_one(model, ctx.request)
            row.update(question=q, prompt_chars=len(ctx.prompt),
                       retrieve_and_prompt_s=round(prompt_s, 4))
            rows.append(row)

    asyncio.run(go())
    return rows, {"model_load_s": round(load_s, 2)}


def answerable(services: Services, candidates: list[str], n: int) -> tuple[list[str], list[str]]:
    """First `n` questions the gateway would not refuse, plus one spare for the warm-up."""

    async def check() -> list[str]:
        ok = []
        for q in candidates:
            ctx = await build_prompt(services, q, 8)
            if ctx.prompt is not None:
                ok.append(q)
        return ok

    ok = asyncio.run(check())
    if len(ok) < n + 1:
        raise SystemExit(f"only {len(ok)} answerable questions in samples/questions.jsonl")
    return ok[:n], [ok[n]]


def start_gateway(tmp: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "LOCKGATE_HOME": str(tmp / "home")}
    env["LOCKGATE_AUTH__ALLOW_ANONYMOUS"] = "true"  # the bench's requests carry no key
    env.pop("LOCKGATE_CONFIG", None)
    exe = Path(sys.executable).with_name("lockgate")
    cmd = [str(exe) if exe.exists() else "lockgate", "serve", "--host", "127.0.0.1",
           "--port", str(port)]
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/readyz", timeout=5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError("gateway never became ready")
        time.sleep(0.25)


def gateway_one(client: httpx.Client, base: str, question: str, max_tokens: int
                ) -> dict[str, Any]:
    body = {"model": "lockgate", "stream": True, "max_tokens": max_tokens, "seed": 0,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": question}]}
    t0 = time.perf_counter()
    first = last = None
    usage: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    pieces = 0
    with client.stream("POST", base + "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if "error" in event:
                raise RuntimeError(f"gateway stream error: {event['error']}")
            for choice in event.get("choices", []):
                if choice.get("delta", {}).get("content"):
                    now = time.perf_counter()
                    pieces += 1
                    first = first or now
                    last = now
            if event.get("usage"):
                usage = event["usage"]
                meta = event.get("lockgate", {})
    end = time.perf_counter()
    tokens = usage.get("completion_tokens", pieces)
    return {
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": tokens,
        "ttft_s": round((first or end) - t0, 4),
        "total_s": round(end - t0, 4),
        "decode_tok_s": round((tokens - 1) / (last - first), 2)
        if first and last and last > first else float("nan"),
        "trace_id": meta.get("trace_id"),
        "refused": meta.get("refused"),
    }


def run_gateway(tmp: Path, questions: list[str], warmup: str, max_tokens: int
                ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    t0 = time.perf_counter()
    proc, base = start_gateway(tmp, tmp / "gateway.log")
    ready_s = time.perf_counter() - t0
    rows = []
    try:
        with httpx.Client(timeout=300) as client:
            gateway_one(client, base, warmup, max_tokens)
            for q in questions:
                row = gateway_one(client, base, q, max_tokens)
                row["question"] = q
                rows.append(row)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return rows, {"start_to_ready_s": round(ready_s, 2)}


def stage_timings(services: Services, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        trace = services.traces.get(row["trace_id"]) if row.get("trace_id") else None
        if not trace:
            continue
        stages = {s["stage"]: s["ms"] for s in trace.get("stages") or []}
        row["stages_ms"] = {k: round(v, 2) for k, v in stages.items()}
        row["server_ttft_ms"] = trace.get("ttft_ms")


def agg(rows: list[dict[str, Any]]) -> dict[str, float]:
    ttft = [r["ttft_s"] for r in rows]
    dec = [r["decode_tok_s"] for r in rows if r["decode_tok_s"] == r["decode_tok_s"]]
    toks = sum(r["completion_tokens"] for r in rows)
    total = sum(r["total_s"] for r in rows)
    return {
        "ttft_p50_s": round(pct(ttft, 50), 3), "ttft_max_s": round(max(ttft), 3),
        "decode_tok_s_p50": round(pct(dec, 50), 2),
        "end_to_end_tok_s": round(toks / total, 2),
        "prompt_tokens_p50": pct([r["prompt_tokens"] or 0 for r in rows], 50),
        "completion_tokens_total": toks,
    }


def run(n: int, max_tokens: int, gateway: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"params": {"questions": n, "max_tokens": max_tokens}}
    with temp_home() as tmp:
        settings = Settings(home=tmp / "home")
        services = Services(settings)
        t0 = time.perf_counter()
        summary = Ingestor(services.documents, services.runs, services.embedder,
                           settings.ingest).run([str(SAMPLES / "corpus")])
        out["ingest"] = {"files": summary.seen, "chunks": summary.chunks,
                         "seconds": round(time.perf_counter() - t0, 2)}
        questions, spare = answerable(services, load_questions(n), n)
        print(f"ingested samples/corpus ({summary.chunks} chunks); measuring {len(questions)} "
              "questions", flush=True)

        direct, info = run_direct(services, questions, spare[0], max_tokens)
        out["direct"] = {"rows": direct, "summary": agg(direct), **info}
        # Give the in-process model back before the gateway loads its own copy.
        services.models._models.clear()
        if gateway:
            rows, ginfo = run_gateway(tmp, questions, spare[0], max_tokens)
            stage_timings(services, rows)
            out["gateway"] = {"rows": rows, "summary": agg(rows), **ginfo}
    return out


def report(r: dict[str, Any]) -> None:
    d = r["direct"]
    print_table(
        f"Direct LlamaCppModel.stream (model load {d['model_load_s']}s, excluded)",
        ["question", "prompt tok", "out tok", "TTFT s", "total s", "decode tok/s"],
        [[row["question"][:48], row["prompt_tokens"], row["completion_tokens"], row["ttft_s"],
          row["total_s"], row["decode_tok_s"]] for row in d["rows"]],
    )
    if "gateway" in r:
        g = r["gateway"]
        rows = []
        nan = float("nan")
        for row, drow in zip(g["rows"], d["rows"], strict=True):
            st = row.get("stages_ms", {})
            model_ttft = (row.get("server_ttft_ms") or nan) / 1000
            rows.append([row["question"][:40], row["prompt_tokens"], row["ttft_s"],
                         row["ttft_s"] - drow["ttft_s"], model_ttft, row["ttft_s"] - model_ttft,
                         st.get("retrieve", nan), st.get("cache_lookup", nan),
                         st.get("input_guard", nan) + st.get("context_guard", 0.0),
                         row["decode_tok_s"]])
        print_table(
            "Through the gateway (lockgate model, stream; server start to ready "
            f"{g['start_to_ready_s']}s). 'model TTFT' is the gateway's own trace value; "
            "'after model' is client TTFT minus it (HTTP, output guard release)",
            ["question", "prompt tok", "TTFT s", "vs direct s", "model TTFT s",
             "after model s", "retrieve ms", "cache lookup ms", "in+ctx guard ms",
             "decode tok/s"], rows)
    sums = [["direct", *_srow(d["summary"])]]
    if "gateway" in r:
        sums.append(["gateway", *_srow(r["gateway"]["summary"])])
    print_table("Summary", ["path", "prompt tok p50", "TTFT p50 s", "TTFT max s",
                            "decode tok/s p50", "end-to-end tok/s"], sums)
    for name, s in (("direct", d["summary"]), ("gateway", r.get("gateway", {}).get("summary"))):
        if s:
            verdict = "MET" if s["ttft_max_s"] <= TARGET_TTFT_S else (
                "MET at p50 only" if s["ttft_p50_s"] <= TARGET_TTFT_S else "NOT MET")
            print(f"target TTFT <= {TARGET_TTFT_S}s ({name}): p50 {s['ttft_p50_s']:.2f}s, "
                  f"max {s['ttft_max_s']:.2f}s -> {verdict}")


def _srow(s: dict[str, float]) -> list[float]:
    return [s["prompt_tokens_p50"], s["ttft_p50_s"], s["ttft_max_s"], s["decode_tok_s_p50"],
            s["end_to_end_tok_s"]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--no-gateway", action="store_true", help="skip the HTTP gateway part")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)
    result = run(args.questions, args.max_tokens, not args.no_gateway)
    report(result)
    write_json(args.json, {"benchmark": "llm", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
