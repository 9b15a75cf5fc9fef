"""Per-case metrics appear only where they mean something; run means, p95 latency, corpus
BLEU and the judge's agreement with the deterministic faithfulness metric."""

from __future__ import annotations

import pytest

from lockgate.eval.dataset import parse_case
from lockgate.eval.scoring import aggregate, case_metrics, judge_agreement, pearson


def test_metrics_of_an_answered_case() -> None:
    case = parse_case(
        {
            "id": "a",
            "input": "q",
            "expected": "thirty days",
            "expected_sources": ["r.md"],
            "should_refuse": False,
        },
        1,
    )
    m = case_metrics(
        case,
        "thirty days",
        False,
        "allow",
        ["x.md", "docs/r.md"],
        [{"chunk_id": 1}, {"chunk_id": 9}],
        {1, 2},
        k=5,
        similarity=0.9,
        faithful=1.0,
    )
    assert m["hit_at_k"] == 1.0 and m["mrr"] == 0.5 and m["recall_at_k"] == 1.0
    assert m["token_f1"] == 1.0 and m["contains"] == 1.0 and m["similarity"] == 0.9
    assert m["refusal_correct"] == 1.0 and m["citations_valid"] == 0.5
    assert "guardrail_ok" not in m and "judge_faithfulness" not in m


def test_a_refusal_case_has_no_answer_metrics() -> None:
    case = parse_case(
        {"id": "r", "input": "q", "expected": "n/a", "should_refuse": True, "assert": ["blocked"]},
        1,
    )
    m = case_metrics(case, "I can't answer that.", True, "block", [], [], set(), k=5, faithful=0.0)
    assert m == {"refusal_correct": 1.0, "guardrail_ok": 1.0, "degraded": 0.0, "extractive": 0.0}


def test_aggregate() -> None:
    cases = [
        {
            "id": str(i),
            "passed": i % 2 == 0,
            "metrics": {"token_f1": i / 10},
            "latency_ms": float(i * 10),
            "ttft_ms": 1.0,
            "cost_usd": 0.001,
            "answer": "a b c d",
            "error": "boom" if i == 3 else None,
        }
        for i in range(1, 21)
    ]
    rate, m = aggregate(cases, {"1": "a b c d"})
    assert rate == 0.5
    assert m["token_f1"] == pytest.approx(1.05)
    assert m["latency_ms"] == pytest.approx(105.0) and m["latency_ms_p95"] == 190.0
    assert m["corpus_bleu"] == pytest.approx(1.0)
    assert m["cases"] == 20 and m["errors"] == 1
    assert aggregate([]) == (0.0, {})


def test_judge_agreement_and_pearson() -> None:
    cases = [
        {"metrics": {"faithfulness": d, "judge_faithfulness": j}}
        for d, j in ((1.0, 0.9), (0.0, 0.2), (0.5, 0.4), (1.0, 1.0))
    ] + [{"metrics": {"faithfulness": 1.0}}]
    out = judge_agreement(cases)
    assert out["judge_pairs"] == 4 and out["judge_agreement"] == 0.75  # 0.5 vs 0.4 disagree
    assert out["judge_pearson_r"] == pytest.approx(pearson([1, 0, 0.5, 1], [0.9, 0.2, 0.4, 1]))
    assert 0.9 < out["judge_pearson_r"] <= 1
    assert pearson([1, 1], [0, 1]) is None and pearson([1], [1]) is None
    assert judge_agreement([{"metrics": {}}]) == {}
