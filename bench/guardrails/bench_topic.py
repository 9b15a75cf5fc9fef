"""Topic policy: deny-listed topics and allow-list mode, on labelled prompts.

    .venv/bin/python bench/guardrails/bench_topic.py [--json out.json] [--rounds 50]

Data: bench/guardrails/data/topic_policy.json (4 deny topics described in plain language:
financial advice, competitors, medical advice, politics; 3 allowed domains for a Northwind
Cloud assistant) and topic.jsonl (150 prompts written for this project: 50 on deny topics,
40 on-domain questions including hard negatives that use money, comparison, health or
election words in a product/HR sense, reused for allow-mode as "in", and 20 off-domain
requests). Alternate rows form the dev and test splits; the default thresholds were chosen
on dev (the sweep below shows it).

Deny task: positive = a deny-topic prompt; flagged = any TOPIC finding with score >= 0.5
(keywords or similarity), and "topic correct" = the highest-scoring finding names the right
topic. Allow task: positive = off-domain; flagged = the off-topic finding >= 0.5.
Latency: `scan` with deny + allow configured on a ~500-token prompt (p50/p95).
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

from lockgate.config import EmbeddingSpec  # noqa: E402
from lockgate.guardrails.base import ScanContext  # noqa: E402
from lockgate.guardrails.scanners.topic import TopicScanner  # noqa: E402
from lockgate.models.minilm import MiniLMEmbedder  # noqa: E402

DATA = ROOT / "bench" / "guardrails" / "data"
FILLER = (
    "We are a design agency with twelve people and we moved our shared drive to Northwind "
    "Cloud last spring. Most of our files are large images and video exports. "
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", default=None)
    ap.add_argument("--int8", default=EmbeddingSpec().int8, choices=["off", "queries", "all"],
                    help="MiniLM int8 mode (default: as shipped)")
    ap.add_argument("--rounds", type=int, default=50)
    args = ap.parse_args()

    policy = json.loads((DATA / "topic_policy.json").read_text())
    rows = [json.loads(x) for x in (DATA / "topic.jsonl").read_text().splitlines()]
    embedder = MiniLMEmbedder(int8=args.int8)
    embedder.embed(["warm up"])
    # The deny scanner is told what the app's normal traffic is about (`reference`); the
    # "generic reference" rows show a deny-only policy that does not say so.
    deny = TopicScanner({"deny": policy["deny"], "reference": policy["reference"]}, embedder)
    generic = TopicScanner({"deny": policy["deny"]}, embedder)
    allow = TopicScanner({"allow": policy["allow"]}, embedder)
    assert isinstance(deny, TopicScanner) and isinstance(allow, TopicScanner)
    assert isinstance(generic, TopicScanner)
    report: dict[str, Any] = {"deny": {}, "allow": {}, "sweep": {}, "misses": []}

    table = []
    for split in ("dev", "test", "all"):
        pairs, correct, positives = [], 0, 0
        apairs = []
        for row in rows:
            if split != "all" and row["split"] != split:
                continue
            if row["task"] == "deny":
                found = [f for f in deny.scan(row["text"], ScanContext("in")) if f.score >= 0.5]
                truth = row["label"] != "none"
                pairs.append((bool(found), truth))
                if truth:
                    positives += 1
                    top = max(found, key=lambda f: f.score) if found else None
                    correct += int(top is not None and top.detail.startswith(row["label"]))
                if bool(found) != truth and split == "all":
                    report["misses"].append({"id": row["id"], "text": row["text"],
                                             "label": row["label"],
                                             "found": [f.detail for f in found]})
            else:
                found = [f for f in allow.scan(row["text"], ScanContext("in")) if f.score >= 0.5]
                truth = row["label"] == "off"
                apairs.append((bool(found), truth))
                if bool(found) != truth and split == "all":
                    report["misses"].append({"id": row["id"], "text": row["text"],
                                             "label": row["label"],
                                             "found": [f.detail for f in found]})
        gpairs = [
            (any(f.score >= 0.5 for f in generic.scan(r["text"], ScanContext("in"))),
             r["label"] != "none")
            for r in rows
            if r["task"] == "deny" and (split == "all" or r["split"] == split)
        ]
        g = rates(gpairs)
        report.setdefault("deny_generic_reference", {})[split] = g
        d, a = rates(pairs), rates(apairs)
        d["topic_correct"] = round(correct / positives, 4) if positives else float("nan")
        report["deny"][split], report["allow"][split] = d, a
        table.append([split, "deny", d["n"], d["precision"], d["recall"], d["f1"], d["fpr"],
                      d["topic_correct"]])
        table.append([split, "deny, generic reference", g["n"], g["precision"], g["recall"],
                      g["f1"], g["fpr"], "-"])
        table.append([split, "allow (off-topic)", a["n"], a["precision"], a["recall"], a["f1"],
                      a["fpr"], "-"])
    print_table("Topic policy (positive = deny topic / off-domain)",
                ["split", "task", "n", "precision", "recall", "F1", "FPR", "topic correct"],
                table)

    # Threshold sweep on dev: similarity only (keywords off), to show where the default sits.
    sweep_rows = []
    dev = [r for r in rows if r["split"] == "dev"]
    sims = {r["id"]: (deny if r["task"] == "deny" else allow).similarities(r["text"])
            for r in dev}
    for thr in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45):
        pairs = []
        for r in dev:
            if r["task"] != "deny":
                continue
            s = sims[r["id"]]
            hit = s is not None and any(x >= thr and x - ref >= deny.margin for x, ref, _ in s[1])
            pairs.append((hit, r["label"] != "none"))
        m = rates(pairs)
        sweep_rows.append([f"deny similarity (margin {deny.margin})", thr, m["precision"],
                           m["recall"], m["fpr"]])
        report["sweep"][f"deny@{thr}"] = m
    for thr in (0.2, 0.25, 0.3, 0.35, 0.4):
        pairs = []
        for r in dev:
            if r["task"] != "allow":
                continue
            s = sims[r["id"]]
            pairs.append((s is not None and s[2] < thr, r["label"] == "off"))
        m = rates(pairs)
        sweep_rows.append(["allow similarity", thr, m["precision"], m["recall"], m["fpr"]])
        report["sweep"][f"allow@{thr}"] = m
    print_table("Dev sweep, similarity alone", ["rule", "threshold", "precision", "recall",
                                                "FPR"], sweep_rows)

    both = TopicScanner({"deny": policy["deny"], "allow": policy["allow"]}, embedder)
    prompt = (FILLER * 14) + rows[0]["text"]
    times = []
    for i in range(args.rounds):
        text = prompt + f" (ticket {i})"
        t0 = time.perf_counter()
        both.scan(text, ScanContext("in"))
        times.append(time.perf_counter() - t0)
    report["latency"] = {"500-token prompt": summary_ms(times),
                         "prompt_words": len(prompt.split())}
    big = (FILLER * 8000)[:1_000_000]
    t0 = time.perf_counter()
    both.scan(big, ScanContext("in"))
    report["latency"]["1 MB prompt (capped), one run, ms"] = round(
        (time.perf_counter() - t0) * 1000, 1)
    lat = report["latency"]["500-token prompt"]
    print_table("Latency of scan() (deny + allow)", ["case", "n", "p50 ms", "p95 ms"],
                [["500-token prompt", lat["n"], lat["p50_ms"], lat["p95_ms"]],
                 ["1 MB prompt (capped)", 1,
                  report["latency"]["1 MB prompt (capped), one run, ms"], "-"]])
    for m in report["misses"]:
        print(f"  miss {m['id']} [{m['label']}] {m['text']!r} -> {m['found']}")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
