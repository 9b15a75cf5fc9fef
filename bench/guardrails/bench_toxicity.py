"""Toxicity scanner on a labelled set: plain abuse, obfuscated abuse, and benign hard negatives.

    .venv/bin/python bench/guardrails/bench_toxicity.py [--json out.json] [--rounds 100]

Data: bench/guardrails/data/toxicity.jsonl, written for this project: 40 plain toxic messages
(insults, threats, profanity aimed at support), 68 obfuscated variants of 10 toxic phrases
(leetspeak, dotted and spaced letters, Cyrillic look-alikes, asterisks, zero-width joins,
repeated letters), and 59 benign customer messages, many of them Scunthorpe-style hard
negatives ("Scunthorpe", "assessment", "cockpit", "kill the sync process", "shoot me an
email") or mild frustration ("Damn, I forgot my password") that should not be blocked.
This set was used while building the rules, so it is not a fair test; toxicity_heldout.jsonl
(20 toxic, 20 benign, written afterwards and never used to change the scanner) is.

Flagged = any finding with score >= 0.5 (the default rule threshold). Reported for the full
scanner and for each detector alone (word list, phrase rules, model), per kind, and `scan`
latency on a ~500-token prompt and a 1 MB prompt (capped by the scanner).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import ROOT, print_table, rates, summary_ms, write_json  # noqa: E402

from lockgate.guardrails.base import ScanContext  # noqa: E402
from lockgate.guardrails.scanners.toxicity import ToxicityScanner  # noqa: E402

DATA = ROOT / "bench" / "guardrails" / "data"
PROMPT = (
    "We moved our design team to Northwind Cloud last spring and the sync has mostly worked, "
    "but since the last update large video exports fail halfway and the CLI prints a timeout. "
)


def detector(detail: str) -> str:
    if detail == "model":
        return "model"
    if detail.startswith(("word", "phrase")):
        return "word list"
    return "rules"


BENIGN_SETS = ("answers_dev.jsonl", "answers_dev2.jsonl", "answers_dev3.jsonl",
               "router_questions.jsonl", "paraphrases.jsonl")


def benign_questions() -> list[str]:
    """The last user message of each benign row of the other sets (no should-refuse rows:
    some of those carry attacks)."""
    files = [ROOT / "bench" / "data" / n for n in BENIGN_SETS]
    files += sorted(DATA.glob("injection_benign*.jsonl"))
    out: list[str] = []
    for f in files:
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("should_refuse"):
                continue
            text = next((row[k] for k in ("input", "text", "question", "query") if k in row), None)
            if isinstance(text, list):
                text = text[-1].get("content") if text and isinstance(text[-1], dict) else None
            if isinstance(text, str) and text.strip():
                out.append(text)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", default=None)
    ap.add_argument("--rounds", type=int, default=100)
    args = ap.parse_args()

    rows = [json.loads(x) for x in (DATA / "toxicity.jsonl").read_text().splitlines()]
    scanner = ToxicityScanner({})
    assert isinstance(scanner, ToxicityScanner)
    results = []
    for row in rows:
        found = [f for f in scanner.scan(row["text"], ScanContext("in")) if f.score >= 0.5]
        results.append((row, {detector(f.detail) for f in found}, found))

    report: dict[str, Any] = {"overall": {}, "by_kind": {}, "detectors": {}, "misses": []}
    table = []
    for name, keep in (("all", lambda r: True),
                       ("plain + benign", lambda r: r["kind"] in ("plain", "benign")),
                       ("obfuscated + benign",
                        lambda r: r["kind"].startswith("obfuscated") or r["kind"] == "benign")):
        pairs = [(bool(d), r["label"] == "toxic") for r, d, _ in results if keep(r)]
        m = rates(pairs)
        report["overall"][name] = m
        table.append([name, m["n"], m["precision"], m["recall"], m["f1"], m["fpr"]])
    for det in ("word list", "rules", "model"):
        pairs = [(det in d, r["label"] == "toxic") for r, d, _ in results]
        m = rates(pairs)
        report["detectors"][det] = m
        table.append([f"{det} alone", m["n"], m["precision"], m["recall"], m["f1"], m["fpr"]])
    print_table("Toxicity (positive = toxic), flagged = score >= 0.5",
                ["set", "n", "precision", "recall", "F1", "FPR benign"], table)

    # Held-out: 40 messages written after the rules and word-list curation were final and
    # never used to change them (the set above was used while building the scanner).
    held = [json.loads(x) for x in (DATA / "toxicity_heldout.jsonl").read_text().splitlines()]
    hpairs = []
    for r in held:
        found = [f for f in scanner.scan(r["text"], ScanContext("in")) if f.score >= 0.5]
        hpairs.append((bool(found), r["label"] == "toxic"))
        if bool(found) != (r["label"] == "toxic"):
            report["misses"].append({"id": r["id"], "kind": "held-out " + r["kind"],
                                     "text": r["text"], "found": [f.detail for f in found]})
    hm = rates(hpairs)
    report["overall"]["held-out"] = hm
    print_table("Held-out set", ["set", "n", "precision", "recall", "F1", "FPR benign"],
                [["held-out", hm["n"], hm["precision"], hm["recall"], hm["f1"], hm["fpr"]]])

    # Benign user questions of the repository's other sets (the answer sets' questions, the
    # injection benign sets): written for other purposes, never read while building this
    # scanner; a block here is a legitimate request refused.
    questions = benign_questions()
    blocked = [
        q for q in questions if any(f.score >= 0.5 for f in scanner.scan(q, ScanContext("in")))
    ]
    report["benign_questions"] = {"n": len(questions), "blocked": len(blocked), "texts": blocked}
    print_table("Benign user questions (other sets)", ["n", "blocked", "FPR"],
                [[len(questions), len(blocked), round(len(blocked) / max(1, len(questions)), 3)]])
    for q in blocked:
        print(f"  blocked {q!r}")

    kinds = sorted({r["kind"] for r in rows})
    kind_rows = []
    for k in kinds:
        sub = [(bool(d), r["label"] == "toxic") for r, d, _ in results if r["kind"] == k]
        correct = sum(1 for f, y in sub if f == y) / len(sub)
        report["by_kind"][k] = {"n": len(sub), "correct": round(correct, 4)}
        kind_rows.append([k, len(sub), round(correct, 4)])
    print_table("Correct decisions by kind", ["kind", "n", "correct"], kind_rows)

    for r, d, found in results:
        if bool(d) != (r["label"] == "toxic"):
            report["misses"].insert(0, {"id": r["id"], "kind": r["kind"], "text": r["text"],
                                     "found": [f.detail for f in found]})

    prompt = PROMPT * 17
    times = []
    for i in range(args.rounds):
        text = prompt + f" Ticket {i}."
        t0 = time.perf_counter()
        scanner.scan(text, ScanContext("in"))
        times.append(time.perf_counter() - t0)
    big = (PROMPT * 6000)[:1_000_000]
    big_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        scanner.scan(big, ScanContext("in"))
        big_times.append(time.perf_counter() - t0)
    report["latency"] = {"500-token prompt": summary_ms(times),
                         "1 MB prompt (capped)": summary_ms(big_times),
                         "prompt_words": len(prompt.split())}
    print_table("Latency of scan()", ["case", "n", "p50 ms", "p95 ms"],
                [[k, v["n"], v["p50_ms"], v["p95_ms"]]
                 for k, v in report["latency"].items() if isinstance(v, dict)])
    for m in report["misses"]:
        print(f"  miss {m['id']} [{m['kind']}] {m['text']!r} -> {m['found']}")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
