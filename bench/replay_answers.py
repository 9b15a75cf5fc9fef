"""Offline replay of the grounded answer: the embedded model's answers captured once, then the
rest of the pipeline (retrieval, prompt selection, the answer check, the extract, citations)
re-run with this checkout's code on exactly those answers. Minutes of model time become
seconds, so a rule of the answer check can be tried on the dev questions again and again.

    .venv/bin/python bench/replay_answers.py capture --set dev --out /tmp/dev-answers.json
    .venv/bin/python bench/replay_answers.py replay --set dev --answers /tmp/dev-answers.json

`extend` is `replay` that captures the questions `--answers` lacks (new rows) and writes all
to `--out`.

Sets: `dev` (bench/data/answers_dev.jsonl on samples/corpus), `dev2` (a second author's
questions on the same corpus, bench/data/answers_dev2.jsonl), `dev3` (a third author's,
written after the rules tuned on dev and dev2: bench/data/answers_dev3.jsonl), `dev5` (a
fourth author's, written from the documents alone without reading any other set), `dev6` (a
fifth author's the same way: second hops, follow-up turns, questions carrying the caller's
own data, near-miss refusals), `dev7` (a sixth author's the same way, 70 rows over every
document), `manuals-dev`
(the dev split of bench/data/manuals.jsonl on the rendered man pages; `manuals-test`, its test
split, like gold only to read a finished run). The model's answer to a question is keyed by
the question as the prompt carries it. Captured answers run to the
model's own stop, not to where the capturing code's check stopped it. A question the capture
does not have (its prompt changed) is answered with the empty string (the extract then
decides); replay says how many. The gold set is the test: replay it only to read a finished
run, never to tune.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import BENCH, SAMPLES

DEV = BENCH / "data" / "answers_dev.jsonl"
DEV2 = BENCH / "data" / "answers_dev2.jsonl"
DEV3 = BENCH / "data" / "answers_dev3.jsonl"
DEV5 = BENCH / "data" / "answers_dev5.jsonl"
DEV6 = BENCH / "data" / "answers_dev6.jsonl"
DEV7 = BENCH / "data" / "answers_dev7.jsonl"
GOLD = SAMPLES / "eval" / "gold.jsonl"
# The last "Question:" of the prompt (the template's worked example has one too); the
# sources and the canary line before it change from run to run, the question does not.
_QUESTION = re.compile(r".*\nQuestion: (.*?)\nAnswer:\s*$", re.S)


def _key(prompt: str) -> str:
    m = _QUESTION.search(prompt)
    return m.group(1).strip() if m else prompt[-300:]


_CUSTOM: list[Path] = []


def _cases(name: str, tmp: Path) -> tuple[Path, Path]:
    """(corpus folder, cases file) of a set, or of `--cases` on the sample corpus."""
    if _CUSTOM:
        return SAMPLES / "corpus", _CUSTOM[0]
    sets = {"dev": DEV, "dev2": DEV2, "dev3": DEV3, "dev5": DEV5, "dev6": DEV6, "dev7": DEV7}
    if name in sets:
        return SAMPLES / "corpus", sets[name]
    if name == "gold":
        return SAMPLES / "corpus", GOLD
    import manuals

    pdfs = tmp / "pdfs"
    _, texts = manuals.build(pdfs)
    split = name.split("-", 1)[1]
    rows, skipped = manuals.cases(texts, split)
    if skipped:
        print(f"left out (not in this machine's man pages): {skipped}", file=sys.stderr)
    path = tmp / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return pdfs, path


def run(name: str, mode: str, answers: dict[str, str]) -> list[dict[str, Any]]:
    from lockgate.config import Settings
    from lockgate.engine.turn import Principal
    from lockgate.eval.dataset import load_cases
    from lockgate.eval.runner import EvalRunner, RunOptions
    from lockgate.ingest.pipeline import Ingestor
    from lockgate.models.llama_local import LlamaCppModel
    from lockgate.models.minilm import MiniLMEmbedder
    from lockgate.services import Services

    missing: list[str] = []
    original = LlamaCppModel._generate

    def generate(self: LlamaCppModel, request: Any) -> Iterator[dict[str, Any]]:
        key = _key(self._prompt(request))
        if mode == "replay" or (mode == "extend" and key in answers):
            text = answers.get(key)
            if text is None:
                missing.append(key)
                text = ""
            pieces = re.findall(r"\S+\s*|\s+", text)
        else:
            # The whole answer first, whatever the consumer stops at.
            pieces = [p["choices"][0].get("text", "") for p in original(self, request)]
            answers[key] = "".join(pieces)
        for p in pieces:
            yield {"choices": [{"text": p, "finish_reason": None}]}
        yield {"choices": [{"text": "", "finish_reason": "stop"}]}

    LlamaCppModel._generate = generate  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="lockgate-replay-") as tmp:
        corpus, path = _cases(name, Path(tmp))
        cases = load_cases(path)
        settings = Settings(home=Path(tmp) / "home")
        embedder = MiniLMEmbedder()
        services = Services(settings, preloaded_embedder=embedder)
        Ingestor(services.documents, services.runs, embedder, settings.ingest).run([str(corpus)])
        runner = EvalRunner(services, Principal(), RunOptions(concurrency=1))
        records = asyncio.run(runner.run(cases))
        traces = [services.traces.get(r["trace_id"]) or {} for r in records]
        services.engine.dispose()
    if missing:
        print(f"{len(missing)} question(s) not captured: answered empty", file=sys.stderr)
    out = []
    for case, r, t in zip(cases, records, traces, strict=True):
        checks = [a["passed"] for a in r["assertions"]]
        notes = [s.get("note") for s in t.get("stages") or [] if s.get("stage") == "answer_check"]
        note = next((n for n in reversed(notes) if n), "")
        out.append(
            {
                "id": case.id,
                "should_refuse": case.should_refuse,
                "ok": bool(checks) and all(checks) and r["error"] is None,
                "refused": bool(r["refused"]),
                "answer": (r["answer"] or "")[:400],
                "model": answers.get(_key(t.get("prompt") or "")),
                "note": note,
                "failed": [a["assert"] for a in r["assertions"] if not a["passed"]],
                "tokens_in": t.get("tokens_in"),
                "ttft_ms": round(r["ttft_ms"], 1),
                "stages": [
                    (x.get("stage"), round(x.get("start") or 0), round(x.get("ms") or 0))
                    for x in t.get("stages") or []
                ],
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["capture", "extend", "replay"])
    ap.add_argument(
        "--set",
        default="dev",
        choices=[
            *("dev", "dev2", "dev3", "dev5", "dev6", "dev7"),
            *("manuals-dev", "manuals-test", "gold"),
        ],
    )
    ap.add_argument("--cases", type=Path, help="a cases file on samples/corpus instead of --set")
    ap.add_argument("--out", type=Path, help="capture: where the answers go")
    ap.add_argument("--answers", type=Path, help="replay: the captured answers")
    ap.add_argument("--json", type=Path, help="the per-case results")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--src", type=Path, help="another checkout's src to run (e.g. main's)")
    args = ap.parse_args()
    sys.path.insert(0, str(BENCH))
    if args.src:
        sys.path.insert(0, str(args.src.resolve()))
    answers: dict[str, str] = {}
    if args.mode in ("replay", "extend"):
        answers = json.loads(args.answers.read_text())
    if args.cases:
        _CUSTOM.append(args.cases.resolve())
    rows = run(args.set, args.mode, answers)
    if args.mode in ("capture", "extend") and args.out:
        args.out.write_text(json.dumps(answers, indent=1))
    answerable = [r for r in rows if not r["should_refuse"]]
    refuse = [r for r in rows if r["should_refuse"]]
    for r in rows:
        if args.verbose or not r["ok"]:
            mark = "ok  " if r["ok"] else "MISS"
            print(f"{mark} {r['id']}: {r['answer'][:160]!r}  [{r['note'][:90]}] {r['failed']}")
    print(
        f"{args.set}: answerable {sum(r['ok'] for r in answerable)}/{len(answerable)}, "
        f"should-refuse refused {sum(r['ok'] for r in refuse)}/{len(refuse)}"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
