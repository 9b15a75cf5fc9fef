"""Answer accuracy, citations, refusals and streamed time to first token with the embedded
model (Gemma 3 270M, the default config), this checkout side by side with another one.

    .venv/bin/python bench/bench_answers.py [--base /tmp/wt-answers-base] [--gold-cases 84]
        [--parallel] [--json out.json]

The other checkout (by default a `git worktree add /tmp/wt-answers-base main`) runs in a child
process with its own `src` first on sys.path, then this one does, one after the other on the
same machine (`--parallel`: both at once, so a shared box's load is the same for both), each
in a fresh LOCKGATE_HOME:

1. gold: samples/corpus ingested, every case of samples/eval/gold.jsonl through `lockgate
   eval`'s runner (the real pipeline, streamed, default guardrails, no cache). An answerable
   case (not should-refuse, with `contains:` checks) is correct when every `contains:` and
   `cited:` assertion passes; "cited" is the share whose `cited:` assertions pass; refusals
   are the share of should-refuse cases refused (or blocked).
2. manuals: four man pages rendered to multi-page PDFs (`bench/manuals.py`), ingested, and the
   *test* split of bench/data/manuals.jsonl asked (the dev split was used to tune sentence
   selection and the extractive answer; it is not measured here). Correct = the expected fact
   in the answer and the right PDF cited. TTFT is to the first streamed text, as a client sees
   it; prompt tokens are the model's own count (the trace's tokens_in).

One untimed warm-up question runs first in each home (model weights paged in). The box may be
shared: compare the two rows of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH, ROOT, SAMPLES, machine, pct, print_table, write_json

GOLD = SAMPLES / "eval" / "gold.jsonl"
TARGET_TTFT_S = 1.5


def _asserts(record: dict[str, Any], kind: str) -> list[bool]:
    return [a["passed"] for a in record["assertions"] if a["assert"].startswith(kind)]


def _correct(record: dict[str, Any]) -> bool:
    checks = _asserts(record, "contains:") + _asserts(record, "cited:")
    return bool(checks) and all(checks) and record["error"] is None


def summarise(cases: list[Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    by_id = {c.id: c for c in cases}
    answerable = [r for r in records if not by_id[r["id"]].should_refuse
                  and _asserts(r, "contains:")]
    refuse = [r for r in records if by_id[r["id"]].should_refuse]
    cited = [r for r in answerable if _asserts(r, "cited:")]
    out: dict[str, Any] = {
        "answerable": len(answerable),
        "correct": sum(_correct(r) for r in answerable),
        "contains": sum(all(_asserts(r, "contains:")) for r in answerable),
        "cited": sum(all(_asserts(r, "cited:")) for r in cited),
        "cited_of": len(cited),
        "should_refuse": len(refuse),
        "refused": sum(bool(r["refused"]) for r in refuse),
        "answered_refused": sum(bool(r["refused"]) for r in answerable),
        "ttft_ms_p50": round(pct([r["ttft_ms"] for r in answerable], 50), 1),
        "latency_ms_p50": round(pct([r["latency_ms"] for r in answerable], 50), 1),
    }
    for key in ("correct", "contains"):
        out[f"{key}_rate"] = round(out[key] / max(out["answerable"], 1), 4)
    out["cited_rate"] = round(out["cited"] / max(out["cited_of"], 1), 4)
    out["refused_rate"] = round(out["refused"] / max(out["should_refuse"], 1), 4)
    return out


def child(src: Path, pdfs: Path, gold_cases: int, out: Path) -> None:
    """One checkout's measurements (run with that checkout's src first on sys.path)."""
    sys.path.insert(0, str(src))
    import asyncio

    import manuals

    import lockgate
    from lockgate.config import Settings
    from lockgate.engine.turn import Principal
    from lockgate.eval.dataset import Case, load_cases
    from lockgate.eval.runner import EvalRunner, RunOptions
    from lockgate.ingest.pipeline import Ingestor
    from lockgate.models.minilm import MiniLMEmbedder
    from lockgate.services import Services

    assert Path(lockgate.__file__).resolve().is_relative_to(src.resolve()), lockgate.__file__
    embedder = MiniLMEmbedder()

    def side(corpus: Path, cases: list[Case], warm: Case) -> tuple[list[dict[str, Any]],
                                                                      list[dict[str, Any]]]:
        with tempfile.TemporaryDirectory(prefix="lockgate-bench-answers-") as tmp:
            settings = Settings(home=Path(tmp) / "home")
            services = Services(settings, preloaded_embedder=embedder)
            _ = services.models  # as a gateway does at start-up: before the first embedding
            Ingestor(services.documents, services.runs, embedder, settings.ingest).run(
                [str(corpus)]
            )
            runner = EvalRunner(services, Principal(), RunOptions(concurrency=1))
            asyncio.run(runner.run([warm]))  # untimed
            records = asyncio.run(runner.run(cases))
            traces = [services.traces.get(r["trace_id"]) or {} for r in records]
            services.engine.dispose()
        return records, traces

    gold = load_cases(GOLD)[:gold_cases]
    t0 = time.perf_counter()
    gold_records, gold_traces = side(SAMPLES / "corpus", gold, gold[0])
    gold_s = time.perf_counter() - t0

    texts = manuals.texts()
    test_rows, skipped = manuals.cases(texts, "test")
    dev_rows, _ = manuals.cases(texts, "dev")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in test_rows + dev_rows[:1]) + "\n")
        loaded = load_cases(path)
    man_cases, warm = loaded[:-1], loaded[-1]  # a dev question warms up
    t0 = time.perf_counter()
    man_records, man_traces = side(pdfs, man_cases, warm)
    man_s = time.perf_counter() - t0

    # Prompt tokens over the model's first-token time, per answered manuals turn: a lower
    # bound on prefill speed (the fixed prompt prefix is reused from the KV cache).
    answered = [t for t, c in zip(man_traces, man_cases, strict=True)
                if not c.should_refuse and t.get("tokens_in") and t.get("ttft_ms")]
    model_ttft = [float(t["ttft_ms"]) for t in answered]
    rates = [t["tokens_in"] / (float(t["ttft_ms"]) / 1000) for t in answered]

    def extractive(traces: list[dict[str, Any]]) -> int:
        return sum(any(s.get("stage") == "answer_check" and str(s.get("note", "")).startswith(
            "extractive") for s in (t.get("stages") or [])) for t in traces)

    result = {
        "src": str(src),
        "gold": summarise(gold, gold_records) | {"wall_s": round(gold_s, 1),
                                                  "extractive": extractive(gold_traces)},
        "manuals": summarise(man_cases, man_records) | {
            "wall_s": round(man_s, 1),
            "extractive": extractive(man_traces),
            "skipped": skipped,
            # None when every answer was quoted without asking the model (no prompt).
            "prompt_tokens_p50": _p50_or_none([t.get("tokens_in") or 0 for t, c in
                                               zip(man_traces, man_cases, strict=True)
                                               if not c.should_refuse and t.get("tokens_in")]),
            # The model's own first token (prefill and one decoded token), from the call.
            "model_ttft_ms_p50": round(pct(model_ttft, 50), 1) if model_ttft else None,
            "prefill_tokens_per_s_p50": round(pct(rates, 50)) if rates else None,
        },
        "cases": {
            "gold": [_case(r) for r in gold_records],
            "manuals": [_case(r) | {"tokens_in": t.get("tokens_in")}
                        for r, t in zip(man_records, man_traces, strict=True)],
        },
    }
    out.write_text(json.dumps(result, indent=1))


def _p50_or_none(values: list[float]) -> float | None:
    return round(pct(values, 50), 1) if values else None


def _case(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "correct": _correct(r), "refused": r["refused"],
            "ttft_ms": round(r["ttft_ms"], 1), "answer": (r["answer"] or "")[:300],
            "assertions": r["assertions"]}


def start_child(src: Path, pdfs: Path, gold_cases: int) -> tuple[subprocess.Popen[bytes], Path]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(src), "--pdfs",
           str(pdfs), "--gold-cases", str(gold_cases), "--out", str(out)]
    # The child runs from this bench folder's copy of _common/manuals but the other src.
    return subprocess.Popen(cmd, cwd=ROOT), out


def finish_child(child: tuple[subprocess.Popen[bytes], Path]) -> dict[str, Any]:
    proc, out = child
    if proc.wait() != 0:
        raise SystemExit(f"a side failed: exit {proc.returncode}")
    return dict(json.loads(out.read_text()))


def run_child(src: Path, pdfs: Path, gold_cases: int) -> dict[str, Any]:
    return finish_child(start_child(src, pdfs, gold_cases))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, default=Path("/tmp/wt-answers-base"),
                    help="the checkout to compare with (e.g. a worktree of main)")
    ap.add_argument("--gold-cases", type=int, default=84)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--parallel", action="store_true",
                    help="run both sides at the same time (same load on a shared box)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--pdfs", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.pdfs, args.gold_cases, args.out)
        return
    sys.path.insert(0, str(BENCH))
    import manuals

    with tempfile.TemporaryDirectory(prefix="lockgate-manuals-") as tmp:
        pdfs = Path(tmp)
        pages, _ = manuals.build(pdfs)
        if args.parallel:
            # Both sides at once: on a box shared with other jobs they see the same load
            # (one after the other, the load moves between them), each also the other's.
            running = {"main": start_child(args.base / "src", pdfs, args.gold_cases),
                       "this branch": start_child(ROOT / "src", pdfs, args.gold_cases)}
            sides = {name: finish_child(c) for name, c in running.items()}
        else:
            sides = {"main": run_child(args.base / "src", pdfs, args.gold_cases),
                     "this branch": run_child(ROOT / "src", pdfs, args.gold_cases)}
    rows = []
    for name, r in sides.items():
        g, m = r["gold"], r["manuals"]
        rows.append([
            name,
            f"{g['correct']}/{g['answerable']} ({g['correct_rate']:.0%})",
            f"{g['cited']}/{g['cited_of']} ({g['cited_rate']:.0%})",
            f"{g['refused']}/{g['should_refuse']} ({g['refused_rate']:.0%})",
            f"{m['correct']}/{m['answerable']} ({m['correct_rate']:.0%})",
            f"{m['refused']}/{m['should_refuse']}",
            round(m["ttft_ms_p50"] / 1000, 2),
            "-" if m["prompt_tokens_p50"] is None else round(m["prompt_tokens_p50"]),
            m.get("model_ttft_ms_p50"),
            m.get("prefill_tokens_per_s_p50"),
            f"{g['extractive']}+{m['extractive']}",
        ])
    print_table(
        f"Grounded answers with the embedded model (manuals: {pages} pages)",
        ["side", "gold correct+cited", "gold cited", "gold refused", "manuals correct+cited",
         "manuals refused", "manuals TTFT p50 s", "manuals prompt tok p50",
         "manuals model first token p50 ms", "prompt tok/s p50",
         "extractive (gold+manuals)"],
        rows,
    )
    print(f"target: TTFT p50 <= {TARGET_TTFT_S} s on the manuals; >= 90 % gold answerable "
          "correct with a correct citation; 100 % of should-refuse refused")
    if args.json:
        write_json(args.json, {"machine": machine(), "pages": pages, "sides": sides})


if __name__ == "__main__":
    main()
