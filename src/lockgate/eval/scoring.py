"""Per-case metrics of one evaluated turn, and their means over a run. Pure: the runner
hands in what the turn did, nothing here calls a model (the embedding similarity is computed
by the runner and passed in).

A metric is present in a case only where it means something: retrieval metrics need
expected sources, answer metrics an expected answer (and a case that should be answered),
faithfulness an answer and its context; a run's mean of a metric is over the cases that have
it. Names are fixed (the cut-off k is in the run's options), so a gate can name them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lockgate.eval import answer as am
from lockgate.eval import retrieval as rm
from lockgate.eval.dataset import Case
from lockgate.eval.faithfulness import faithfulness

__all__ = ["LOWER_IS_BETTER", "aggregate", "case_metrics", "judge_agreement", "pearson"]

# Costs and latencies: a rise is the regression. Everything else is a score where higher
# is better (rates and similarities in [0, 1]).
LOWER_IS_BETTER = frozenset({"latency_ms", "ttft_ms", "cost_usd", "latency_ms_p95"})
GUARD_ASSERTS = ("blocked", "redacted")


def faithfulness_score(answer: str, context: Sequence[str]) -> float | None:
    if not answer.strip() or not context:
        return None
    return faithfulness(answer, context).score


def case_metrics(
    case: Case,
    answer: str,
    refused: bool,
    guard_action: str,
    sources: Sequence[str],
    citations: Sequence[dict[str, Any]],
    retrieved_ids: Iterable[int],
    k: int,
    similarity: float | None = None,
    faithful: float | None = None,
    judge: float | None = None,
    degraded: bool = False,
    extractive: bool = False,
) -> dict[str, float]:
    # Every case: the share of answers that were the extractive stand-in for a model that
    # was down (they can pass assertions while the model under test never answered), and
    # of those quoted from the sources because the model's answer was unsupported.
    out: dict[str, float] = {"degraded": float(degraded), "extractive": float(extractive)}
    if case.expected_sources:
        expected = list(case.expected_sources)
        out["hit_at_k"] = rm.hit_at_k(sources, expected, k)
        out["recall_at_k"] = rm.recall_at_k(sources, expected, k)
        out["mrr"] = rm.mrr(sources, expected, k)
        out["ndcg_at_k"] = rm.ndcg_at_k(sources, expected, k)
    if case.expected and not case.should_refuse:
        out["contains"] = float(am.contains(answer, case.expected))
        out["token_f1"] = am.token_f1(answer, case.expected)
        out["rouge_l"] = am.rouge_l(answer, case.expected)
        out["bleu"] = am.bleu(answer, [case.expected])
        if similarity is not None:
            out["similarity"] = similarity
    if faithful is not None and not refused:
        out["faithfulness"] = faithful
    if judge is not None and not refused:
        out["judge_faithfulness"] = judge
    if case.should_refuse is not None:
        out["refusal_correct"] = float(refused == case.should_refuse)
    if any(a.kind in GUARD_ASSERTS for a in case.asserts):
        out["guardrail_ok"] = float(guard_action in ("block", "redact"))
    if citations:
        ids = set(retrieved_ids)
        out["citations_valid"] = sum(c.get("chunk_id") in ids for c in citations) / len(citations)
    return out


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r, or None with fewer than two pairs or no spread on a side."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    if sx == 0 or sy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (sx * sy)


def judge_agreement(cases: Sequence[dict[str, Any]], cut: float = 0.5) -> dict[str, float]:
    """How far the LLM judge agrees with the deterministic faithfulness metric, over the
    cases both scored: the share where both put the answer on the same side of `cut`
    (supported or not), and Pearson's r of the two scores."""
    pairs = [
        (c["metrics"]["faithfulness"], c["metrics"]["judge_faithfulness"])
        for c in cases
        if "faithfulness" in c["metrics"] and "judge_faithfulness" in c["metrics"]
    ]
    if not pairs:
        return {}
    out = {
        "judge_agreement": sum((d >= cut) == (j >= cut) for d, j in pairs) / len(pairs),
        "judge_pairs": float(len(pairs)),
    }
    r = pearson([d for d, _ in pairs], [j for _, j in pairs])
    if r is not None:
        out["judge_pearson_r"] = r
    return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(0.95 * len(ordered)) - 1)  # nearest rank
    return ordered[rank]


def aggregate(
    cases: Sequence[dict[str, Any]], expected: Mapping[str, str] | None = None
) -> tuple[float, dict[str, float]]:
    """(pass rate, {metric: mean}) over case records (the store's case shape); `expected`
    (case id -> reference answer, for the cases scored against one) adds corpus BLEU."""
    if not cases:
        return 0.0, {}
    pass_rate = sum(bool(c["passed"]) for c in cases) / len(cases)
    sums: dict[str, list[float]] = {}
    for c in cases:
        for name, value in c["metrics"].items():
            sums.setdefault(name, []).append(float(value))
    metrics = {name: sum(v) / len(v) for name, v in sorted(sums.items())}
    for key in ("latency_ms", "ttft_ms", "cost_usd"):
        values = [float(c[key]) for c in cases if c.get(key) is not None]
        if values:
            metrics[key] = sum(values) / len(values)
            if key == "latency_ms":
                metrics["latency_ms_p95"] = _p95(values)
    answered = [c for c in cases if expected and c["id"] in expected]
    if answered and expected:
        metrics["corpus_bleu"] = am.corpus_bleu(
            [c["answer"] or "" for c in answered], [[expected[c["id"]]] for c in answered]
        )
    metrics.update(judge_agreement(cases))
    metrics["cases"] = float(len(cases))
    metrics["errors"] = float(sum(1 for c in cases if c.get("error")))
    return pass_rate, metrics
