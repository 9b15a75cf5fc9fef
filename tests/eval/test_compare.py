"""The comparison of two experiments and the gate on it: cases paired by id, regressions and
fixes, metric deltas, thresholds as `1%` or `0.01`, and costs and latencies gated on a
relative rise."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.eval.compare import compare, gate, parse_threshold, worsening


def exp(exp_id: str, passed: dict[str, bool], **metrics: float) -> dict[str, Any]:
    cases = [
        {"id": i, "passed": p, "metrics": {"token_f1": 1.0 if p else 0.25}, "latency_ms": 10.0}
        for i, p in passed.items()
    ]
    rate = sum(passed.values()) / len(passed)
    return {"id": exp_id, "pass_rate": rate, "metrics": metrics, "cases": cases}


BASE = exp("A", {"a": True, "b": True, "c": False, "d": True}, token_f1=0.8, latency_ms=100.0)


def test_regressions_fixes_and_deltas() -> None:
    cand = exp("B", {"a": True, "b": False, "c": True, "e": True}, token_f1=0.7, latency_ms=150.0)
    cmp = compare(BASE, cand)
    assert cmp["baseline"] == "A" and cmp["candidate"] == "B"
    assert cmp["regressed"] == ["b"] and cmp["fixed"] == ["c"]
    assert cmp["only_baseline"] == ["d"] and cmp["only_candidate"] == ["e"]
    assert cmp["pass_rate"] == {"baseline": 0.75, "candidate": 0.75, "delta": 0.0}
    f1 = cmp["metrics"]["token_f1"]
    assert f1["delta"] == pytest.approx(-0.1) and f1["worse_by"] == pytest.approx(0.1)
    assert cmp["metrics"]["latency_ms"]["worse_by"] == pytest.approx(0.5)  # relative
    b = next(c for c in cmp["cases"] if c["id"] == "b")
    assert b == {
        "id": "b",
        "baseline_passed": True,
        "candidate_passed": False,
        "deltas": {"token_f1": -0.75, "latency_ms": 0.0},
    }


def test_the_gate() -> None:
    worse = exp(
        "B", {"a": True, "b": False, "c": False, "d": True}, token_f1=0.795, latency_ms=100.5
    )
    cmp = compare(BASE, worse)
    failed = gate(cmp, 0.01)
    assert not failed["passed"] and failed["regressed"] == ["b"]
    assert "pass rate dropped 25.00%" in failed["failures"][0]
    assert gate(cmp, 0.25)["passed"]  # exactly at the threshold passes
    watched = gate(cmp, 0.25, ["token_f1", "latency_ms"])
    assert watched["passed"]  # a 0.005 drop and a 0.5 % rise
    strict = gate(cmp, 0.004, ["latency_ms"])
    assert any("latency_ms rose 0.50% (relative)" in f for f in strict["failures"])
    assert not gate(cmp, 0.3, ["faithfulness"])["passed"]  # not in both: cannot be shown


def test_an_improvement_never_fails() -> None:
    better = exp("B", {"a": True, "b": True, "c": True, "d": True}, token_f1=0.9, latency_ms=50.0)
    assert gate(compare(BASE, better), 0.0, ["token_f1", "latency_ms"])["passed"]


@pytest.mark.parametrize(
    ("text", "value"), [("1%", 0.01), ("0.01", 0.01), (" 2.5% ", 0.025), ("0", 0.0), ("100%", 1.0)]
)
def test_thresholds(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "x", "1 %%", "-1%", "150%", "2"])
def test_bad_thresholds(text: str) -> None:
    with pytest.raises(ValueError):
        parse_threshold(text)


def test_worsening_of_a_zero_cost() -> None:
    assert worsening("cost_usd", 0.0, 0.0) == 0.0
    assert worsening("cost_usd", 0.0, 0.01) == float("inf")
    assert worsening("mrr", 0.5, 0.75) == -0.25
